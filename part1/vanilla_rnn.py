"""A vanilla RNN written from its equations (no nn.RNN, nn.RNNCell or nn.Linear).

    h(t) = tanh(W_hx x(t) + W_hh h(t-1) + b_h),      h(0) = 0
    p(t) = W_ph h(t) + b_p
    y_hat(t) = softmax(p(t))                         (the softmax lives in the cross-entropy loss)

Only the last step's logits p(T) are returned: the palindrome task is scored on the final digit.
The input projection W_hx x(t) + b_h of all steps is one matmul outside the loop. By default the loop
runs inside ``RNNSequence`` (part1/bptt.py), whose backward through time is written out by hand;
with ``return_hidden=True`` or ``bptt="autograd"`` the step function ``rnn_step`` is recorded by
autograd.
"""
from __future__ import annotations

import torch
from torch import nn

from part1.bptt import RNNSequence, rnn_step
from part1.initialisation import as_sequence, init_matrix


class VanillaRNN(nn.Module):
    """Elman RNN with a linear read-out of the last hidden state.

    Args:
        seq_length: the palindrome input length T the model is built for (any T is accepted).
        input_dim: d, 1 (a digit as a number) or 10 (one-hot).
        num_hidden: n, the size of h(t).
        num_classes: K, the number of output classes (10 digits).
        device: where the parameters live.
        init: ``uniform`` (PyTorch's default, U(+-1/sqrt(n))) or ``glorot`` for every matrix.
        recurrent_init: ``same`` as ``init`` or ``orthogonal`` for W_hh.
        bptt: ``manual`` runs the sequence as one autograd Function whose backward through time is
            written out by hand (part1/bptt.py, faster); ``autograd`` records every step.

    Parameters are named and shaped as in the equations (output x input): W_hx (n x d),
    W_hh (n x n), W_ph (K x n), b_h (n), b_p (K).
    """

    def __init__(self, seq_length: int, input_dim: int, num_hidden: int, num_classes: int,
                 device="cpu", init: str = "uniform", recurrent_init: str = "orthogonal",
                 bptt: str = "manual") -> None:
        super().__init__()
        self.seq_length, self.input_dim = seq_length, input_dim
        self.num_hidden, self.num_classes = num_hidden, num_classes
        self.init, self.recurrent_init, self.bptt = init, recurrent_init, bptt
        n, d, K = num_hidden, input_dim, num_classes
        self.W_hx = nn.Parameter(torch.empty(n, d, device=device))
        self.W_hh = nn.Parameter(torch.empty(n, n, device=device))
        self.b_h = nn.Parameter(torch.empty(n, device=device))
        self.W_ph = nn.Parameter(torch.empty(K, n, device=device))
        self.b_p = nn.Parameter(torch.empty(K, device=device))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        n = self.num_hidden
        init_matrix(self.W_hx, self.init, n)
        init_matrix(self.W_hh, self.init if self.recurrent_init == "same" else self.recurrent_init, n)
        init_matrix(self.W_ph, self.init, n)
        nn.init.zeros_(self.b_h)
        nn.init.zeros_(self.b_p)

    def forward(self, x: torch.Tensor, return_hidden: bool = False):
        """Run the recurrence over all T steps.

        Args:
            x: ``(B, T, d)`` floats, or ``(B, T)`` when d == 1.
            return_hidden: also return the list of the T hidden states h(1..T), each ``(B, n)``,
                which are nodes of the autograd graph, so dL/dh(t) can be read with autograd.grad.

        Returns:
            p(T), the logits of the last step ``(B, K)`` (and the hidden states if asked).
        """
        x = as_sequence(x, self.input_dim).to(self.W_hx.dtype)  # (B, T, d)
        if not (return_hidden or self.bptt == "autograd"):
            h = RNNSequence.apply(x.transpose(0, 1), self.W_hx, self.W_hh, self.b_h)  # h(T), (B, n)
            return torch.addmm(self.b_p, h, self.W_ph.t())  # p(T) = W_ph h(T) + b_p, (B, K)
        # What does not depend on h(t-1) is done once for all steps: W_hx x(t) + b_h.
        xw = torch.matmul(x, self.W_hx.t()) + self.b_h  # (B, T, n)
        h = xw.new_zeros(x.shape[0], self.num_hidden)  # h(0) = 0, (B, n)
        W_hh_t = self.W_hh.t()
        hidden = []
        # unbind, not xw[:, t]: indexing makes the backward build a full-size zero tensor per step
        for xw_t in xw.unbind(1):
            h = rnn_step(xw_t, h, W_hh_t)  # h(t), (B, n)
            hidden.append(h)
        p = torch.addmm(self.b_p, h, self.W_ph.t())  # p(T) = W_ph h(T) + b_p, (B, K)
        return (p, hidden) if return_hidden else p
