"""Backpropagation through time written out by hand (question 1.1 made executable).

Each recurrence is an ``autograd.Function`` over the whole sequence. Its forward runs the same step
function the models use (so the equations exist once) without recording an autograd graph, and keeps
the activations the backward needs. Its backward walks the steps in reverse and computes, per step,
only what depends on the next step: the gradient of the pre-activations and, through W_hh, of
h(t-1). The weight gradient is one large matmul over all steps after the loop,

    dL/dW_hh = sum_t  delta(t)^T h(t-1)   = delta(1..T)^T  h(0..T-1)       ((n x BT) @ (BT x n))

instead of T small ones, as fused vendor kernels do. ``tests/test_part1_models.py`` checks it with
``gradcheck`` and against autograd through the reference loop.

Layout: sequences are ``(B, T, .)``; internally ``(T, B, .)`` so that a step is a contiguous slice.
"""
from __future__ import annotations

import torch
from torch.autograd.function import once_differentiable


def rnn_step(xw_t: torch.Tensor, h: torch.Tensor, W_hh_t: torch.Tensor) -> torch.Tensor:
    """h(t) = tanh(W_hx x(t) + b_h + W_hh h(t-1)), with ``xw_t = W_hx x(t) + b_h`` ``(B, n)``."""
    return torch.tanh(torch.addmm(xw_t, h, W_hh_t))


def lstm_step(xw_t: torch.Tensor, h: torch.Tensor, c: torch.Tensor, W_h_t: torch.Tensor):
    """One LSTM step for the stacked gates g, i, f, o.

    Args:
        xw_t: ``(B, 4n)`` the input part W_*x x(t) + b_* of the four gates.
        h, c: ``(B, n)`` h(t-1) and c(t-1).
        W_h_t: ``(n, 4n)`` the transposed stack of W_gh, W_ih, W_fh, W_oh.

    Returns:
        h(t), c(t) and the gate activations ``(B, 4n)`` = [g, i, f, o].
    """
    n = h.shape[1]
    a = torch.addmm(xw_t, h, W_h_t)  # pre-activations, (B, 4n)
    gates = torch.cat([torch.tanh(a[:, :n]), torch.sigmoid(a[:, n:])], dim=1)  # (B, 4n)
    g, i, f, o = gates.chunk(4, dim=1)
    c = g * i + c * f
    h = torch.tanh(c) * o
    return h, c, gates


class RNNRecurrence(torch.autograd.Function):
    """All hidden states H = h(1..T) ``(B, T, n)`` from ``xw = W_hx x + b_h`` ``(B, T, n)`` and W_hh."""

    @staticmethod
    def forward(ctx, xw: torch.Tensor, W_hh: torch.Tensor) -> torch.Tensor:
        B, T, n = xw.shape
        hs = xw.new_zeros(T + 1, B, n)  # h(0..T), h(0) = 0
        W_hh_t = W_hh.t()
        for t, xw_t in enumerate(xw.unbind(1)):
            hs[t + 1] = rnn_step(xw_t, hs[t], W_hh_t)
        ctx.save_for_backward(W_hh, hs)
        return hs[1:].transpose(0, 1)  # (B, T, n)

    @staticmethod
    @once_differentiable
    def backward(ctx, dH: torch.Tensor):
        W_hh, hs = ctx.saved_tensors
        T, B, n = hs.shape[0] - 1, hs.shape[1], hs.shape[2]
        dH = dH.transpose(0, 1)  # (T, B, n)
        delta = torch.empty_like(hs[1:])  # dL/d(pre-activation) per step, (T, B, n)
        dh = torch.zeros_like(hs[0])  # dL/dh(t) arriving from step t+1, (B, n)
        for t in range(T - 1, -1, -1):
            dh = dh + dH[t]  # total dL/dh(t+1) (hs is shifted by one)
            h = hs[t + 1]
            torch.mul(dh, 1 - h * h, out=delta[t])  # through tanh: tanh' = 1 - h^2
            dh = delta[t] @ W_hh  # to h(t): (B, n) @ (n, n)
        dW_hh = delta.reshape(T * B, n).t() @ hs[:-1].reshape(T * B, n)  # (n, n), one matmul
        return delta.transpose(0, 1), dW_hh


class LSTMRecurrence(torch.autograd.Function):
    """All hidden states H = h(1..T) ``(B, T, n)`` from ``xw`` ``(B, T, 4n)`` and the stacked W_h."""

    @staticmethod
    def forward(ctx, xw: torch.Tensor, W_h: torch.Tensor) -> torch.Tensor:
        B, T, n4 = xw.shape
        n = n4 // 4
        hs = xw.new_zeros(T + 1, B, n)  # h(0..T)
        cs = xw.new_zeros(T + 1, B, n)  # c(0..T)
        gates = xw.new_empty(T, B, n4)  # [g, i, f, o](1..T)
        W_h_t = W_h.t()
        for t, xw_t in enumerate(xw.unbind(1)):
            hs[t + 1], cs[t + 1], gates[t] = lstm_step(xw_t, hs[t], cs[t], W_h_t)
        ctx.save_for_backward(W_h, hs, cs, gates)
        return hs[1:].transpose(0, 1)  # (B, T, n)

    @staticmethod
    @once_differentiable
    def backward(ctx, dH: torch.Tensor):
        W_h, hs, cs, gates = ctx.saved_tensors
        T, B, n = hs.shape[0] - 1, hs.shape[1], hs.shape[2]
        dH = dH.transpose(0, 1)  # (T, B, n)
        delta = torch.empty_like(gates)  # dL/d(pre-activations of g, i, f, o), (T, B, 4n)
        dh = torch.zeros_like(hs[0])  # from step t+1 through W_h, (B, n)
        dc = torch.zeros_like(cs[0])  # from step t+1 through the forget gate, (B, n)
        for t in range(T - 1, -1, -1):
            dh = dh + dH[t]  # total dL/dh(t+1)
            g, i, f, o = gates[t].chunk(4, dim=1)
            tanh_c = torch.tanh(cs[t + 1])
            dc = dc + dh * o * (1 - tanh_c * tanh_c)  # h = tanh(c) * o
            d = delta[t]
            torch.mul(dc * i, 1 - g * g, out=d[:, :n])  # g = tanh(.),  c = g * i + ...
            ifo = gates[t, :, n:]
            d_ifo = torch.cat([dc * g, dc * cs[t], dh * tanh_c], dim=1)  # dL/di, dL/df, dL/do
            torch.mul(d_ifo, ifo * (1 - ifo), out=d[:, n:])  # sigmoid' = s (1 - s)
            dc = dc * f  # to c(t-1)
            dh = d @ W_h  # to h(t-1): (B, 4n) @ (4n, n)
        dW_h = delta.reshape(T * B, 4 * n).t() @ hs[:-1].reshape(T * B, n)  # (4n, n), one matmul
        return delta.transpose(0, 1), dW_h
