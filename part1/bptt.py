"""Question 1.1 as code: backpropagation through time written out by hand.

The cells of part1/vanilla_rnn.py and part1/lstm.py leave the backward to autograd, as the assignment
asks, and part1/train.py trains them so. This module is the answer to question 1.1 made executable:
the gradients of the last step's loss with respect to every parameter, derived by hand, as one
``autograd.Function`` per cell (``RNNSequence``, ``LSTMSequence``) whose forward runs the whole
sequence without recording a graph and whose backward is the derivation below. ``FastRNN`` and
``FastLSTM`` are the two cells with their forward routed through it: the same parameters and
state dicts, about twice as fast to train on a CPU, which is why the experiments (experiments/) use
them. tests/test_part1_bptt.py checks that they agree with autograd and pass ``gradcheck``.

Notation: a(t) is a pre-activation, L the cross-entropy of the last prediction p(T) = W_ph h(T) +
b_p, and dL/dz the gradient of L with respect to z; * is the element-wise product. The loss sees
only h(T), so the backward starts from dL/dh(T) = W_ph^T dL/dp(T) (autograd hands it over as
``grad_h``) and no step t < T gets a gradient from a prediction of its own. In the code a batch is a
row per example, so W^T v is written ``v @ W``.

Vanilla RNN, a(t) = W_hx x(t) + W_hh h(t-1) + b_h, h(t) = tanh(a(t)). The backward loop does, per
step, from t = T down to 1:

    delta(t) = dL/da(t) = dL/dh(t) * (1 - h(t)^2)        tanh'(a(t)) = 1 - h(t)^2, for all t before
                                                         the loop
    dL/dh(t-1) = W_hh^T dL/da(t)                         the only path from h(t-1) to L

and after it, for all steps at once (one large matmul each, instead of T small ones):

    dL/dW_hh = sum_t dL/da(t) h(t-1)^T,  dL/dW_hx = sum_t dL/da(t) x(t)^T,  dL/db_h = sum_t dL/da(t),
    dL/dx(t) = W_hx^T dL/da(t).

LSTM, with the four pre-activations a_g, a_i, a_f, a_o stacked in ``gates``, g = tanh(a_g),
i = sigmoid(a_i), f = sigmoid(a_f), o = sigmoid(a_o), c(t) = g(t) i(t) + c(t-1) f(t) and
h(t) = tanh(c(t)) o(t). Before the loop, the local derivatives of every step:

    dc(t)/da_g(t) = i (1 - g^2)      dc(t)/da_i(t) = g i (1 - i)      dc(t)/da_f(t) = c(t-1) f (1 - f)
    dh(t)/da_o(t) = tanh(c(t)) o (1 - o)                              dh(t)/dc(t) = o (1 - tanh^2 c(t))

and in the loop, from t = T down to 1 (with dL/dc(T+1) = 0):

    dL/dc(t) = dL/dh(t) * dh(t)/dc(t) + dL/dc(t+1) * f(t+1)      c(t) reaches L through h(t) and c(t+1)
    dL/da_*(t) = dL/dc(t) * dc(t)/da_*(t)    for * = g, i, f;     dL/da_o(t) = dL/dh(t) * dh(t)/da_o(t)
    dL/dh(t-1) = sum over * of W_*h^T dL/da_*(t)                  one matmul with the stacked W_h

after which the weight gradients are the same single matmuls as the RNN's, over the stacked gates.
The Functions return only h(T), the state the palindrome read-out uses. Their inputs are
time-major, x ``(T, B, d)``, so that every step's slice of a buffer is one contiguous block.

One speed detail: the fast path evaluates tanh through the identity tanh(a) = 2 sigmoid(2a) - 1.
On the CPU build of PyTorch this project pins, ``torch.tanh`` of a (128, 128) block costs about five
times ``torch.sigmoid`` (it is evaluated to full precision, the sigmoid is vectorised more
cheaply), and tanh is the one activation a vanilla RNN step has. The factor 2 is folded into the
matmul that produces the pre-activation, so the identity costs two cheap element-wise operations;
the backward uses the undoubled weights, since it differentiates with respect to a(t), not 2a(t).
"""
from __future__ import annotations

import torch
from torch.autograd.function import once_differentiable

from part1.lstm import LSTM
from part1.vanilla_rnn import VanillaRNN


def _tanh_via_sigmoid_(doubled: torch.Tensor) -> torch.Tensor:
    """In place: ``doubled`` holds 2a on entry and tanh(a) = 2 sigmoid(2a) - 1 on exit."""
    return doubled.sigmoid_().mul_(2).sub_(1)


def _flat_input(x: torch.Tensor) -> torch.Tensor:
    T, B, d = x.shape
    return x.reshape(T * B, d)  # (TB, d)


def _input_gradients(ctx, delta: torch.Tensor, X: torch.Tensor, W_x: torch.Tensor,
                     h_prev: torch.Tensor):
    """dL/dx, dL/dW_x, dL/dW_h and dL/db from ``delta`` = dL/da(1..T) ``(T, B, m)``, the inputs
    ``X`` ``(TB, d)`` and ``h_prev`` = h(0..T-1) ``(T, B, n)``."""
    T, B, m = delta.shape
    delta = delta.view(T * B, m)  # (TB, m)
    dx = (delta @ W_x).view(T, B, -1) if ctx.needs_input_grad[0] else None  # W_x^T dL/da(t), (T, B, d)
    dW_x = (X.t() @ delta).t()  # sum_t dL/da(t) x(t)^T, (m, d); X^T delta is faster for a small d
    dW_h = delta.t() @ h_prev.reshape(T * B, -1)  # sum_t dL/da(t) h(t-1)^T, (m, n): one matmul
    return dx, dW_x, dW_h, delta.sum(0)


class RNNSequence(torch.autograd.Function):
    """The fast path: h(T) ``(B, n)`` of the vanilla RNN from x ``(T, B, d)``, W_hx ``(n, d)``,
    W_hh ``(n, n)``, b_h ``(n,)``; backward by hand (module docstring)."""

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
        # dh(t)/da(t) = tanh'(a(t)) = 1 - h(t)^2 for all steps at once; the loop turns it into
        # delta(t) = dL/da(t) in place.
        one = torch.ones((), dtype=H.dtype, device=H.device)
        delta = torch.addcmul(one, H[1:], H[1:], value=-1)  # (T, B, n)
        dh = grad_h.clone()  # dL/dh(T), then dL/dh(t) going back
        for delta_t in reversed(delta.unbind(0)):
            delta_t.mul_(dh)  # dL/da(t) = dL/dh(t) * (1 - h(t)^2)
            torch.mm(delta_t, W_hh, out=dh)  # dL/dh(t-1) = W_hh^T dL/da(t): (B, n) @ (n, n)
        return _input_gradients(ctx, delta, X, W_hx, H[:-1])


class LSTMSequence(torch.autograd.Function):
    """The fast path: h(T) ``(B, n)`` of the LSTM from x ``(T, B, d)`` and the gates' weights
    stacked g, i, f, o: W_x ``(4n, d)``, W_h ``(4n, n)``, b ``(4n,)``; backward by hand (module
    docstring)."""

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
        g, i, f, o = gates.split(n, dim=2)  # the gates' values, (T, B, n) each
        # Local derivatives of every step at once: delta holds dc(t)/da_g(t), dc(t)/da_i(t),
        # dc(t)/da_f(t) and dh(t)/da_o(t); the loop multiplies them by dL/dc(t) or dL/dh(t),
        # turning delta into dL/da(t) in place.
        delta = torch.empty_like(gates)  # (T, B, 4n)
        one = torch.ones((), dtype=gates.dtype, device=gates.device)
        torch.addcmul(one, g, g, value=-1, out=delta[..., :n]).mul_(i)  # g: i (1 - g^2)
        sig = gates[..., n:]
        torch.addcmul(sig, sig, sig, value=-1, out=delta[..., n:])  # s (1 - s) for s = i, f, o
        delta[..., n:2 * n].mul_(g)  # i: g i (1 - i)
        delta[..., 2 * n:3 * n].mul_(C[:-1])  # f: c(t-1) f (1 - f)
        delta[..., 3 * n:].mul_(tanh_C)  # o: tanh(c(t)) o (1 - o)
        dh_dc = torch.addcmul(one, tanh_C, tanh_C, value=-1).mul_(o)  # dh(t)/dc(t), (T, B, n)

        dh = grad_h.clone()  # dL/dh(t), starting at t = T
        dc = torch.zeros_like(dh)  # dL/dc(t+1), then dL/dc(t)
        steps = zip(delta.unbind(0), delta.view(T, B, 4, n)[:, :, :3].unbind(0),
                    delta[..., 3 * n:].unbind(0), dh_dc.unbind(0), f.unbind(0))
        f_next = None  # f(t+1); there is no step T+1
        for delta_t, delta_gif, delta_o, dh_dc_t, f_t in reversed(list(steps)):
            if f_next is not None:
                dc.mul_(f_next)  # dL/dc(t+1) * f(t+1), since c(t+1) = ... + c(t) f(t+1)
            dc.addcmul_(dh, dh_dc_t)  # dL/dc(t) = ... + dL/dh(t) * dh(t)/dc(t)
            delta_gif.mul_(dc.unsqueeze(1))  # dL/da_g, dL/da_i, dL/da_f of step t, (B, 3, n)
            delta_o.mul_(dh)  # dL/da_o(t) = dL/dh(t) * dh(t)/da_o(t)
            torch.mm(delta_t, W_h, out=dh)  # dL/dh(t-1) = W_h^T dL/da(t): (B, 4n) @ (4n, n)
            f_next = f_t
        return _input_gradients(ctx, delta, X, W_x, H[:-1])


class FastRNN(VanillaRNN):
    """The VanillaRNN with its sequence run by ``RNNSequence`` (the hand-written backward)."""

    def forward(self, x, return_states=False):
        if return_states:  # every h(t) as a node of the graph: only the step-by-step form has them
            return super().forward(x, return_states)
        x = (x.unsqueeze(-1) if x.dim() == 2 else x).to(self.W_hx.dtype)  # (B, T, d)
        h = RNNSequence.apply(x.transpose(0, 1), self.W_hx, self.W_hh, self.b_h)  # h(T), (B, n)
        return torch.addmm(self.b_p, h, self.W_ph.t())  # p(T) = W_ph h(T) + b_p


class FastLSTM(LSTM):
    """The LSTM with its sequence run by ``LSTMSequence`` (the hand-written backward)."""

    def forward(self, x, return_states=False):
        if return_states:
            return super().forward(x, return_states)
        x = (x.unsqueeze(-1) if x.dim() == 2 else x).to(self.W_gx.dtype)  # (B, T, d)
        W_x = torch.cat([self.W_gx, self.W_ix, self.W_fx, self.W_ox])  # (4n, d), gates g, i, f, o
        W_h = torch.cat([self.W_gh, self.W_ih, self.W_fh, self.W_oh])  # (4n, n)
        b = torch.cat([self.b_g, self.b_i, self.b_f, self.b_o])  # (4n,)
        h = LSTMSequence.apply(x.transpose(0, 1), W_x, W_h, b)  # h(T), (B, n)
        return torch.addmm(self.b_p, h, self.W_ph.t())  # p(T)


FAST = {"RNN": FastRNN, "LSTM": FastLSTM}  # the cells of part1/train.py's MODELS that have one
