"""Graph convolution (Kipf & Welling, 2017): the normalised adjacency Â, the GCN layer, a 2-layer GCN.

Equations 14-17 of the assignment::

    H^(l+1) = σ(Â H^(l) W^(l)),   Â = D̃^-1/2 Ã D̃^-1/2,   Ã = A + I,   D̃_ii = Σ_j Ã_ij

Only torch is used. A graph is given to :func:`normalized_adjacency` as

* a dense ``(N, N)`` tensor, which gives a dense ``(N, N)`` Â;
* a ``torch.sparse`` COO or CSR ``(N, N)`` tensor;
* an edge list ``edge_index=``: an integer tensor ``(2, E)`` of (row, column) pairs (both
  directions of every undirected edge listed, as in PyTorch Geometric), optional weights ``(E,)``
  and ``num_nodes``.

The sparse inputs give a sparse CSR Â, and the layer multiplies it with a sparse-dense product, so
no dense N x N matrix is ever made for them. Build Â once per graph and reuse it for every layer and
every step; a layer made with ``cached=True`` also keeps Âᵀ for the backward pass (nothing is cached
anywhere else).
"""
from __future__ import annotations

import math
import warnings

import torch
import torch.nn.functional as F
from torch import Tensor, nn


# --------------------------------------------------------------------------------------------------
# Â = D̃^-1/2 (A + I) D̃^-1/2
# --------------------------------------------------------------------------------------------------
def normalized_adjacency(adj: Tensor | None = None, *, edge_index: Tensor | None = None,
                         edge_weight: Tensor | None = None, num_nodes: int | None = None,
                         add_self_loops: bool = True, check: bool = True,
                         dtype: torch.dtype | None = None) -> Tensor:
    """Return Â = D̃^-1/2 Ã D̃^-1/2 of an undirected graph given as ``adj`` or as ``edge_index``.

    Args:
        adj: dense or sparse COO/CSR ``(N, N)`` adjacency; weights >= 0, symmetric.
        edge_index: instead of ``adj``, an integer edge list ``(2, E)`` of (row, column) pairs, every
            undirected edge listed in both directions (PyTorch Geometric's convention).
        edge_weight: ``(E,)`` weights of ``edge_index`` (default: all 1).
        num_nodes: N for ``edge_index`` (default: largest index + 1); give it when the last nodes
            are isolated.
        add_self_loops: build Ã = A + I. A node that already has a self-loop keeps it (and its
            weight), every other node gets one of weight 1, so no node ends up with a double loop
            (PyTorch Geometric's ``add_remaining_self_loops`` convention).
        check: validate the input (square, symmetric, non-negative, finite). Costs one sort for a
            sparse graph; switch it off only for graphs already known to be valid.
        dtype: floating dtype of Â (default: A's floating dtype, else float32).

    Returns:
        Â: dense ``(N, N)`` for a dense ``adj``, otherwise a sparse CSR ``(N, N)`` tensor.
        A node without any edge (possible only with ``add_self_loops=False``) has D̃_ii = 0 and
        gets an all-zero row and column instead of a division by zero.

    Raises:
        ValueError: a non-square or asymmetric adjacency, a malformed edge list, an index out of
            range, a negative or non-finite weight.
    """
    if (adj is None) == (edge_index is None):
        raise ValueError("give exactly one of adj (a dense or sparse matrix) and edge_index")
    graph = adj if adj is not None else edge_index
    if not isinstance(graph, Tensor):
        raise ValueError(f"the graph must be a torch.Tensor, got {type(graph).__name__}")
    if adj is not None and adj.layout == torch.strided:
        return _dense_normalized(adj, add_self_loops, check, dtype)
    row, col, weight, n = _sorted_entries(graph, edge_weight, num_nodes, dtype)  # (E,) each
    if check:
        _check_symmetric_sparse(row, col, weight, n, uniform=_check_weights(weight))
    if add_self_loops:
        row, col, weight = _with_self_loops(row, col, weight, n)  # (E' + N,) each, still sorted
    degree = torch.zeros(n, dtype=weight.dtype, device=weight.device).index_add_(0, row, weight)
    d_inv_sqrt = _inverse_sqrt(degree)  # (N,)
    values = d_inv_sqrt[row] * weight * d_inv_sqrt[col]  # (E' + N,)
    crow = torch.zeros(n + 1, dtype=torch.int64, device=row.device)
    crow[1:] = torch.cumsum(torch.bincount(row, minlength=n), dim=0)  # (N + 1,) row starts
    return _csr(crow, col, values, n)


def _dense_normalized(adj: Tensor, add_self_loops: bool, check: bool, dtype) -> Tensor:
    if adj.dim() != 2 or adj.shape[0] != adj.shape[1]:
        raise ValueError(f"adjacency must be a square (N, N) matrix, got shape {tuple(adj.shape)}")
    a = adj.to(dtype or (adj.dtype if adj.is_floating_point() else torch.float32))  # (N, N)
    if check:
        _check_weights(a)
        if not torch.allclose(a, a.T, rtol=1e-6, atol=1e-8):
            i, j = torch.nonzero(~torch.isclose(a, a.T, rtol=1e-6, atol=1e-8))[0].tolist()
            raise ValueError(f"adjacency is not symmetric (A[{i},{j}]={a[i, j].item():g} but "
                             f"A[{j},{i}]={a[j, i].item():g}); the GCN needs an undirected graph")
    if add_self_loops:
        diagonal = a.diagonal()
        a = a.clone()
        a.diagonal().copy_(torch.where(diagonal > 0, diagonal, torch.ones_like(diagonal)))
    d_inv_sqrt = _inverse_sqrt(a.sum(dim=1))  # (N,)
    return d_inv_sqrt[:, None] * a * d_inv_sqrt[None, :]  # (N, N)


def _sorted_entries(adj: Tensor, edge_weight, num_nodes, dtype):
    """(row, col, weight, N) of an edge list or a sparse COO/CSR matrix, sorted by (row, col),
    repeated entries summed."""
    if adj.layout == torch.strided:  # an edge list (2, E)
        if adj.dim() != 2 or adj.shape[0] != 2 or adj.is_floating_point() or adj.dtype == torch.bool:
            raise ValueError(f"edge_index must be an integer tensor of shape (2, E), got "
                             f"{adj.dtype} {tuple(adj.shape)}")
        if adj.numel() and int(adj.min()) < 0:
            raise ValueError(f"edge list has a negative node index ({int(adj.min())})")
        n = int(adj.max()) + 1 if num_nodes is None and adj.numel() else int(num_nodes or 0)
        if adj.numel() and int(adj.max()) >= n:
            raise ValueError(f"edge list refers to node {int(adj.max())} but num_nodes is {n}")
        if edge_weight is None:
            edge_weight = torch.ones(adj.shape[1], dtype=dtype or torch.float32, device=adj.device)
        elif edge_weight.shape != (adj.shape[1],):
            raise ValueError(f"edge_weight must have shape ({adj.shape[1]},) like the edge list, "
                             f"got {tuple(edge_weight.shape)}")
        row, col = adj.long()
        weight = edge_weight
    elif adj.layout in (torch.sparse_coo, torch.sparse_csr):
        if adj.dim() != 2 or adj.shape[0] != adj.shape[1]:
            raise ValueError(f"adjacency must be a square (N, N) matrix, got shape {tuple(adj.shape)}")
        if edge_weight is not None:
            raise ValueError("edge_weight is only for an edge list; a sparse matrix holds its weights")
        n = adj.shape[0]
        if adj.layout == torch.sparse_coo:
            (row, col), weight = adj._indices(), adj._values()
        else:
            counts = adj.crow_indices().diff()  # (N,) entries per row
            row = torch.repeat_interleave(torch.arange(n, device=adj.device), counts)
            col, weight = adj.col_indices(), adj.values()
    else:
        raise ValueError(f"unsupported adjacency layout {adj.layout}; use dense, COO, CSR or an edge list")
    weight = weight.to(dtype or (weight.dtype if weight.is_floating_point() else torch.float32))
    key = row * n + col  # (E,) position in row-major order
    if key.numel() > 1 and (key[1:] <= key[:-1]).any():  # not yet sorted and unique
        key, order = torch.sort(key)
        weight = weight[order]
        if (key[1:] == key[:-1]).any():
            key, inverse = torch.unique_consecutive(key, return_inverse=True)
            weight = torch.zeros(len(key), dtype=weight.dtype, device=weight.device).index_add_(
                0, inverse, weight)
    return key // n, key % n, weight, n


def _with_self_loops(row: Tensor, col: Tensor, weight: Tensor, n: int):
    """Ã = A + I on sorted unique entries: an existing loop of weight > 0 is kept, every other node
    gets a loop of weight 1. Returns the (E' + N) entries, still sorted, without sorting again."""
    is_loop = row == col
    loop = torch.ones(n, dtype=weight.dtype, device=weight.device)  # (N,) loop weights
    if is_loop.any():
        kept = is_loop & (weight > 0)
        loop[row[kept]] = weight[kept]
        off = torch.nonzero(~is_loop).squeeze(1)
        row, col, weight = row[off], col[off], weight[off]  # (E',) off-diagonal
    nodes = torch.arange(n, device=row.device)
    # Merge: before the loop (r, r) come r loops and the off-diagonal entries with a smaller key;
    # before the off-diagonal entry i come i entries and the loops (r, r) with r < row_i or
    # r = row_i < col_i.
    loop_at = torch.searchsorted(row * n + col, nodes * (n + 1)) + nodes  # (N,)
    entry_at = torch.arange(len(row), device=row.device) + row + (col > row)  # (E',)
    total = len(row) + n
    merged = []
    for entries, loops in ((row, nodes), (col, nodes), (weight, loop)):
        out = torch.empty(total, dtype=entries.dtype, device=entries.device)
        out[entry_at], out[loop_at] = entries, loops
        merged.append(out)
    return merged


def _check_weights(weight: Tensor) -> bool:
    """Raise for a negative, NaN or infinite weight; return whether all weights are equal."""
    if weight.numel() == 0:
        return True
    low, high = torch.aminmax(weight)  # one pass; NaN propagates into both
    if not (torch.isfinite(low) and torch.isfinite(high)):
        raise ValueError("adjacency has a non-finite (NaN or infinite) edge weight")
    if low < 0:
        raise ValueError(f"adjacency has a negative edge weight ({low.item():g}); "
                         "GCN edge weights must be >= 0")
    return bool(low == high)


def _check_symmetric_sparse(row: Tensor, col: Tensor, weight: Tensor, n: int,
                            uniform: bool = False) -> None:
    """The (row, col) keys are sorted and unique; A is symmetric iff its transposed keys, sorted,
    are the same keys with the same weights (nothing to compare when all weights are equal)."""
    key = row * n + col  # (E,) sorted ascending
    transposed_key, order = torch.sort(col * n + row)
    mismatch = transposed_key != key
    if not uniform:
        mismatch |= ~torch.isclose(weight[order], weight, rtol=1e-6, atol=1e-8)
    if mismatch.any():
        bad = int(torch.nonzero(mismatch)[0])
        i, j = int(row[order][bad]), int(col[order][bad])  # entry (i, j) whose reverse is missing
        raise ValueError(f"adjacency is not symmetric (edge {i}->{j} has no equal reverse edge "
                         f"{j}->{i}); the GCN needs an undirected graph: list every edge in both "
                         "directions")


def _csr(crow: Tensor, col: Tensor, values: Tensor, n: int) -> Tensor:
    """An ``(n, n)`` CSR tensor, without torch's "CSR support is in beta" warning (it works for
    everything used here)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        return torch.sparse_csr_tensor(crow, col, values, (n, n), check_invariants=False)


def _inverse_sqrt(degree: Tensor) -> Tensor:
    """D̃^-1/2 as a vector; 0 where the degree is 0 (an isolated node without a self-loop)."""
    return torch.where(degree > 0, degree.clamp_min(torch.finfo(degree.dtype).tiny).rsqrt(),
                       torch.zeros_like(degree))


# --------------------------------------------------------------------------------------------------
# Sparse-dense product with a cheap backward
# --------------------------------------------------------------------------------------------------
def transpose_csr(a: Tensor) -> Tensor:
    """Aᵀ as CSR (one sort of the non-zeros): what the backward of A @ X multiplies with."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        return a.t().to_sparse_csr()


def _equal_csr(a: Tensor, b: Tensor) -> bool:
    return (a._nnz() == b._nnz() and torch.equal(a.crow_indices(), b.crow_indices())
            and torch.equal(a.col_indices(), b.col_indices()) and torch.equal(a.values(), b.values()))


class _SparseMatmul(torch.autograd.Function):
    """Â @ X for a constant CSR Â whose transpose Âᵀ is given; the backward is Âᵀ @ G."""

    @staticmethod
    def forward(ctx, a: Tensor, a_t: Tensor, x: Tensor) -> Tensor:  # a, a_t: (N, N), x: (N, F)
        ctx.a_t = a_t
        return torch.sparse.mm(a, x)  # (N, F)

    @staticmethod
    def backward(ctx, grad: Tensor):  # grad: (N, F)
        return None, None, torch.sparse.mm(ctx.a_t, grad)


def propagate(a_hat: Tensor, x: Tensor, a_hat_t: Tensor | None = None) -> Tensor:
    """Â @ X for a dense, COO or CSR Â ``(N, N)`` and X ``(N, F)``; returns ``(N, F)``.

    ``a_hat_t``: Âᵀ as CSR, for a CSR Â only. Given, the backward multiplies with it; without it
    torch's own backward transposes Â (a sort) on every backward pass.
    """
    if a_hat_t is not None and a_hat.layout == torch.sparse_csr:
        return _SparseMatmul.apply(a_hat, a_hat_t, x)
    if a_hat.layout in (torch.sparse_csr, torch.sparse_coo):
        return torch.sparse.mm(a_hat, x)
    return a_hat @ x


def _check_inputs(h: Tensor, a_hat: Tensor, in_features: int) -> None:
    if a_hat.dim() != 2 or a_hat.shape[0] != a_hat.shape[1]:
        raise ValueError(f"A_hat must be a square (N, N) matrix, got shape {tuple(a_hat.shape)}")
    if h.dim() != 2 or h.shape[1] != in_features:
        raise ValueError(f"H must have shape (N, {in_features}), got {tuple(h.shape)}")
    if h.shape[0] != a_hat.shape[0]:
        raise ValueError(f"H has {h.shape[0]} rows but the graph has {a_hat.shape[0]} nodes; "
                         "there must be one feature row per node")


# --------------------------------------------------------------------------------------------------
# The layer and the model
# --------------------------------------------------------------------------------------------------
class GCNLayer(nn.Module):
    """One graph convolution, equation 14: H' = σ(Â H W + b), Â = D̃^-1/2 (A + I) D̃^-1/2.

    forward(H, A_hat): H ``(N, in_features)``, A_hat ``(N, N)`` dense, COO or CSR (e.g. from
    :func:`normalized_adjacency`) -> the pre-activation Â H W + b ``(N, out_features)``; σ is left
    to the model, so the layer also serves as the output layer. W is ``(in, out)`` as in the
    equation; Â multiplies the narrower of H and HW. Â is a constant: no gradient flows into it.

    ``cached=True`` keeps Âᵀ of the last CSR Â (the backward of Â X needs Âᵀ G; torch would sort
    Â again on every backward): computed on the first forward with gradients, reused while the
    same, unmodified Â comes back, replaced when another Â (or an Â changed in place) arrives, and
    dropped by :meth:`reset_parameters`. The layer holds a reference to that Â meanwhile.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 cached: bool = False) -> None:
        super().__init__()
        self.in_features, self.out_features, self.cached = in_features, out_features, cached
        self.weight = nn.Parameter(torch.empty(in_features, out_features))  # W: (in, out)
        self.bias = nn.Parameter(torch.empty(out_features)) if bias else None  # b: (out,)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Glorot/Xavier uniform W ~ U(-r, r), r = sqrt(6 / (in + out)); b = 0; no cached Âᵀ."""
        bound = math.sqrt(6.0 / (self.in_features + self.out_features))
        nn.init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            nn.init.zeros_(self.bias)
        self._cache: tuple | None = None  # (Â, Â._version, Âᵀ)

    def transpose_of(self, a_hat: Tensor) -> Tensor | None:
        """The cached Âᵀ for a CSR Â when ``cached`` and gradients are on, else None."""
        if not (self.cached and a_hat.layout == torch.sparse_csr and torch.is_grad_enabled()):
            return None
        if self._cache is None or self._cache[0] is not a_hat or self._cache[1] != a_hat._version:
            a_hat_t = transpose_csr(a_hat)
            if _equal_csr(a_hat_t, a_hat):  # symmetric, bit for bit: keep one copy
                a_hat_t = a_hat
            self._cache = (a_hat, a_hat._version, a_hat_t)
        return self._cache[2]

    def forward(self, h: Tensor, a_hat: Tensor) -> Tensor:
        _check_inputs(h, a_hat, self.in_features)
        a_hat_t = self.transpose_of(a_hat)
        if self.out_features <= self.in_features:
            out = propagate(a_hat, h @ self.weight, a_hat_t)  # (N, out) -> Â(HW): (N, out)
        else:
            out = propagate(a_hat, h, a_hat_t) @ self.weight  # (N, in) -> (ÂH)W: (N, out)
        return out + self.bias if self.bias is not None else out

    def __repr__(self) -> str:
        extra = ("" if self.bias is not None else ", bias=False")
        extra += ", cached=True" if self.cached else ""
        return f"{type(self).__name__}({self.in_features}, {self.out_features}{extra})"


class GCN(nn.Module):
    """The two-layer GCN of Kipf & Welling: Z = softmax(Â ReLU(Â X W0) W1).

    forward(X, A_hat): X ``(N, in_features)``, A_hat ``(N, N)`` -> log-probabilities
    ``(N, num_classes)`` (log-softmax, for ``F.nll_loss``). :meth:`hidden` gives the ``(N, hidden)``
    node embedding ReLU(Â X W0) that the output layer classifies. Dropout with probability
    ``dropout`` is applied to X and to the hidden embedding in training mode only; ``cached`` is
    passed to both layers (see :class:`GCNLayer`).
    """

    def __init__(self, in_features: int, hidden_features: int, num_classes: int,
                 dropout: float = 0.0, cached: bool = False) -> None:
        super().__init__()
        self.layer1 = GCNLayer(in_features, hidden_features, cached=cached)
        self.layer2 = GCNLayer(hidden_features, num_classes, cached=cached)
        self.dropout = dropout

    def hidden(self, x: Tensor, a_hat: Tensor) -> Tensor:
        x = F.dropout(x, self.dropout, self.training)
        return torch.relu(self.layer1(x, a_hat))  # (N, hidden)

    def forward(self, x: Tensor, a_hat: Tensor) -> Tensor:
        h = F.dropout(self.hidden(x, a_hat), self.dropout, self.training)
        return F.log_softmax(self.layer2(h, a_hat), dim=1)  # (N, num_classes)
