"""Backpropagation through time written out by hand (question 1.1 made executable).

Two forms of each recurrence live here:

* ``rnn_step`` / ``lstm_step``: one step, written as the equations read. The models record these
  with autograd when every h(t) is wanted (``return_hidden=True``, grads_over_time.py) or when
  ``bptt="autograd"``; the tests use them as the reference.
* ``RNNSequence`` / ``LSTMSequence``: the whole sequence as one ``autograd.Function``, the default
  training path. Its forward runs the same equations without recording a graph, writing every step
  into preallocated (T, B, .) buffers, and keeps the activations. Its backward walks the steps in
  reverse doing, per step, only what depends on the next step: the gradient of the pre-activations
  delta(t) and, through the recurrent matrix, dL/dh(t-1). Everything else is done once for all steps:
  the local derivatives of the activations before the loop, and the weight gradients after it as one
  large matmul each,

      dL/dW_hh = sum_t delta(t)^T h(t-1) = delta(1..T)^T h(0..T-1)      ((n x TB) @ (TB x n)),

  instead of T small ones, as fused vendor kernels do. ``tests/test_part1_models.py`` checks both
  Functions with ``gradcheck``, against the step-by-step autograd path and against nn.RNN/nn.LSTM.

The Functions return only h(T), the state the palindrome read-out uses, so the backward starts from
dL/dh(T) alone. Their inputs are time-major, x ``(T, B, d)``, so that every step's slice of a buffer
is one contiguous block.

One speed detail: the fast path evaluates tanh through the identity tanh(a) = 2 sigmoid(2a) - 1.
On the CPU build of PyTorch this project pins, ``torch.tanh`` of a (128, 128) block costs about five
times ``torch.sigmoid`` (it is evaluated to full precision, the sigmoid is vectorised more
cheaply), and tanh is the one activation a vanilla RNN step has. The factor 2 is folded into the
matmul that produces the pre-activation, so the identity costs two cheap element-wise operations.
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
        h(t), c(t) ``(B, n)``.
    """
    n = h.shape[1]
    a = torch.addmm(xw_t, h, W_h_t)  # pre-activations of g, i, f, o, (B, 4n)
    g = torch.tanh(a[:, :n])  # (B, n)
    i, f, o = torch.sigmoid(a[:, n:]).chunk(3, dim=1)  # 3 x (B, n)
    c = g * i + c * f  # c(t)
    return torch.tanh(c) * o, c  # h(t), c(t)


def _tanh_via_sigmoid_(doubled: torch.Tensor) -> torch.Tensor:
    """In place: ``doubled`` holds 2a on entry and tanh(a) = 2 sigmoid(2a) - 1 on exit."""
    return doubled.sigmoid_().mul_(2).sub_(1)


def _flat_input(x: torch.Tensor) -> torch.Tensor:
    T, B, d = x.shape
    return x.reshape(T * B, d)  # (TB, d)


def _input_gradients(ctx, delta: torch.Tensor, X: torch.Tensor, W_x: torch.Tensor,
                     h_prev: torch.Tensor, W_h: torch.Tensor):
    """Gradients of x, W_x, W_h and b from the pre-activation gradients ``delta`` ``(T, B, m)``."""
    T, B, m = delta.shape
    delta = delta.view(T * B, m)  # (TB, m)
    dx = (delta @ W_x).view(T, B, -1) if ctx.needs_input_grad[0] else None  # (T, B, d)
    dW_x = (X.t() @ delta).t()  # (m, d); X^T delta is the faster layout for a small d
    dW_h = delta.t() @ h_prev.reshape(T * B, -1)  # (m, n): one matmul over all steps
    return dx, dW_x, dW_h, delta.sum(0)


class RNNSequence(torch.autograd.Function):
    """h(T) ``(B, n)`` of the vanilla RNN from x ``(T, B, d)``, W_hx ``(n, d)``, W_hh ``(n, n)``, b_h."""

    @staticmethod
    def forward(ctx, x, W_hx, W_hh, b_h):
        T, B, _ = x.shape
        n = W_hh.shape[0]
        X = _flat_input(x)
        # 2 (W_hx x(t) + b_h) for all steps at once; the 2 is the tanh identity's (module docstring).
        xw2 = torch.addmm(b_h, X, W_hx.t(), beta=2, alpha=2).view(T, B, n)  # (T, B, n)
        H = x.new_empty(T + 1, B, n)  # h(0..T)
        H[0].zero_()
        W_hh2_t = (2 * W_hh).t()  # (n, n)
        for xw2_t, h_prev, h in zip(xw2.unbind(0), H.unbind(0), H[1:].unbind(0)):
            torch.addmm(xw2_t, h_prev, W_hh2_t, out=h)  # 2 a(t)
            _tanh_via_sigmoid_(h)  # h(t) = tanh(a(t))
        ctx.save_for_backward(X, W_hx, W_hh, H)
        return H[T]

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_h):
        X, W_hx, W_hh, H = ctx.saved_tensors
        # delta(t) = dL/dh(t) * tanh'(a(t)); the second factor, 1 - h(t)^2, for all steps at once.
        one = torch.ones((), dtype=H.dtype, device=H.device)
        delta = torch.addcmul(one, H[1:], H[1:], value=-1)  # (T, B, n)
        dh = grad_h.clone()  # dL/dh(T), then dL/dh(t) going back
        for delta_t in reversed(delta.unbind(0)):
            delta_t.mul_(dh)  # delta(t)
            torch.mm(delta_t, W_hh, out=dh)  # dL/dh(t-1) = delta(t) W_hh: (B, n) @ (n, n)
        return _input_gradients(ctx, delta, X, W_hx, H[:-1], W_hh)


class LSTMSequence(torch.autograd.Function):
    """h(T) ``(B, n)`` of the LSTM from x ``(T, B, d)`` and the gates' weights stacked g, i, f, o:
    W_x ``(4n, d)``, W_h ``(4n, n)``, b ``(4n,)``."""

    @staticmethod
    def forward(ctx, x, W_x, W_h, b):
        T, B, _ = x.shape
        n = W_h.shape[1]
        X = _flat_input(x)
        # Double the g rows so that one sigmoid serves all four gates (tanh identity, see the top).
        scale = x.new_ones(4 * n, 1)
        scale[:n] = 2
        gates = torch.addmm(b * scale[:, 0], X, (W_x * scale).t()).view(T, B, 4 * n)  # input parts
        W_h2_t = (W_h * scale).t()  # (n, 4n)
        H = x.new_empty(T + 1, B, n)  # h(0..T)
        C = x.new_empty(T + 1, B, n)  # c(0..T)
        H[0].zero_()
        C[0].zero_()
        tanh_C = x.new_empty(T, B, n)  # tanh(c(1..T))
        g_all, i_all, f_all, o_all = gates.split(n, dim=2)  # views, (T, B, n) each
        for a, g, i, f, o, h_prev, c_prev, c, tanh_c, h in zip(
                gates.unbind(0), g_all.unbind(0), i_all.unbind(0), f_all.unbind(0),
                o_all.unbind(0), H.unbind(0), C.unbind(0), C[1:].unbind(0), tanh_C.unbind(0),
                H[1:].unbind(0)):
            a.addmm_(h_prev, W_h2_t)  # pre-activations (g doubled), (B, 4n)
            a.sigmoid_()  # i(t), f(t), o(t)
            g.mul_(2).sub_(1)  # g(t) = tanh(pre-activation)
            torch.mul(g, i, out=c).addcmul_(c_prev, f)  # c(t) = g(t) i(t) + c(t-1) f(t)
            _tanh_via_sigmoid_(torch.mul(c, 2, out=tanh_c))
            torch.mul(tanh_c, o, out=h)  # h(t) = tanh(c(t)) o(t)
        ctx.save_for_backward(X, W_x, W_h, gates, H, C, tanh_C)
        return H[T]

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_h):
        X, W_x, W_h, gates, H, C, tanh_C = ctx.saved_tensors
        T, B, n4 = gates.shape
        n = n4 // 4
        g, i, f, o = gates.split(n, dim=2)
        # Local derivatives of every step at once; the loop below multiplies them by dL/dc(t) or
        # dL/dh(t). delta holds, per gate, d(pre-activation) / d(c(t)) for g, i, f and
        # d(pre-activation) / d(h(t)) for o, until the loop turns it into dL/d(pre-activation).
        delta = torch.empty_like(gates)  # (T, B, 4n)
        one = torch.ones((), dtype=gates.dtype, device=gates.device)
        torch.addcmul(one, g, g, value=-1, out=delta[..., :n]).mul_(i)  # g: i tanh' = i (1 - g^2)
        sig = gates[..., n:]
        torch.addcmul(sig, sig, sig, value=-1, out=delta[..., n:])  # sigmoid' = s - s^2 of i, f, o
        delta[..., n:2 * n].mul_(g)  # i: g sigmoid'
        delta[..., 2 * n:3 * n].mul_(C[:-1])  # f: c(t-1) sigmoid'
        delta[..., 3 * n:].mul_(tanh_C)  # o: tanh(c) sigmoid'
        dc_dh = torch.addcmul(one, tanh_C, tanh_C, value=-1).mul_(o)  # dc(t)/dh(t), (T, B, n)

        dh = grad_h.clone()  # dL/dh(t), starting at t = T
        dc = torch.zeros_like(dh)  # dL/dc(t) from later steps, through their forget gates
        steps = zip(delta.unbind(0), delta.view(T, B, 4, n)[:, :, :3].unbind(0),
                    delta[..., 3 * n:].unbind(0), dc_dh.unbind(0), f.unbind(0))
        f_next = None
        for delta_t, delta_gif, delta_o, dc_dh_t, f_t in reversed(list(steps)):
            if f_next is not None:
                dc.mul_(f_next)  # c(t+1) = ... + c(t) f(t+1)
            dc.addcmul_(dh, dc_dh_t)  # dL/dc(t)
            delta_gif.mul_(dc.unsqueeze(1))  # dL/d(pre-activations of g, i, f), (B, 3, n)
            delta_o.mul_(dh)  # dL/d(pre-activation of o)
            torch.mm(delta_t, W_h, out=dh)  # dL/dh(t-1) = delta(t) W_h: (B, 4n) @ (4n, n)
            f_next = f_t
        return _input_gradients(ctx, delta, X, W_x, H[:-1], W_h)
