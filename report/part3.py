"""Part 3 of the report: the Figure 2 graph (q. 3.1, 3.2), the GCN on the karate club (q. 3.1) and
over-smoothing with depth, from what ``part3/figure2.py`` and ``part3/train.py`` wrote under
``<out>/.cache/<piece>/`` (over-smoothing is computed here, from ``part3.gcn``)."""
from __future__ import annotations

from common.io import markdown_table, read_csv, read_json
from report.store import Context, need, pct, put_figure, put_table, put_values, pyplot, savefig


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
        ["layer", *nodes], [[layer, *(f"{row[n]:.4f}" for n in nodes)]
                            for layer, row in enumerate(spread)]))
    put_table(ctx, "figure2_degrees.md", markdown_table(
        ["node", *nodes], [["D̃ᵢᵢ = degree + 1", *map(as_int, result["d_tilde"])]]))
    up = result["updates"]
    k, target = int(up["k"]), up["target"]
    put_values(ctx, {
        "figure2.source": up["source"], "figure2.target": target, "figure2.k": str(k),
        "figure2.target_before": f"{spread[k - 1][target]:.4f}" if k - 1 < len(spread) else "?",
        "figure2.target_at_k": f"{spread[k][target]:.4f}" if k < len(spread) else "?"})


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
        ["seed", "labelled nodes", "held-out nodes", "held-out accuracy", "final train loss"], rows))
    _karate_curve(ctx, read_csv(need(c / "history.csv")), rows[0][0])
    s, a = metrics["summary"], metrics["args"]
    put_values(ctx, {
        "karate.mean": pct(s["mean"]), "karate.std": pct(s["std"]), "karate.min": pct(s["min"]),
        "karate.max": pct(s["max"]), "karate.seeds": str(s["seeds"]),
        "karate.epochs": str(a["epochs"]), "karate.hidden": str(a["hidden"]),
        "karate.labelled": str(a["labelled_per_class"]),
        "karate.lr": f"{a['learning_rate']:g}",
        "karate.dropout": f"{a['dropout']:g}", "karate.weight_decay": f"{a['weight_decay']:g}"})


def _mean_abs_cosine(h) -> float:
    """Mean |cosine| between the rows of ``h`` (1 when every node carries the same direction)."""
    n = h.shape[0]
    unit = h / h.norm(dim=1, keepdim=True).clamp_min(1e-300)
    cos = (unit @ unit.t()).abs()  # (N, N)
    return float((cos.sum() - cos.diagonal().sum()) / (n * (n - 1)))


def collect_oversmoothing(ctx: Context) -> None:
    """Propagate random node features with Â^k on the karate club graph and measure how alike the
    nodes become (mean |cosine| between node vectors), plain and with an initial-residual term."""
    import networkx as nx
    import torch

    from part3.gcn import normalized_adjacency

    graph = nx.karate_club_graph()
    n = graph.number_of_nodes()
    a = torch.zeros(n, n, dtype=torch.float64)
    for u, v in graph.edges():
        a[u, v] = a[v, u] = 1.0
    a_hat = normalized_adjacency(a)
    x = torch.randn(n, 16, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    alpha, depths = 0.1, list(range(0, 65))
    plain, residual = [], []
    h_plain, h_res = x.clone(), x.clone()
    for k in depths:
        if k > 0:
            h_plain = a_hat @ h_plain
            h_res = (1 - alpha) * (a_hat @ h_res) + alpha * x
        plain.append(_mean_abs_cosine(h_plain))
        residual.append(_mean_abs_cosine(h_res))
    shown = [0, 1, 2, 4, 8, 16, 32, 64]
    put_table(ctx, "oversmoothing.md", markdown_table(
        ["layers k", *shown],
        [["plain Âᵏ X", *[f"{plain[k]:.3f}" for k in shown]],
         [f"with initial residual, α = {alpha:g}", *[f"{residual[k]:.3f}" for k in shown]]]))
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(depths, plain, label="H ← Â H (plain GCN propagation)")
    ax.plot(depths, residual, label=f"H ← (1-α) Â H + α X, α = {alpha:g}")
    ax.set(xlabel="propagation steps (layers)", ylabel="mean |cosine| between nodes",
           ylim=(0, 1.02), title="Over-smoothing on the karate club (random features)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    savefig(fig, ctx.figures / "oversmoothing.png")
    put_values(ctx, {
        "oversmoothing.k0": f"{plain[0]:.2f}", "oversmoothing.k2": f"{plain[2]:.2f}",
        "oversmoothing.k8": f"{plain[8]:.2f}", "oversmoothing.k64": f"{plain[64]:.3f}",
        "oversmoothing.res_k64": f"{residual[64]:.2f}", "oversmoothing.alpha": f"{alpha:g}"})
