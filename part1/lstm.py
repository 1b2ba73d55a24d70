"""A long short-term memory network written from its equations (no nn.LSTM, nn.LSTMCell, nn.Linear).

    g(t) = tanh   (W_gx x(t) + W_gh h(t-1) + b_g)     candidate cell input
    i(t) = sigmoid(W_ix x(t) + W_ih h(t-1) + b_i)     input gate
    f(t) = sigmoid(W_fx x(t) + W_fh h(t-1) + b_f)     forget gate
    o(t) = sigmoid(W_ox x(t) + W_oh h(t-1) + b_o)     output gate
    c(t) = g(t) * i(t) + c(t-1) * f(t)                 cell state,   c(0) = 0
    h(t) = tanh(c(t)) * o(t)                           hidden state, h(0) = 0
    p(t) = W_ph h(t) + b_p                             logits (softmax is in the loss)

For speed the four gates are evaluated together: per forward the four input matrices, the four
recurrent matrices and the four biases are stacked once, the input projection of all T steps is one
matmul outside the loop, and each step does a single (B, n) x (n, 4n) matmul. The parameters keep
their equation names and shapes; stacking happens once per forward. By default the sequence runs
inside ``LSTMSequence`` (part1/bptt.py), whose backward through time is written out by hand; with
``return_hidden=True`` or ``bptt="autograd"`` the step function ``lstm_step`` is recorded by autograd
instead.
"""
from __future__ import annotations

import torch
from torch import nn

from part1.bptt import LSTMSequence, lstm_step
from part1.initialisation import as_sequence, init_matrix

GATES = ("g", "i", "f", "o")


class LSTM(nn.Module):
    """LSTM with a linear read-out of the last hidden state.

    Args:
        seq_length: the palindrome input length T the model is built for (any T is accepted;
            chrono initialisation uses it as the longest dependency to expect).
        input_dim: d, 1 or 10.  num_hidden: n.  num_classes: K.  device: where parameters live.
        init: ``uniform`` (PyTorch's default, U(+-1/sqrt(n))) or ``glorot`` for every matrix.
        forget_bias: constant initial value of b_f (1.0 by default: with b_f = 0 the forget gate
            starts at 0.5, so the cell halves its content each step and the first digit is gone after
            a few steps; Gers et al., 2000; Jozefowicz et al., 2015).
        chrono: if True, ignore ``forget_bias`` and use chrono initialisation (Tallec & Ollivier,
            2018): b_f ~ log(U(1, T-1)) and b_i = -b_f, so the cells start with memory time scales
            spread up to the sequence length.
        bptt: ``manual`` runs the sequence as one autograd Function whose backward through time is
            written out by hand (part1/bptt.py, faster); ``autograd`` records every step.

    Parameters (output x input): W_gx, W_ix, W_fx, W_ox (n x d); W_gh, W_ih, W_fh, W_oh (n x n);
    b_g, b_i, b_f, b_o (n); W_ph (K x n); b_p (K).
    """

    def __init__(self, seq_length: int, input_dim: int, num_hidden: int, num_classes: int,
                 device="cpu", init: str = "uniform", forget_bias: float = 1.0,
                 chrono: bool = False, bptt: str = "manual") -> None:
        super().__init__()
        self.seq_length, self.input_dim = seq_length, input_dim
        self.num_hidden, self.num_classes = num_hidden, num_classes
        self.init, self.forget_bias, self.chrono, self.bptt = init, forget_bias, chrono, bptt
        n, d, K = num_hidden, input_dim, num_classes
        for gate in GATES:
            setattr(self, f"W_{gate}x", nn.Parameter(torch.empty(n, d, device=device)))
            setattr(self, f"W_{gate}h", nn.Parameter(torch.empty(n, n, device=device)))
            setattr(self, f"b_{gate}", nn.Parameter(torch.empty(n, device=device)))
        self.W_ph = nn.Parameter(torch.empty(K, n, device=device))
        self.b_p = nn.Parameter(torch.empty(K, device=device))
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        n = self.num_hidden
        for gate in GATES:
            init_matrix(getattr(self, f"W_{gate}x"), self.init, n)
            init_matrix(getattr(self, f"W_{gate}h"), self.init, n)
            getattr(self, f"b_{gate}").zero_()
        init_matrix(self.W_ph, self.init, n)
        self.b_p.zero_()
        if self.chrono:
            t_max = max(self.seq_length - 1, 2)
            self.b_f.copy_(torch.log(torch.empty(n).uniform_(1, t_max)))
            self.b_i.copy_(-self.b_f)
        else:
            self.b_f.fill_(self.forget_bias)

    def stacked(self):
        """The gates' weights stacked in the order g, i, f, o: (4n x d), (4n x n), (4n)."""
        W_x = torch.cat([self.W_gx, self.W_ix, self.W_fx, self.W_ox])  # (4n, d)
        W_h = torch.cat([self.W_gh, self.W_ih, self.W_fh, self.W_oh])  # (4n, n)
        b = torch.cat([self.b_g, self.b_i, self.b_f, self.b_o])  # (4n,)
        return W_x, W_h, b

    def forward(self, x: torch.Tensor, return_hidden: bool = False):
        """Run the recurrence over all T steps.

        Args:
            x: ``(B, T, d)`` floats, or ``(B, T)`` when d == 1.
            return_hidden: also return the list of the T hidden states h(1..T), each ``(B, n)``,
                nodes of the autograd graph (for dL/dh(t) in grads_over_time.py).

        Returns:
            p(T), the logits of the last step ``(B, K)`` (and the hidden states if asked).
        """
        x = as_sequence(x, self.input_dim).to(self.W_gx.dtype)  # (B, T, d)
        n = self.num_hidden
        W_x, W_h, b = self.stacked()
        if not (return_hidden or self.bptt == "autograd"):
            h = LSTMSequence.apply(x.transpose(0, 1), W_x, W_h, b)  # h(T), (B, n)
            return torch.addmm(self.b_p, h, self.W_ph.t())  # p(T), (B, K)
        # W_*x x(t) + b_* for all four gates and all T steps in one matmul.
        xw = torch.matmul(x, W_x.t()) + b  # (B, T, 4n)
        h = xw.new_zeros(x.shape[0], n)  # h(0) = 0, (B, n)
        c = torch.zeros_like(h)  # c(0) = 0, (B, n)
        W_h_t = W_h.t()  # (n, 4n)
        hidden = []
        # unbind, not xw[:, t]: indexing makes the backward build a full-size zero tensor per step
        for xw_t in xw.unbind(1):
            h, c = lstm_step(xw_t, h, c, W_h_t)  # h(t), c(t): (B, n)
            hidden.append(h)
        p = torch.addmm(self.b_p, h, self.W_ph.t())  # p(T), (B, K)
        return (p, hidden) if return_hidden else p
