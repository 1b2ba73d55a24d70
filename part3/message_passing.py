"""Questions 3.1 and 3.2 as functions: the six-node graph of the assignment's Figure 2, how many GCN
updates information needs between two nodes (by powers of Ã and by breadth-first search), and how a
one-hot feature spreads through layers of Â-propagation."""
from __future__ import annotations

from collections import deque

import torch

from part3.gcn import normalized_adjacency

NODES = ("A", "B", "C", "D", "E", "F")
EDGES = (("A", "B"), ("A", "E"), ("A", "F"), ("B", "C"), ("B", "D"), ("C", "D"), ("D", "F"),
         ("E", "F"))
UNREACHABLE = -1


def adjacency(nodes=NODES, edges=EDGES) -> torch.Tensor:
    """The symmetric 0/1 adjacency matrix A ``(N, N)`` (int64) of an undirected edge list."""
    index = {name: i for i, name in enumerate(nodes)}
    a = torch.zeros(len(nodes), len(nodes), dtype=torch.int64)
    for u, v in edges:
        a[index[u], index[v]] = a[index[v], index[u]] = 1
    return a


def with_self_loops(a: torch.Tensor) -> torch.Tensor:
    """Ã = A + I ``(N, N)``."""
    return a + torch.eye(a.shape[0], dtype=a.dtype)


def hops_by_powers(a_tilde: torch.Tensor) -> torch.Tensor:
    """``hops[i, j]`` = smallest k >= 0 with (Ãᵏ)[i, j] ≠ 0 (-1 if none up to N - 1), ``(N, N)``.

    (Ãᵏ)[i, j] counts the walks of length k from j to i that may pause at a node (the self-loop),
    so it is non-zero exactly when j is within k hops of i: after k GCN layers node i has seen j.
    The powers are taken in integers (as 0/1 reachability), so no rounding can hide an entry.
    """
    n = a_tilde.shape[0]
    reach = (a_tilde != 0).to(torch.int64)  # (N, N) 0/1
    hops = torch.full((n, n), UNREACHABLE, dtype=torch.int64)
    power = torch.eye(n, dtype=torch.int64)  # Ã⁰ = I
    for k in range(n):  # a shortest path has at most N - 1 edges
        hops[(power != 0) & (hops == UNREACHABLE)] = k
        power = ((reach @ power) != 0).to(torch.int64)  # non-zero pattern of Ã^(k+1)
    return hops


def hops_by_bfs(a: torch.Tensor) -> torch.Tensor:
    """Shortest-path lengths by breadth-first search from every node, ``(N, N)``, -1 if unreachable."""
    n = a.shape[0]
    neighbours = [torch.nonzero(a[i]).flatten().tolist() for i in range(n)]
    hops = torch.full((n, n), UNREACHABLE, dtype=torch.int64)
    for source in range(n):
        hops[source, source] = 0
        queue = deque([source])
        while queue:
            node = queue.popleft()
            for nxt in neighbours[node]:
                if hops[source, nxt] == UNREACHABLE:
                    hops[source, nxt] = hops[source, node] + 1
                    queue.append(nxt)
    return hops


def spread(a: torch.Tensor, source: int, layers: int) -> torch.Tensor:
    """Rows l = 0..layers: Âˡ e_source, a one-hot feature on ``source`` after l GCN layers with
    W = I and no non-linearity (pure message passing). Returns ``(layers + 1, N)``."""
    a_hat = normalized_adjacency(a.to(torch.float64))  # (N, N)
    h = torch.zeros(a.shape[0], dtype=torch.float64)
    h[source] = 1.0  # (N,)
    rows = [h]
    for _ in range(layers):
        rows.append(a_hat @ rows[-1])  # (N,)
    return torch.stack(rows)
