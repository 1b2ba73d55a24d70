"""A long short-term memory network written from its equations (no nn.LSTM, nn.LSTMCell, nn.Linear).

    g(t) = tanh   (W_gx x(t) + W_gh h(t-1) + b_g)     candidate cell input
    i(t) = sigmoid(W_ix x(t) + W_ih h(t-1) + b_i)     input gate
    f(t) = sigmoid(W_fx x(t) + W_fh h(t-1) + b_f)     forget gate
    o(t) = sigmoid(W_ox x(t) + W_oh h(t-1) + b_o)     output gate
    c(t) = g(t) * i(t) + c(t-1) * f(t)                 cell state,   c(0) = 0
    h(t) = tanh(c(t)) * o(t)                           hidden state, h(0) = 0
    p(t) = W_ph h(t) + b_p                             logits (the softmax is in the loss)

Autograd does the backward through time; part1/bptt.py writes it out by hand (question 1.1).
"""
from __future__ import annotations

import math

import torch
from torch import nn


class LSTM(nn.Module):
    """LSTM with a linear read-out of the last hidden state.

    Parameters (output x input): W_gx, W_ix, W_fx, W_ox (n x d); W_gh, W_ih, W_fh, W_oh (n x n);
    b_g, b_i, b_f, b_o (n); W_ph (K x n); b_p (K). Matrices start U(+-1/sqrt(n)) as in nn.LSTM,
    biases at 0 except b_f = ``forget_bias``: with b_f = 0 the forget gate starts at 0.5 and the cell
    halves its content each step (Gers et al., 2000). ``chrono=True`` replaces it with chrono
    initialisation (Tallec & Ollivier, 2018), b_f ~ log U(1, T-1) and b_i = -b_f, so the cells start
    with memory time scales spread up to the sequence length T = ``seq_length``.
    """

    def __init__(self, seq_length, input_dim, num_hidden, num_classes, device="cpu",
                 forget_bias=1.0, chrono=False):
        super().__init__()
        self.seq_length, self.input_dim, self.num_hidden = seq_length, input_dim, num_hidden
        n, d, K, bound = num_hidden, input_dim, num_classes, 1 / math.sqrt(num_hidden)
        for gate in "gifo":
            setattr(self, f"W_{gate}x", nn.Parameter(torch.empty(n, d, device=device).uniform_(-bound, bound)))
            setattr(self, f"W_{gate}h", nn.Parameter(torch.empty(n, n, device=device).uniform_(-bound, bound)))
            setattr(self, f"b_{gate}", nn.Parameter(torch.zeros(n, device=device)))
        self.W_ph = nn.Parameter(torch.empty(K, n, device=device).uniform_(-bound, bound))
        self.b_p = nn.Parameter(torch.zeros(K, device=device))
        with torch.no_grad():
            if chrono:
                self.b_f.copy_(torch.log(torch.empty(n).uniform_(1, max(seq_length - 1, 2))))
                self.b_i.copy_(-self.b_f)
            else:
                self.b_f.fill_(forget_bias)

    def forward(self, x, return_states=False):
        """x: ``(B, T, d)``, or ``(B, T)`` when d == 1. Returns p(T) ``(B, K)``; with
        ``return_states`` also ``{"h": [h(1..T)], "c": [c(1..T)]}``, nodes of the graph."""
        x = (x.unsqueeze(-1) if x.dim() == 2 else x).to(self.W_gx.dtype)  # (B, T, d)
        h = x.new_zeros(x.shape[0], self.num_hidden)  # h(0), (B, n)
        c = torch.zeros_like(h)  # c(0), (B, n)
        hs, cs = [], []
        for x_t in x.unbind(1):  # x(t), (B, d)
            g = torch.tanh(x_t @ self.W_gx.T + h @ self.W_gh.T + self.b_g)
            i = torch.sigmoid(x_t @ self.W_ix.T + h @ self.W_ih.T + self.b_i)
            f = torch.sigmoid(x_t @ self.W_fx.T + h @ self.W_fh.T + self.b_f)
            o = torch.sigmoid(x_t @ self.W_ox.T + h @ self.W_oh.T + self.b_o)
            c = g * i + c * f
            h = torch.tanh(c) * o
            hs.append(h)
            cs.append(c)
        p = h @ self.W_ph.T + self.b_p  # p(T), (B, K)
        return (p, {"h": hs, "c": cs}) if return_states else p
