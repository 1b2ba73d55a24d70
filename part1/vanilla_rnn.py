"""A vanilla RNN written from its equations (no nn.RNN, nn.RNNCell or nn.Linear).

    h(t) = tanh(W_hx x(t) + W_hh h(t-1) + b_h),      h(0) = 0
    p(t) = W_ph h(t) + b_p
    y_hat(t) = softmax(p(t))                         (the softmax lives in the cross-entropy loss)

Only the last step's logits p(T) are returned: the palindrome task is scored on the final digit.
Autograd does the backward through time; part1/bptt.py writes it out by hand (question 1.1).
"""
from __future__ import annotations

import math

import torch
from torch import nn


class VanillaRNN(nn.Module):
    """Elman RNN with a linear read-out of the last hidden state.

    Parameters are named and shaped as in the equations (output x input): W_hx (n x d), W_hh (n x n),
    b_h (n), W_ph (K x n), b_p (K). Matrices start as PyTorch's nn.RNN does, U(+-1/sqrt(n)), biases
    at 0. ``recurrent_init="orthogonal"`` (the default) makes W_hh a random orthogonal matrix: all its
    singular values are 1, so repeated multiplication neither shrinks nor blows up h, which is what
    carrying a digit over many steps needs (Saxe et al., 2014); ``"uniform"`` keeps nn.RNN's choice.
    """

    def __init__(self, seq_length, input_dim, num_hidden, num_classes, device="cpu",
                 recurrent_init="orthogonal"):
        super().__init__()
        self.seq_length, self.input_dim, self.num_hidden = seq_length, input_dim, num_hidden
        n, d, K, bound = num_hidden, input_dim, num_classes, 1 / math.sqrt(num_hidden)
        self.W_hx = nn.Parameter(torch.empty(n, d, device=device).uniform_(-bound, bound))
        W_hh = torch.empty(n, n, device=device)
        self.W_hh = nn.Parameter(nn.init.orthogonal_(W_hh) if recurrent_init == "orthogonal"
                                 else W_hh.uniform_(-bound, bound))
        self.b_h = nn.Parameter(torch.zeros(n, device=device))
        self.W_ph = nn.Parameter(torch.empty(K, n, device=device).uniform_(-bound, bound))
        self.b_p = nn.Parameter(torch.zeros(K, device=device))

    def forward(self, x, return_states=False):
        """x: ``(B, T, d)``, or ``(B, T)`` when d == 1. Returns p(T) ``(B, K)``; with
        ``return_states`` also ``{"h": [h(1), ..., h(T)]}``, nodes of the graph (question 1.7)."""
        x = (x.unsqueeze(-1) if x.dim() == 2 else x).to(self.W_hx.dtype)  # (B, T, d)
        h = x.new_zeros(x.shape[0], self.num_hidden)  # h(0), (B, n)
        hs = []
        for x_t in x.unbind(1):  # x(t), (B, d)
            h = torch.tanh(x_t @ self.W_hx.T + h @ self.W_hh.T + self.b_h)
            hs.append(h)
        p = h @ self.W_ph.T + self.b_p  # p(T), (B, K)
        return (p, {"h": hs}) if return_states else p
