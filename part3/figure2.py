"""Question 3.1 and 3.2 computed: the six-node graph of the assignment's Figure 2.

Prints Ã = A + I with node labels, the number of GCN updates (layers) after which information from
C first reaches E -- the smallest k with (Ãᵏ)[E, C] ≠ 0, cross-checked by breadth-first search --
the same number for every pair of nodes, and how a one-hot feature on C spreads through 1, 2, 3
layers of Â-propagation. Writes the tables (Markdown and CSV), a JSON summary and a drawing of the
graph to the output folder.

    python part3/figure2.py [--out results/part3/figure2] [--source C] [--target E] [--layers 3]
"""
from __future__ import annotations

import argparse
import sys
from collections import deque
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common.args import positive_int
from common.runtime import environment_info, run_main

import torch

from part3.gcn import normalized_adjacency
from part3.outputs import RESULTS, markdown_table, prepare_output_dir, write_csv, write_json

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


def draw(a: torch.Tensor, path: Path, source: str, target: str, nodes=NODES) -> None:
    """Draw the graph to a PNG, the source and the target highlighted."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import networkx as nx

    graph = nx.Graph()
    graph.add_nodes_from(nodes)
    graph.add_edges_from((nodes[i], nodes[j]) for i, j in torch.nonzero(torch.triu(a)).tolist())
    colours = ["tab:orange" if v == source else "tab:green" if v == target else "tab:blue"
               for v in graph.nodes]
    figure, axes = plt.subplots(figsize=(5, 4))
    nx.draw_networkx(graph, nx.spring_layout(graph, seed=3), ax=axes, node_color=colours,
                     node_size=700, font_color="white", font_weight="bold")
    axes.set_title(f"Figure 2 graph ({source} orange, {target} green)")
    axes.axis("off")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=RESULTS / "figure2",
                        help="output folder for the tables, the JSON summary and the PNG")
    parser.add_argument("--source", choices=NODES, default="C", help="where the information starts")
    parser.add_argument("--target", choices=NODES, default="E", help="where it has to arrive")
    parser.add_argument("--layers", type=positive_int, default=3,
                        help="layers of message passing to show for the one-hot feature")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    out = prepare_output_dir(args.out)
    a = adjacency()
    a_tilde = with_self_loops(a)
    hops = hops_by_powers(a_tilde)
    if not torch.equal(hops, hops_by_bfs(a)):
        raise RuntimeError("matrix powers and BFS disagree")  # a bug, not a user error
    s, t = NODES.index(args.source), NODES.index(args.target)
    updates = int(hops[t, s])
    values = spread(a, s, args.layers)

    a_rows = [[NODES[i], *a_tilde[i].tolist()] for i in range(len(NODES))]
    hop_rows = [[NODES[i], *hops[i].tolist()] for i in range(len(NODES))]
    spread_rows = [[layer, *(f"{v:.4f}" for v in values[layer].tolist())]
                   for layer in range(args.layers + 1)]
    reached = [NODES[i] for i in range(len(NODES)) if values[-1, i] != 0]
    tables = {
        "a_tilde": ("Ã = A + I (row i, column j: 1 if i = j or i–j is an edge)", ["", *NODES], a_rows),
        "hops": ("GCN updates before information from the column node reaches the row node "
                 "(smallest k with (Ãᵏ)[row, column] ≠ 0; equals the BFS distance)", ["", *NODES],
                 hop_rows),
        "spread": (f"One-hot feature on {args.source} after l layers: Âˡ e_{args.source} "
                   "(W = I, no non-linearity)", ["layer", *NODES], spread_rows),
    }
    markdown = []
    for name, (title, header, rows) in tables.items():
        print(f"{title}\n{markdown_table(header, rows)}\n")
        markdown.append(f"## {title}\n\n{markdown_table(header, rows)}\n")
        write_csv(out / f"{name}.csv", header, rows)
    answer = (f"Information from {args.source} reaches {args.target} after {updates} GCN update(s) "
              f"(matrix powers and BFS agree).")
    print(answer)
    print(f"After {args.layers} layer(s) the feature on {args.source} has reached: {', '.join(reached)}")
    (out / "figure2.md").write_text(f"# Figure 2 graph\n\n{answer}\n\n" + "\n".join(markdown),
                                    encoding="utf-8")
    draw(a, out / "figure2.png", args.source, args.target)
    write_json(out / "figure2.json", {
        "args": vars(args), "nodes": NODES, "edges": EDGES, "a_tilde": a_tilde.tolist(),
        "hops": hops.tolist(), "updates": {"source": args.source, "target": args.target, "k": updates},
        "spread": values.tolist(), "environment": environment_info()})
    print(f"wrote {out}/figure2.png, figure2.md, figure2.json and a_tilde/hops/spread .csv")
    return 0


if __name__ == "__main__":
    run_main(main)
