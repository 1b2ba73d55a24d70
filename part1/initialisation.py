"""Weight initialisation for the hand-written cells, one deliberate choice per flag.

``uniform``  U(-1/sqrt(n), 1/sqrt(n)) with n = num_hidden: PyTorch's own choice for nn.RNN/nn.LSTM,
             so that our cells start where the built-ins start.
``glorot``   U(-a, a), a = sqrt(6 / (fan_in + fan_out)) (Glorot & Bengio, 2010): keeps the variance
             of activations and gradients roughly constant through one layer.
``orthogonal`` (recurrent matrices only) a random orthogonal matrix: all singular values are 1, so
             repeated multiplication by W_hh neither shrinks nor blows up a vector, which is what a
             vanilla RNN needs to carry a digit over many steps (Saxe et al., 2014).
"""
from __future__ import annotations

import math

import torch

SCHEMES = ("uniform", "glorot")
RECURRENT_SCHEMES = ("same", "orthogonal")


@torch.no_grad()
def init_matrix(weight: torch.Tensor, scheme: str, num_hidden: int) -> None:
    """Fill ``weight`` (out x in) in place with ``scheme``."""
    if scheme == "uniform":
        bound = 1.0 / math.sqrt(num_hidden)
        weight.uniform_(-bound, bound)
    elif scheme == "glorot":
        torch.nn.init.xavier_uniform_(weight)
    elif scheme == "orthogonal":
        torch.nn.init.orthogonal_(weight)
    else:
        raise ValueError(f"unknown initialisation '{scheme}'")


def as_sequence(x: torch.Tensor, input_dim: int) -> torch.Tensor:
    """Accept ``(B, T, input_dim)``, or ``(B, T)`` when ``input_dim == 1``; return ``(B, T, input_dim)``."""
    if x.dim() == 2 and input_dim == 1:
        x = x.unsqueeze(-1)  # (B, T) -> (B, T, 1)
    if x.dim() != 3 or x.shape[-1] != input_dim:
        raise ValueError(f"expected input of shape (batch, seq_length, {input_dim})"
                         f"{' or (batch, seq_length)' if input_dim == 1 else ''}, got {tuple(x.shape)}")
    return x
