"""Graph convolution (Kipf & Welling, 2017), equations 14-17 of the assignment:

    H^(l+1) = σ(Â H^(l) W^(l)),   Â = D̃^-1/2 Ã D̃^-1/2,   Ã = A + I,   D̃_ii = Σ_j Ã_ij

Â is preprocessing: build it once per graph with ``normalized_adjacency`` and give it to every layer.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def normalized_adjacency(adj: Tensor) -> Tensor:
    """Â of an undirected graph's adjacency A ``(N, N)`` (floating, symmetric, no self-loops).

    A dense A gives a dense Â; a ``torch.sparse`` COO A (e.g. from an edge list) gives a sparse COO Â,
    so a large graph never becomes an N x N matrix.
    """
    if adj.dim() != 2 or adj.shape[0] != adj.shape[1]:
        raise ValueError(f"adjacency must be a square (N, N) matrix, got shape {tuple(adj.shape)}")
    n = adj.shape[0]
    if not adj.is_sparse:
        a_tilde = adj + torch.eye(n, dtype=adj.dtype, device=adj.device)  # (15)
        d_inv_sqrt = a_tilde.sum(dim=1).rsqrt()  # (16) D̃_ii >= 1, so no division by zero
        return d_inv_sqrt[:, None] * a_tilde * d_inv_sqrt[None, :]  # (17)
    loops = torch.arange(n, device=adj.device).expand(2, n)
    ones = torch.ones(n, dtype=adj.dtype, device=adj.device)
    eye = torch.sparse_coo_tensor(loops, ones, (n, n), check_invariants=False)  # valid by construction
    a_tilde = (adj + eye).coalesce()  # (15)
    (row, col), weight = a_tilde.indices(), a_tilde.values()
    d_inv_sqrt = torch.zeros(n, dtype=adj.dtype, device=adj.device).index_add_(0, row, weight).rsqrt()
    values = d_inv_sqrt[row] * weight * d_inv_sqrt[col]  # (16), (17) entry by entry
    return torch.sparse_coo_tensor(a_tilde.indices(), values, (n, n), is_coalesced=True,
                                   check_invariants=False)


class GCNLayer(nn.Module):
    """Equation 14 before σ: Â H W + b, with H ``(N, in_features)`` and Â ``(N, N)`` dense or sparse.

    σ is left to the model, so the same layer also serves as the output layer (before the softmax).
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(in_features, out_features))  # W: (in, out)
        self.bias = nn.Parameter(torch.zeros(out_features)) if bias else None  # b: (out,)
        nn.init.xavier_uniform_(self.weight)  # Glorot, as Kipf & Welling

    def forward(self, h: Tensor, a_hat: Tensor) -> Tensor:
        z = a_hat @ (h @ self.weight)  # (N, out); Â(HW): Â meets the narrower matrix when out < in
        return z if self.bias is None else z + self.bias


class GCN(nn.Module):
    """Kipf & Welling's two-layer GCN: Z = log_softmax(Â ReLU(Â X W0) W1), dropout on X and on the
    hidden layer in training mode. ``hidden`` is the node embedding ReLU(Â X W0) ``(N, hidden)``."""

    def __init__(self, in_features: int, hidden_features: int, num_classes: int,
                 dropout: float = 0.0) -> None:
        super().__init__()
        self.layer1 = GCNLayer(in_features, hidden_features)
        self.layer2 = GCNLayer(hidden_features, num_classes)
        self.dropout = dropout

    def hidden(self, x: Tensor, a_hat: Tensor) -> Tensor:
        return torch.relu(self.layer1(F.dropout(x, self.dropout, self.training), a_hat))

    def forward(self, x: Tensor, a_hat: Tensor) -> Tensor:
        h = F.dropout(self.hidden(x, a_hat), self.dropout, self.training)  # (N, hidden)
        return F.log_softmax(self.layer2(h, a_hat), dim=1)  # (N, num_classes)
