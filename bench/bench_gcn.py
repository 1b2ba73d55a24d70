"""Benchmark: our GCNLayer (sparse COO Â built once, Â @ (H W) + b) against PyTorch Geometric's GCNConv.

Both layers get the same random undirected graph (default 100,000 nodes and about 1,000,000
edges, each stored in both directions) and the same weights and bias (``GCNConv.lin.weight`` is
W transposed). GCNConv runs with its default settings, so it normalises the graph inside every
call; our Â is built once by ``normalized_adjacency``, and that build time is reported on its own.
Measured, alternating the two layers within one process after a warm-up: the forward pass
(no_grad) and forward + backward (gradients for H, W and b), as median and min-max over the
repeats, and the ratio ours / PyG. The outputs must agree to 1e-5.

    python bench/bench_gcn.py [--quick] [--nodes 100000] [--edges 1000000] [--repeats 10]

Prints a table and writes JSON to bench/results/ (git-ignored). Nothing is asserted about speed.
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import torch

from part3.gcn import GCNLayer, normalized_adjacency

RESULTS = Path(__file__).resolve().parent / "results"
TOLERANCE = 1e-5


def random_undirected_graph(nodes: int, edges: int, generator: torch.Generator) -> torch.Tensor:
    """``edges`` random node pairs without self-loops or repeats, both directions: ``(2, 2E')``."""
    u = torch.randint(0, nodes, (edges,), generator=generator)
    v = torch.randint(0, nodes, (edges,), generator=generator)
    low, high = torch.minimum(u, v), torch.maximum(u, v)
    key = torch.unique(low[low != high] * nodes + high[low != high])  # (E',) one key per edge
    low, high = key // nodes, key % nodes
    return torch.cat([torch.stack([low, high]), torch.stack([high, low])], dim=1)  # (2, 2E')


def summarise(times: list[float]) -> dict:
    return {"median_s": statistics.median(times), "min_s": min(times), "max_s": max(times),
            "runs": len(times)}


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def run(args) -> dict:
    try:
        from torch_geometric.nn import GCNConv
        import torch_geometric
    except ImportError:
        sys.exit("error: torch_geometric is not installed; run: pip install -r requirements-dev.txt")
    torch.manual_seed(args.seed)
    if args.threads:
        torch.set_num_threads(args.threads)
    edge_index = random_undirected_graph(args.nodes, args.edges,
                                         torch.Generator().manual_seed(args.seed))  # (2, 2E')
    adjacency = torch.sparse_coo_tensor(edge_index, torch.ones(edge_index.shape[1]),
                                        (args.nodes, args.nodes), check_invariants=True)  # A: (N, N)
    build_times = [timed(lambda: normalized_adjacency(adjacency)) for _ in range(args.build_repeats)]
    a_hat = normalized_adjacency(adjacency)  # (N, N) sparse COO

    ours = GCNLayer(args.features, args.features)
    with torch.no_grad():
        ours.bias.normal_()
    pyg = GCNConv(args.features, args.features)
    with torch.no_grad():
        pyg.lin.weight.copy_(ours.weight.T)  # PyG stores (out, in)
        pyg.bias.copy_(ours.bias)
    h = torch.randn(args.nodes, args.features)  # (N, F)
    upstream = torch.randn(args.nodes, args.features)  # dL/d(output) for the backward pass

    layers = {"ours": lambda x: ours(x, a_hat), "pyg": lambda x: pyg(x, edge_index)}
    with torch.no_grad():
        out_ours, out_pyg = layers["ours"](h), layers["pyg"](h)
    max_diff = (out_ours - out_pyg).abs().max().item()
    grads = {}
    for name, layer in layers.items():
        x = h.clone().requires_grad_(True)
        (layer(x) * upstream).sum().backward()
        grads[name] = x.grad
    grad_diff = (grads["ours"] - grads["pyg"]).abs().max().item()

    def forward(name):
        with torch.no_grad():
            layers[name](h)

    def forward_backward(name):
        x = h.clone().requires_grad_(True)
        (layers[name](x) * upstream).sum().backward()

    cases = {"forward": forward, "forward+backward": forward_backward}
    times = {case: {"ours": [], "pyg": []} for case in cases}
    for case, fn in cases.items():
        for i in range(args.warmup + args.repeats):
            for name in ("ours", "pyg") if i % 2 == 0 else ("pyg", "ours"):  # alternate the order
                elapsed = timed(lambda: fn(name))
                ours.zero_grad(set_to_none=True)
                pyg.zero_grad(set_to_none=True)
                if i >= args.warmup:
                    times[case][name].append(elapsed)

    results = {}
    for case in cases:
        stats = {name: summarise(times[case][name]) for name in ("ours", "pyg")}
        ratio = stats["ours"]["median_s"] / stats["pyg"]["median_s"]
        per_run = [o / p for o, p in zip(times[case]["ours"], times[case]["pyg"])]
        results[case] = {**stats, "ratio_ours_over_pyg": ratio,
                         "ratio_min": min(per_run), "ratio_max": max(per_run)}
    return {
        "benchmark": "bench_gcn", "date_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "args": vars(args), "graph": {"nodes": args.nodes, "undirected_edges": edge_index.shape[1] // 2,
                                      "edge_index_entries": edge_index.shape[1],
                                      "a_hat_nonzeros": a_hat._nnz()},
        "a_hat_build": summarise(build_times), "results": results,
        "max_abs_diff_output": max_diff, "max_abs_diff_grad_h": grad_diff,
        "outputs_agree": max_diff <= TOLERANCE, "torch_geometric": torch_geometric.__version__,
        "environment": {"python": platform.python_version(), "torch": torch.__version__,
                        "threads": torch.get_num_threads()}}


def print_report(report: dict) -> None:
    graph = report["graph"]
    print(f"graph: {graph['nodes']:,} nodes, {graph['undirected_edges']:,} undirected edges "
          f"({graph['edge_index_entries']:,} directed entries; Â has {graph['a_hat_nonzeros']:,} "
          f"non-zeros), {report['args']['features']} -> {report['args']['features']} features, "
          f"{report['environment']['threads']} threads, torch {report['environment']['torch']}, "
          f"torch_geometric {report['torch_geometric']}")
    build = report["a_hat_build"]
    print(f"Â build (once per graph): median {build['median_s']:.3f} s "
          f"(min {build['min_s']:.3f}, max {build['max_s']:.3f}, {build['runs']} builds)")
    print(f"{'case':<18}{'ours median (min-max) s':<28}{'GCNConv median (min-max) s':<30}"
          "ours/PyG (min-max)")
    for case, r in report["results"].items():
        o, p = r["ours"], r["pyg"]
        print(f"{case:<18}{o['median_s']:.4f} ({o['min_s']:.4f}-{o['max_s']:.4f})".ljust(46)
              + f"{p['median_s']:.4f} ({p['min_s']:.4f}-{p['max_s']:.4f})".ljust(30)
              + f"{r['ratio_ours_over_pyg']:.3f} ({r['ratio_min']:.2f}-{r['ratio_max']:.2f})")
    print(f"outputs agree: max |ours - GCNConv| = {report['max_abs_diff_output']:.2e} "
          f"(tolerance {TOLERANCE:g}); input gradients differ by at most "
          f"{report['max_abs_diff_grad_h']:.2e}")


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="a small graph and few repeats (a smoke test, not a measurement)")
    parser.add_argument("--nodes", type=int, default=100_000)
    parser.add_argument("--edges", type=int, default=1_000_000,
                        help="random undirected edges drawn (repeats and self-loops dropped)")
    parser.add_argument("--features", type=int, default=64, help="input = output features")
    parser.add_argument("--repeats", type=int, default=10, help="timed runs per case")
    parser.add_argument("--warmup", type=int, default=2, help="untimed runs first")
    parser.add_argument("--build_repeats", type=int, default=3, help="timed Â builds")
    parser.add_argument("--threads", type=int, default=0,
                        help="torch threads (0: torch's default)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None,
                        help="JSON file (default: bench/results/bench_gcn[_quick]_<time>.json)")
    args = parser.parse_args(argv)
    if args.quick:
        args.nodes, args.edges, args.repeats, args.warmup, args.build_repeats = 2_000, 10_000, 3, 1, 1
    if args.nodes < 2 or min(args.edges, args.features, args.repeats, args.build_repeats) < 1 \
            or min(args.warmup, args.threads, args.seed) < 0:
        parser.error("--nodes must be >= 2, --edges, --features, --repeats, --build_repeats >= 1, "
                     "--warmup, --threads, --seed >= 0")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    report = run(args)
    print_report(report)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    path = args.out or RESULTS / f"bench_gcn{'_quick' if args.quick else ''}_{stamp}.json"
    if path.is_dir():
        sys.exit(f"error: --out '{path}' is a folder; give a .json file path")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8")
    print(f"wrote {path}")
    if not report["outputs_agree"]:
        print(f"error: outputs differ by {report['max_abs_diff_output']:.2e} > {TOLERANCE:g}",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
