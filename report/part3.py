"""Part 3 of the report: the Figure 2 graph (q. 3.1, 3.2), the GCN on the karate club (q. 3.1) and
over-smoothing with depth, from what ``part3/figure2.py`` and ``part3/train.py`` wrote under
``<out>/.cache/<piece>/`` (over-smoothing is computed while collecting, by ``experiments/oversmoothing.py``)."""
from __future__ import annotations

from common.io import markdown_table, read_csv, read_json
from report.store import (Context, fixed, join_words, need, pct, plural, put_figure, put_table,
                          put_values, pyplot, savefig)


def _matrix(nodes: list[str], matrix: list[list], cell) -> str:
    """A node-by-node matrix as a Markdown table, each entry written by ``cell``."""
    return markdown_table([" ", *nodes], [[n, *map(cell, row)] for n, row in zip(nodes, matrix)])


def collect_figure2(ctx: Context) -> None:
    """Tables and values from figure2.py's figure2.json (keys in part3/README.md)."""
    c = ctx.cache("figure2")
    put_figure(ctx, c / "figure2.png", "figure2.png")
    result = read_json(need(c / "figure2.json"))
    nodes, as_int = result["nodes"], (lambda v: f"{int(v)}")
    put_table(ctx, "figure2_a_tilde.md", _matrix(nodes, result["a_tilde"], as_int))
    put_table(ctx, "figure2_hops.md", _matrix(nodes, result["hops"], as_int))
    put_table(ctx, "figure2_a_hat.md", _matrix(nodes, result["a_hat"], lambda v: f"{v:.3f}"))
    spread = result["spread"]  # one {node: value} per layer 0, 1, ...
    put_table(ctx, "figure2_spread.md", markdown_table(
        ["layer", *nodes], [[layer, *(fixed(row[n], 4) for n in nodes)]
                            for layer, row in enumerate(spread)]))
    put_table(ctx, "figure2_degrees.md", markdown_table(
        ["node", *nodes], [["D̃ᵢᵢ = degree + 1", *map(as_int, result["d_tilde"])]]))
    put_values(ctx, _figure2_values(result))


def _shortest_paths(edges: list, source: str, target: str) -> list[list[str]]:
    """Every shortest path from ``source`` to ``target`` (breadth-first, by layers)."""
    neighbours: dict[str, set] = {}
    for u, v in edges:
        neighbours.setdefault(u, set()).add(v)
        neighbours.setdefault(v, set()).add(u)
    paths = [[source]]
    while paths and not any(p[-1] == target for p in paths):
        seen = {n for p in paths for n in p}
        paths = [p + [n] for p in paths for n in sorted(neighbours.get(p[-1], ())) if n not in seen]
    return [p for p in paths if p[-1] == target]


def _figure2_values(result: dict) -> dict:
    """The Figure 2 prose's facts (graph, who is reached after each layer, the paths), from the
    script's figure2.json, so that no node name or layer count is typed into the template."""
    nodes, spread, up = result["nodes"], result["spread"], result["updates"]
    k, source, target = int(up["k"]), up["source"], up["target"]
    reached, steps = {source}, []
    for layer, row in enumerate(spread[1:], start=1):
        new = [n for n in nodes if row[n] > 0 and n not in reached]
        reached.update(new)
        if new:
            steps.append(f"after {plural(layer, 'layer')} " + (
                f"also {join_words(new)}" if steps
                else f"the feature has reached {join_words(new)} (besides {source} itself)"))
    reach = "; ".join(steps) if steps else f"the feature stays on {source}"
    row = result["hops"][nodes.index(source)]
    rings = [[n for n, h in zip(nodes, row) if h == d] for d in range(1, k)]
    rings = [f"{join_words(r)}{(' is' if len(r) == 1 else ' are') if d == 1 else ''} at distance {d}"
             for d, r in enumerate(rings, start=1)]
    paths = _shortest_paths(result["edges"], source, target)
    return {
        "figure2.source": source, "figure2.target": target, "figure2.k": str(k),
        "figure2.k_before": plural(k - 1, "layer"),
        "figure2.graph": f"{plural(len(nodes), 'node')} ({', '.join(nodes)}) and "
                         f"{plural(len(result['edges']), 'undirected edge')} "
                         f"({', '.join(f'{u}–{v}' for u, v in result['edges'])})",
        "figure2.reach": reach[0].upper() + reach[1:] + ".",
        "figure2.rings": ", ".join(rings) if rings else "no node lies in between",
        "figure2.paths": join_words("–".join(p) for p in paths),
        "figure2.target_before": fixed(spread[k - 1][target], 4) if k - 1 < len(spread) else "?",
        "figure2.target_at_k": fixed(spread[k][target], 4) if k < len(spread) else "?"}


def _karate_curve(ctx: Context, history: list[dict], seed) -> None:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.5))
    epochs = [int(h["epoch"]) for h in history]
    line1, = ax.plot(epochs, [float(h["train_loss"]) for h in history],
                     label="train loss (labelled nodes)")
    ax2 = ax.twinx()
    line2, = ax2.plot(epochs, [float(h["held_out_accuracy"]) for h in history],
                      color="tab:orange", label="held-out accuracy")
    ax.set(xlabel="epoch", ylabel="cross-entropy", title=f"GCN on the karate club, seed {seed}")
    ax2.set(ylabel="held-out accuracy", ylim=(0, 1.02))
    ax.legend(handles=[line1, line2], loc="center right", fontsize=8)
    savefig(fig, ctx.figures / "karate_curve.png")


def collect_karate(ctx: Context) -> None:
    c = ctx.cache("karate")
    put_figure(ctx, c / "embedding.png", "karate_embedding.png")
    metrics = read_json(need(c / "metrics.json"))
    rows = [[r["seed"], " ".join(map(str, r["labelled"])), r["held_out"],
             pct(r["held_out_accuracy"]), f"{r['train_loss']:.4f}"] for r in metrics["runs"]]
    put_table(ctx, "karate.md", markdown_table(
        ["seed", "labelled nodes", "number held out", "held-out accuracy", "final train loss"], rows))
    _karate_curve(ctx, read_csv(need(c / "history.csv")), rows[0][0])
    put_values(ctx, _karate_values(metrics))


def _karate_values(metrics: dict) -> dict:
    s, a = metrics["summary"], metrics["args"]
    runs, chance = metrics["runs"], float(s["chance"])
    above = sum(float(r["held_out_accuracy"]) > chance for r in runs)
    spread = (f"{pct(s['mean'])} ± {pct(s['std'])} (mean ± standard deviation over seeds; "
              f"min {pct(s['min'])}, max {pct(s['max'])})" if len(runs) > 1
              else pct(s["mean"]))
    return {
        "karate.seeds": plural(int(s["seeds"]), "seed"), "karate.result": spread,
        "karate.above_chance": ("every seed is above chance" if above == len(runs) else
                                f"{above} of {plural(len(runs), 'seed')} are above chance"),
        "karate.chance": pct(chance), "karate.layers": str(_gcn_layers()),
        "karate.classes": str(_factions()),
        "karate.epochs": str(a["epochs"]), "karate.hidden": str(a["hidden"]),
        "karate.labelled": plural(int(a["labelled_per_class"]), "member"),
        "karate.members": str(len(runs[0]["labelled"]) + int(runs[0]["held_out"])),
        "karate.lr": f"{a['learning_rate']:g}",
        "karate.dropout": f"{a['dropout']:g}", "karate.weight_decay": f"{a['weight_decay']:g}"}


def _factions() -> int:
    from part3.train import FACTIONS  # torch, imported only when the piece is collected

    return len(FACTIONS)


def _gcn_layers() -> int:
    """How many GCN layers part3/train.py's model stacks (counted, not assumed)."""
    from part3.gcn import GCN, GCNLayer

    return sum(isinstance(m, GCNLayer) for m in GCN(4, 4, 2).modules())


def collect_oversmoothing(ctx: Context) -> None:
    """experiments/oversmoothing.py's curves: random node features propagated with Â^k on the karate
    club graph, how alike the nodes become (mean |cosine|), plain and with an initial-residual term."""
    from experiments.oversmoothing import curves

    dims, alpha, depths = 16, 0.1, list(range(0, 65))
    plain, residual = curves(depths[-1], alpha, dims)
    shown = [0, 1, 2, 4, 8, 16, 32, 64]
    put_table(ctx, "oversmoothing.md", markdown_table(
        ["layers k", *shown],
        [["plain Âᵏ X", *[fixed(plain[k], 3) for k in shown]],
         [f"with initial residual, α = {alpha:g}", *[fixed(residual[k], 3) for k in shown]]]))
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(depths, plain, label="H ← Â H (plain GCN propagation)")
    ax.plot(depths, residual, label=f"H ← (1-α) Â H + α X, α = {alpha:g}")
    ax.set(xlabel="propagation steps (layers)", ylabel="mean |cosine| between nodes",
           ylim=(0, 1.02), title="Over-smoothing on the karate club (random features)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    savefig(fig, ctx.figures / "oversmoothing.png")
    put_values(ctx, _oversmoothing_values(plain, residual, alpha, dims))


def _oversmoothing_values(plain: list, residual: list, alpha: float, dims: int) -> dict:
    """The prose's numbers, and whether the residual curve has levelled off (its last quarter of
    steps moves it by less than 0.01) or is still moving."""
    last, mid = len(plain) - 1, 8
    settled = abs(residual[last] - residual[last * 3 // 4]) < 0.01
    return {
        "oversmoothing.dims": str(dims), "oversmoothing.alpha": f"{alpha:g}",
        "oversmoothing.k0": fixed(plain[0], 2), "oversmoothing.mid": str(mid),
        "oversmoothing.k_mid": fixed(plain[mid], 2), "oversmoothing.last": str(last),
        "oversmoothing.k_last": fixed(plain[last], 3),
        "oversmoothing.res_last": (f"levels off at {fixed(residual[last], 2)}" if settled else
                                   f"is still moving, at {fixed(residual[last], 2)} after "
                                   f"{plural(last, 'step')}")}
