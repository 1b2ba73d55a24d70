"""A gated recurrent unit written from its equations (no nn.GRU, nn.GRUCell or nn.Linear).

    z(t) = sigmoid(W_zx x(t) + W_zh h(t-1) + b_z)            update gate
    r(t) = sigmoid(W_rx x(t) + W_rh h(t-1) + b_r)            reset gate
    g(t) = tanh   (W_gx x(t) + r(t) * (W_gh h(t-1)) + b_g)   candidate state
    h(t) = (1 - z(t)) * g(t) + z(t) * h(t-1)                 hidden state, h(0) = 0
    p(t) = W_ph h(t) + b_p                                   logits (the softmax is in the loss)

The reset gate multiplies W_gh h(t-1) after the matmul, as nn.GRU does (Cho et al., 2014 put it
before): nn.GRU with our weights and b_hr = b_hz = b_hn = 0 computes the same h(t).
"""
from __future__ import annotations

import math

import torch
from torch import nn


class GRU(nn.Module):
    """GRU with a linear read-out of the last hidden state.

    Parameters (output x input): W_zx, W_rx, W_gx (n x d); W_zh, W_rh, W_gh (n x n); b_z, b_r, b_g
    (n); W_ph (K x n); b_p (K). Matrices start U(+-1/sqrt(n)) as in nn.GRU, biases at 0.
    """

    def __init__(self, seq_length, input_dim, num_hidden, num_classes, device="cpu"):
        super().__init__()
        self.seq_length, self.input_dim, self.num_hidden = seq_length, input_dim, num_hidden
        n, d, K, bound = num_hidden, input_dim, num_classes, 1 / math.sqrt(num_hidden)
        for gate in "zrg":
            setattr(self, f"W_{gate}x", nn.Parameter(torch.empty(n, d, device=device).uniform_(-bound, bound)))
            setattr(self, f"W_{gate}h", nn.Parameter(torch.empty(n, n, device=device).uniform_(-bound, bound)))
            setattr(self, f"b_{gate}", nn.Parameter(torch.zeros(n, device=device)))
        self.W_ph = nn.Parameter(torch.empty(K, n, device=device).uniform_(-bound, bound))
        self.b_p = nn.Parameter(torch.zeros(K, device=device))

    def forward(self, x, return_states=False):
        """x: ``(B, T, d)``, or ``(B, T)`` when d == 1. Returns p(T) ``(B, K)``; with
        ``return_states`` also ``{"h": [h(1), ..., h(T)]}``, nodes of the graph."""
        x = (x.unsqueeze(-1) if x.dim() == 2 else x).to(self.W_gx.dtype)  # (B, T, d)
        h = x.new_zeros(x.shape[0], self.num_hidden)  # h(0), (B, n)
        hs = []
        for x_t in x.unbind(1):  # x(t), (B, d)
            z = torch.sigmoid(x_t @ self.W_zx.T + h @ self.W_zh.T + self.b_z)
            r = torch.sigmoid(x_t @ self.W_rx.T + h @ self.W_rh.T + self.b_r)
            g = torch.tanh(x_t @ self.W_gx.T + r * (h @ self.W_gh.T) + self.b_g)
            h = (1 - z) * g + z * h
            hs.append(h)
        p = h @ self.W_ph.T + self.b_p  # p(T), (B, K)
        return (p, {"h": hs}) if return_states else p
