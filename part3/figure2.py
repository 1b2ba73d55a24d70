"""Question 3.1 and 3.2 computed: the six-node graph of the assignment's Figure 2.

Prints Ã = A + I with node labels, the number of GCN updates (layers) after which information from
the source first reaches the target -- the smallest k with (Ãᵏ)[target, source] ≠ 0, cross-checked
by breadth-first search -- the same number for every pair of nodes, and how a one-hot feature on the
source spreads through 1, 2, 3 layers of Â-propagation. Writes the tables (Markdown and CSV),
figure2.json and a drawing of the graph to ``--out_dir``.

    python part3/figure2.py [--out_dir results/part3/figure2] [--source C] [--target E] [--layers 3]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common.args import make_parser, positive_int
from common.io import atomic_write_text, markdown_table, prepare_out_dir, write_csv, write_json
from common.runtime import environment_info, run_main

import torch

from part3.gcn import normalized_adjacency
from part3.message_passing import (EDGES, NODES, adjacency, hops_by_bfs, hops_by_powers, spread,
                                   with_self_loops)
from part3.plots import draw_graph

RESULTS = Path(__file__).resolve().parents[1] / "results" / "part3" / "figure2"


def parse_args(argv=None) -> argparse.Namespace:
    parser = make_parser(__doc__.splitlines()[0])
    parser.add_argument("--out_dir", type=Path, default=RESULTS,
                        help="output folder for the tables, figure2.json and the PNG")
    parser.add_argument("--source", choices=NODES, default="C", help="where the information starts")
    parser.add_argument("--target", choices=NODES, default="E", help="where it has to arrive")
    parser.add_argument("--layers", type=positive_int, default=3,
                        help="layers of message passing to show for the one-hot feature")
    parser.add_argument("--quiet", action="store_true",
                        help="print only the answer and the files written, not the tables")
    return parser.parse_args(argv)


def compute(source: str, target: str, layers: int) -> dict:
    """Everything figure2.json holds besides the arguments (see the key list in part3/README.md)."""
    a = adjacency()
    a_tilde = with_self_loops(a)
    hops = hops_by_powers(a_tilde)
    if not torch.equal(hops, hops_by_bfs(a)):
        raise RuntimeError("matrix powers and BFS disagree")  # a bug, not a user error
    s, t = NODES.index(source), NODES.index(target)
    values = spread(a, s, layers)  # (layers + 1, N)
    return {
        "nodes": list(NODES), "edges": [list(edge) for edge in EDGES],
        "degrees": a.sum(dim=1).tolist(), "d_tilde": a_tilde.sum(dim=1).tolist(),
        "a_tilde": a_tilde.tolist(), "a_hat": normalized_adjacency(a.double()).tolist(),
        "hops": hops.tolist(),
        "updates": {"source": source, "target": target, "k": int(hops[t, s])},
        "layers": layers,
        "spread": [dict(zip(NODES, row)) for row in values.tolist()],
        "reached": [NODES[i] for i in range(len(NODES)) if values[-1, i] != 0],
    }


def tables(result: dict, source: str) -> dict:
    """name -> (title, header, rows) of the three tables."""
    nodes = result["nodes"]
    return {
        "a_tilde": ("Ã = A + I (row i, column j: 1 if i = j or i–j is an edge)", ["", *nodes],
                    [[v, *row] for v, row in zip(nodes, result["a_tilde"])]),
        "hops": ("GCN updates before information from the column node reaches the row node "
                 "(smallest k with (Ãᵏ)[row, column] ≠ 0; equals the BFS distance)", ["", *nodes],
                 [[v, *row] for v, row in zip(nodes, result["hops"])]),
        "spread": (f"One-hot feature on {source} after l layers: Âˡ e_{source} "
                   "(W = I, no non-linearity)", ["layer", *nodes],
                   [[layer, *(f"{row[v]:.4f}" for v in nodes)]
                    for layer, row in enumerate(result["spread"])]),
    }


def main(argv=None) -> int:
    args = parse_args(argv)
    out = prepare_out_dir(args.out_dir)
    result = compute(args.source, args.target, args.layers)
    markdown = []
    for name, (title, header, rows) in tables(result, args.source).items():
        table = markdown_table(header, rows)
        if not args.quiet:
            print(f"{title}\n{table}")
        markdown.append(f"## {title}\n\n{table}")
        write_csv(out / f"{name}.csv", [dict(zip(header, row)) for row in rows], header)
    answer = (f"Information from {args.source} reaches {args.target} after "
              f"{result['updates']['k']} GCN update(s) (matrix powers and BFS agree).")
    print(answer)
    if not args.quiet:
        print(f"After {args.layers} layer(s) the feature on {args.source} has reached: "
              f"{', '.join(result['reached'])}")
    atomic_write_text(out / "figure2.md", f"# Figure 2 graph\n\n{answer}\n\n" + "\n".join(markdown))
    draw_graph(adjacency(), NODES, out / "figure2.png", args.source, args.target)
    write_json(out / "figure2.json", {"args": vars(args), **result, "environment": environment_info()})
    print(f"wrote {out}/figure2.png, figure2.md, figure2.json and a_tilde/hops/spread .csv")
    return 0


if __name__ == "__main__":
    run_main(main)
