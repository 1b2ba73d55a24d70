"""Backpropagation through time written out by hand (question 1.1 made executable).

Each recurrence is an ``autograd.Function`` over the whole sequence. Its forward runs the same step
function the models use (so the equations exist once) without recording an autograd graph, and keeps
the activations the backward needs. Its backward walks the steps in reverse and computes, per step,
only what depends on the next step: the gradient of the pre-activations and, through W_hh, of
h(t-1). The weight gradient is one large matmul over all steps after the loop,

    dL/dW_hh = sum_t  delta(t)^T h(t-1)   = delta(1..T)^T  h(0..T-1)       ((n x BT) @ (BT x n))

instead of T small ones, as fused vendor kernels do. ``tests/test_part1_models.py`` checks it with
``gradcheck`` and against autograd through the reference loop.

The Functions return only h(T), the state the palindrome read-out uses, so the backward starts from
dL/dh(T) alone; models that need every h(t) (grads_over_time.py) record the same step functions with
autograd instead. Per step the backward issues a handful of fused element-wise kernels
(``tanh_backward``, ``sigmoid_backward``) writing into preallocated slices, and one matmul.
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
        h(t), c(t) ``(B, n)``, and what the backward needs: g(t) ``(B, n)``, the sigmoid gates
        [i, f, o](t) ``(B, 3n)`` and tanh(c(t)) ``(B, n)``.
    """
    n = h.shape[1]
    a = torch.addmm(xw_t, h, W_h_t)  # pre-activations of g, i, f, o, (B, 4n)
    g = torch.tanh(a[:, :n])  # (B, n)
    ifo = torch.sigmoid(a[:, n:])  # (B, 3n)
    i, f, o = ifo.chunk(3, dim=1)
    c = torch.addcmul(g * i, c, f)  # c(t) = g(t) i(t) + c(t-1) f(t)
    tanh_c = torch.tanh(c)
    return tanh_c * o, c, g, ifo, tanh_c


class RNNRecurrence(torch.autograd.Function):
    """h(T) ``(B, n)`` from ``xw = W_hx x + b_h`` ``(B, T, n)`` and W_hh ``(n, n)``."""

    @staticmethod
    def forward(ctx, xw: torch.Tensor, W_hh: torch.Tensor) -> torch.Tensor:
        B, T, n = xw.shape
        hs = [xw.new_zeros(B, n)]  # h(0..T), h(0) = 0
        W_hh_t = W_hh.t()
        for xw_t in xw.unbind(1):
            hs.append(rnn_step(xw_t, hs[-1], W_hh_t))
        ctx.save_for_backward(W_hh, *hs)
        return hs[-1]

    @staticmethod
    @once_differentiable
    def backward(ctx, dh: torch.Tensor):
        W_hh, *hs = ctx.saved_tensors
        T, (B, n) = len(hs) - 1, hs[0].shape
        delta = dh.new_empty(T, B, n)  # dL/d(pre-activation) at every step
        for t in range(T - 1, -1, -1):  # dh is the total dL/dh(t+1) here
            torch.ops.aten.tanh_backward.grad_input(dh, hs[t + 1], grad_input=delta[t])
            dh = delta[t] @ W_hh  # to h(t): (B, n) @ (n, n)
        h_prev = torch.stack(hs[:-1])  # h(0..T-1), (T, B, n)
        dW_hh = delta.reshape(T * B, n).t() @ h_prev.reshape(T * B, n)  # (n, n), one matmul
        return delta.transpose(0, 1), dW_hh


class LSTMRecurrence(torch.autograd.Function):
    """h(T) ``(B, n)`` from ``xw`` ``(B, T, 4n)`` (input parts of g, i, f, o) and the stacked W_h."""

    @staticmethod
    def forward(ctx, xw: torch.Tensor, W_h: torch.Tensor) -> torch.Tensor:
        B, T, n4 = xw.shape
        h = c = xw.new_zeros(B, n4 // 4)  # h(0) = c(0) = 0
        W_h_t = W_h.t()
        hs, cs, saved = [h], [c], []
        for xw_t in xw.unbind(1):
            h, c, g, ifo, tanh_c = lstm_step(xw_t, h, c, W_h_t)
            hs.append(h)
            cs.append(c)
            saved += [g, ifo, tanh_c]
        ctx.T = T
        ctx.save_for_backward(W_h, *hs[:-1], *cs[:-1], *saved)
        return h

    @staticmethod
    @once_differentiable
    def backward(ctx, dh: torch.Tensor):
        T = ctx.T
        W_h, rest = ctx.saved_tensors[0], ctx.saved_tensors[1:]
        h_prev, c_prev, saved = rest[:T], rest[T:2 * T], rest[2 * T:]
        B, n = dh.shape
        delta = dh.new_empty(T, B, 4 * n)  # dL/d(pre-activations of g, i, f, o), per step
        dc = torch.zeros_like(dh)  # dL/dc(t) arriving through the forget gate of step t+1
        for t in range(T - 1, -1, -1):  # dh is the total dL/dh(t) of this step here
            g, ifo, tanh_c = saved[3 * t: 3 * t + 3]
            i, f, o = ifo.chunk(3, dim=1)
            d = delta[t]
            dc = dc + torch.ops.aten.tanh_backward(dh * o, tanh_c)  # h = tanh(c) o
            torch.mul(dc, g, out=d[:, n:2 * n])  # dL/di
            torch.mul(dc, c_prev[t], out=d[:, 2 * n:3 * n])  # dL/df
            torch.mul(dh, tanh_c, out=d[:, 3 * n:])  # dL/do
            torch.ops.aten.sigmoid_backward.grad_input(d[:, n:], ifo, grad_input=d[:, n:])
            torch.ops.aten.tanh_backward.grad_input(dc * i, g, grad_input=d[:, :n])  # dL/dg
            dc = dc * f  # to c(t-1)
            dh = d @ W_h  # to h(t-1): (B, 4n) @ (4n, n)
        h_all = torch.stack(h_prev)  # h(0..T-1), (T, B, n)
        dW_h = delta.reshape(T * B, 4 * n).t() @ h_all.reshape(T * B, n)  # (4n, n), one matmul
        return delta.transpose(0, 1), dW_h
