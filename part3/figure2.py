"""Questions 3.1 and 3.2 computed on the six-node graph of the assignment's Figure 2.

Prints Ã = A + I, the number of GCN updates (layers) after which information from one node first
reaches another -- the smallest k with (Ãᵏ)[target, source] ≠ 0, checked against breadth-first
search -- and how a one-hot feature on the source spreads through layers of Â-propagation. Writes the
tables (Markdown and CSV), figure2.json and a drawing of the graph to --out_dir.
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import networkx as nx
import torch

from part3.gcn import normalized_adjacency

NODES = ("A", "B", "C", "D", "E", "F")
EDGES = (("A", "B"), ("A", "E"), ("A", "F"), ("B", "C"), ("B", "D"), ("C", "D"), ("D", "F"),
         ("E", "F"))
UNREACHABLE = -1
RESULTS = Path(__file__).resolve().parents[1] / "results" / "part3"  # git-ignored, from any folder


def adjacency(nodes=NODES, edges=EDGES) -> torch.Tensor:
    """The symmetric 0/1 adjacency A ``(N, N)`` (int64) of an undirected edge list."""
    a = torch.zeros(len(nodes), len(nodes), dtype=torch.int64)
    for u, v in edges:
        a[nodes.index(u), nodes.index(v)] = a[nodes.index(v), nodes.index(u)] = 1
    return a


def hops_by_powers(a_tilde: torch.Tensor) -> torch.Tensor:
    """``hops[i, j]`` = smallest k with (Ãᵏ)[i, j] ≠ 0 (-1: never), ``(N, N)``. (Ãᵏ)[i, j] counts the
    walks of length k from j to i that may pause (the self-loop): non-zero exactly when j is within k
    hops of i, so after k GCN layers node i has heard from j."""
    n = a_tilde.shape[0]
    hops = torch.full((n, n), UNREACHABLE)
    power = torch.eye(n, dtype=torch.int64)  # Ã⁰
    for k in range(n):  # a shortest path has at most N - 1 edges
        hops[(power != 0) & (hops == UNREACHABLE)] = k
        power = ((a_tilde @ power) != 0).long()  # the 0/1 pattern of Ã^(k+1): no overflow
    return hops


def hops_by_bfs(nodes=NODES, edges=EDGES) -> torch.Tensor:
    """The same table by breadth-first search (networkx's shortest path lengths)."""
    graph = nx.Graph(edges)
    graph.add_nodes_from(nodes)
    lengths = dict(nx.all_pairs_shortest_path_length(graph))
    return torch.tensor([[lengths[u].get(v, UNREACHABLE) for v in nodes] for u in nodes])


def spread(a: torch.Tensor, source: int, layers: int) -> torch.Tensor:
    """Rows l = 0..layers: Âˡ e_source, a one-hot feature after l layers with W = I and no σ."""
    a_hat = normalized_adjacency(a.double())  # (N, N)
    rows = [torch.eye(a.shape[0], dtype=torch.float64)[source]]  # e_source: (N,)
    for _ in range(layers):
        rows.append(a_hat @ rows[-1])
    return torch.stack(rows)  # (layers + 1, N)


def markdown_table(header, rows) -> str:
    lines = ["| " + " | ".join(map(str, row)) + " |" for row in [header, *rows]]
    return "\n".join([lines[0], "|" + "---|" * len(header), *lines[1:]]) + "\n"


def draw_graph(path: Path, source: str, target: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    graph = nx.Graph()
    graph.add_nodes_from(NODES)  # in this order, which fixes the drawing's layout
    graph.add_edges_from(EDGES)
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
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--out_dir", type=Path, default=RESULTS / "figure2",
                        help="output folder for the tables, figure2.json and figure2.png")
    parser.add_argument("--source", choices=NODES, default="C", help="where the information starts")
    parser.add_argument("--target", choices=NODES, default="E", help="where it has to arrive")
    parser.add_argument("--layers", type=int, default=3, help="layers of spreading to show")
    parser.add_argument("--quiet", action="store_true", help="print only the answer, not the tables")
    args = parser.parse_args(argv)
    if args.layers < 1:
        parser.error(f"argument --layers: must be a positive integer, got {args.layers}")
    if args.out_dir.exists() and not args.out_dir.is_dir():
        parser.error(f"--out_dir '{args.out_dir}' exists and is not a folder")
    return args


def main(argv=None) -> None:
    args = parse_args(argv)
    a = adjacency()
    a_tilde = a + torch.eye(len(NODES), dtype=a.dtype)  # Ã = A + I
    hops = hops_by_powers(a_tilde)
    assert torch.equal(hops, hops_by_bfs()), "matrix powers and BFS disagree"
    s, t = NODES.index(args.source), NODES.index(args.target)
    values = spread(a, s, args.layers)  # (layers + 1, N)
    result = {
        "args": vars(args), "nodes": list(NODES), "edges": [list(edge) for edge in EDGES],
        "degrees": a.sum(dim=1).tolist(), "d_tilde": a_tilde.sum(dim=1).tolist(),
        "a_tilde": a_tilde.tolist(), "a_hat": normalized_adjacency(a.double()).tolist(),
        "hops": hops.tolist(), "updates": {"source": args.source, "target": args.target,
                                           "k": int(hops[t, s])},
        "layers": args.layers, "spread": [dict(zip(NODES, row)) for row in values.tolist()],
        "reached": [v for v, x in zip(NODES, values[-1]) if x != 0],
        "environment": {"python": platform.python_version(), "torch": torch.__version__}}
    tables = {  # file name -> (title, header, rows)
        "a_tilde": ("Ã = A + I (row i, column j: 1 if i = j or i–j is an edge)", ["", *NODES],
                    [[v, *row] for v, row in zip(NODES, result["a_tilde"])]),
        "hops": ("GCN updates before information from the column node reaches the row node "
                 "(smallest k with (Ãᵏ)[row, column] ≠ 0; equals the BFS distance)", ["", *NODES],
                 [[v, *row] for v, row in zip(NODES, result["hops"])]),
        "spread": (f"One-hot feature on {args.source} after l layers: Âˡ e_{args.source} "
                   "(W = I, no non-linearity)", ["layer", *NODES],
                   [[layer, *(f"{x:.4f}" for x in row)] for layer, row in enumerate(values.tolist())]),
    }
    out = args.out_dir
    out.mkdir(parents=True, exist_ok=True)
    answer = (f"Information from {args.source} reaches {args.target} after {result['updates']['k']} "
              "GCN update(s) (matrix powers and BFS agree).")
    markdown = [f"# Figure 2 graph\n\n{answer}\n"]
    for name, (title, header, rows) in tables.items():
        if not args.quiet:
            print(f"{title}\n{markdown_table(header, rows)}")
        markdown.append(f"## {title}\n\n{markdown_table(header, rows)}")
        (out / f"{name}.csv").write_text("\n".join(",".join(map(str, row)) for row in [header, *rows])
                                         + "\n", encoding="utf-8")
    print(answer)
    if not args.quiet:
        print(f"After {args.layers} layer(s) the feature on {args.source} has reached: "
              f"{', '.join(result['reached'])}")
    (out / "figure2.md").write_text("\n".join(markdown), encoding="utf-8")
    (out / "figure2.json").write_text(json.dumps(result, indent=2, default=str) + "\n", encoding="utf-8")
    draw_graph(out / "figure2.png", args.source, args.target)
    print(f"wrote {out}/figure2.png, figure2.md, figure2.json and a_tilde/hops/spread .csv")


if __name__ == "__main__":
    main()
