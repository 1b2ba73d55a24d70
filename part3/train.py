"""Semi-supervised node classification with the two-layer GCN on Zachary's karate club.

The 34 members' two factions are the labels and the node features are one-hot (X = I), as in Kipf &
Welling's demonstration. Per seed, --labelled_per_class random members of each faction are labelled;
the GCN is trained on them and scored on all the other, held-out members. Writes metrics.csv,
history.csv (the first seed's epochs), metrics.json and embedding.png to --out_dir.
"""
from __future__ import annotations

import argparse
import json
import math
import platform
import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch
import torch.nn.functional as F
from tqdm import tqdm

from part3.gcn import GCN, normalized_adjacency

FACTIONS = ("Mr. Hi", "Officer")
CHANCE = 0.5  # two factions of 17 members
RESULTS = Path(__file__).resolve().parents[1] / "results" / "part3"  # git-ignored, from any folder


def checked(kind, ok, rule):
    """An argparse type: ``kind(text)`` satisfying ``ok``, else the one-line error 'must be <rule>'."""
    def parse(text: str):
        value = kind(text)
        if not ok(value):
            raise argparse.ArgumentTypeError(f"must be {rule}, got {text}")
        return value
    return parse


def device(name: str) -> torch.device:
    """--device: auto (CUDA when present, else the CPU), cpu, cuda or cuda:N."""
    name = ("cuda" if torch.cuda.is_available() else "cpu") if name == "auto" else name
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise argparse.ArgumentTypeError(f"{name} was requested but CUDA is not available here; "
                                         "use --device cpu or --device auto")
    try:
        return torch.device(name)
    except RuntimeError:  # not a device name: argparse says "invalid device value"
        raise ValueError(name) from None


def parse_args(argv=None) -> tuple[argparse.ArgumentParser, argparse.Namespace]:
    positive = checked(int, lambda v: v > 0, "a positive integer")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--hidden", type=positive, default=16, help="hidden units of the GCN")
    parser.add_argument("--learning_rate", type=checked(float, lambda v: 0 < v < math.inf,
                                                        "a positive number"), default=0.01,
                        help="Adam learning rate")
    parser.add_argument("--weight_decay", type=checked(float, lambda v: 0 <= v < math.inf,
                                                       "a number >= 0"), default=5e-4,
                        help="L2 penalty added to the gradient (Adam's weight_decay, not AdamW's)")
    parser.add_argument("--dropout", type=checked(float, lambda v: 0 <= v < 1, "in [0, 1)"),
                        default=0.5, help="dropout probability on the input and the hidden layer")
    parser.add_argument("--epochs", type=positive, default=200, help="full-batch training steps")
    parser.add_argument("--labelled_per_class", type=positive, default=1,
                        help="labelled members per faction (the rest are held out)")
    parser.add_argument("--seed", type=checked(int, lambda v: v >= 0, ">= 0"), default=0,
                        help="first seed")
    parser.add_argument("--num_seeds", type=positive, default=10, help="runs with seeds seed, seed+1, ...")
    parser.add_argument("--snapshots", type=positive, default=5,
                        help="epochs at which the first run's embedding is plotted")
    parser.add_argument("--device", type=device, default="auto", help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--quiet", action="store_true", help="no progress bar and no per-seed lines")
    parser.add_argument("--out_dir", type=Path, default=RESULTS / "karate", help="output folder")
    args = parser.parse_args(argv)
    if args.out_dir.exists() and not args.out_dir.is_dir():
        parser.error(f"--out_dir '{args.out_dir}' exists and is not a folder")
    return parser, args


def karate_club() -> tuple[torch.Tensor, torch.Tensor]:
    """The club's adjacency A ``(34, 34)`` (unweighted) and faction labels ``(34,)``, from networkx."""
    import networkx as nx

    graph = nx.karate_club_graph()
    labels = torch.tensor([FACTIONS.index(graph.nodes[v]["club"]) for v in graph.nodes])
    a = torch.zeros(len(labels), len(labels))
    for u, v in graph.edges:
        a[u, v] = a[v, u] = 1.0
    return a, labels


def split(labels: torch.Tensor, per_class: int, generator: torch.Generator):
    """``per_class`` random members of each class are labelled: (labelled, held_out) node indices."""
    labelled = torch.cat([members[torch.randperm(len(members), generator=generator)[:per_class]]
                          for members in (torch.nonzero(labels == c).flatten()
                                          for c in range(len(FACTIONS)))]).sort().values
    held_out = torch.ones(len(labels), dtype=torch.bool)
    held_out[labelled] = False
    return labelled, torch.nonzero(held_out).flatten()


def train_seed(seed: int, args, x, a_hat, y, snapshots=(), on_epoch=lambda: None) -> dict:
    """One run: epoch 0 is the untrained model, then ``args.epochs`` full-batch Adam steps."""
    torch.manual_seed(seed)
    labelled, held_out = split(y.cpu(), args.labelled_per_class, torch.Generator().manual_seed(seed))
    labelled, held_out = labelled.to(y.device), held_out.to(y.device)
    model = GCN(x.shape[1], args.hidden, len(FACTIONS), dropout=args.dropout).to(y.device)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.learning_rate,
                                 weight_decay=args.weight_decay)
    history, embeddings = [], {}
    for epoch in range(args.epochs + 1):
        if epoch > 0:
            model.train()
            optimizer.zero_grad()
            F.nll_loss(model(x, a_hat)[labelled], y[labelled]).backward()
            optimizer.step()
        model.eval()  # evaluation without dropout: the loss on the labelled nodes, both accuracies
        with torch.no_grad():
            log_probs = model(x, a_hat)  # (N, classes)
            correct = (log_probs.argmax(dim=1) == y).float()
            history.append({"epoch": epoch,
                            "train_loss": F.nll_loss(log_probs[labelled], y[labelled]).item(),
                            "train_accuracy": correct[labelled].mean().item(),
                            "held_out_accuracy": correct[held_out].mean().item()})
            if epoch in snapshots:
                embeddings[epoch] = model.hidden(x, a_hat).cpu()  # (N, hidden)
        on_epoch()
    return {"seed": seed, "labelled": labelled.tolist(), "held_out": len(held_out),
            **{k: history[-1][k] for k in ("held_out_accuracy", "train_accuracy", "train_loss")},
            "history": history, "embeddings": embeddings}


def project_2d(h: torch.Tensor) -> tuple[torch.Tensor, str]:
    """``(N, d)`` -> ``(N, 2)``: the embedding itself when d <= 2, else its first two principal axes."""
    if h.shape[1] <= 2:
        return F.pad(h, (0, 2 - h.shape[1])), "hidden units"
    centred = h - h.mean(dim=0)
    _, _, v = torch.linalg.svd(centred, full_matrices=False)  # rows of v: the principal axes
    return centred @ v[:2].T, "first two principal components"


def plot_embeddings(run: dict, labels: torch.Tensor, path: Path) -> None:
    """One scatter plot per snapshot epoch: nodes coloured by faction, labelled nodes ringed."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = sorted(run["embeddings"])
    figure, axes = plt.subplots(1, len(epochs), figsize=(3.2 * len(epochs), 3.4), squeeze=False)
    for ax, epoch in zip(axes[0], epochs):
        points, kind = project_2d(run["embeddings"][epoch])  # (N, 2)
        for c, (name, colour) in enumerate(zip(FACTIONS, ("tab:blue", "tab:orange"))):
            ax.scatter(points[labels == c, 0], points[labels == c, 1], s=40, c=colour, label=name)
        ax.scatter(points[run["labelled"], 0], points[run["labelled"], 1], s=160, facecolors="none",
                   edgecolors="black", linewidths=1.5, label="labelled")
        accuracy = run["history"][epoch]["held_out_accuracy"]
        ax.set_title(f"epoch {epoch}: held-out acc {accuracy:.2f}", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0][0].set_ylabel(kind)
    axes[0][0].legend(fontsize=7, loc="best")
    figure.suptitle(f"Karate club: GCN hidden embedding during training (seed {run['seed']})")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def write_csv(path: Path, rows: list[dict], fields: list[str]) -> None:
    lines = [fields, *([row[f] for f in fields] for row in rows)]
    path.write_text("".join(",".join(map(str, line)) + "\n" for line in lines), encoding="utf-8")


def main(argv=None) -> None:
    parser, args = parse_args(argv)
    torch.set_num_threads(1)  # a 34-node graph only loses from threads (synchronisation)
    # Data: Â once for the graph, X = I, the faction of every member.
    a, labels = karate_club()
    smallest = int(torch.bincount(labels).min())
    if args.labelled_per_class >= smallest:
        parser.error(f"--labelled_per_class {args.labelled_per_class} leaves no held-out member in a "
                     f"faction of {smallest}; use at most {smallest - 1}")
    a_hat = normalized_adjacency(a).to(args.device)  # (N, N)
    x, y = torch.eye(len(labels), device=args.device), labels.to(args.device)
    # Training and evaluation, one run per seed; the first run's embedding is kept for the plot.
    snapshots = sorted({round(i * args.epochs / max(args.snapshots - 1, 1))
                        for i in range(args.snapshots)})  # from 0 (untrained) to the last epoch
    seeds = range(args.seed, args.seed + args.num_seeds)
    runs = []
    with tqdm(total=len(seeds) * (args.epochs + 1), desc="epochs", unit="epoch",
              disable=args.quiet or not sys.stderr.isatty()) as bar:
        for seed in seeds:
            run = train_seed(seed, args, x, a_hat, y, snapshots if not runs else (), bar.update)
            runs.append(run)
            if not args.quiet:
                tqdm.write(f"seed {seed}: labelled nodes {run['labelled']}, held-out accuracy "
                           f"{run['held_out_accuracy']:.3f} ({run['held_out']} nodes), "
                           f"final train loss {run['train_loss']:.4f}")
    accuracy = torch.tensor([run["held_out_accuracy"] for run in runs], dtype=torch.float64)
    summary = {"mean": accuracy.mean().item(), "std": accuracy.std().item() if len(runs) > 1 else 0.0,
               "min": accuracy.min().item(), "max": accuracy.max().item(), "seeds": len(runs),
               "chance": CHANCE}
    out = args.out_dir
    out.mkdir(parents=True, exist_ok=True)
    results = [{k: v for k, v in run.items() if k not in ("history", "embeddings")} for run in runs]
    write_csv(out / "metrics.csv", [{**r, "labelled": " ".join(map(str, r["labelled"]))} for r in results],
              ["seed", "held_out_accuracy", "train_accuracy", "train_loss", "held_out", "labelled"])
    write_csv(out / "history.csv", runs[0]["history"],
              ["epoch", "train_loss", "train_accuracy", "held_out_accuracy"])
    (out / "metrics.json").write_text(json.dumps({
        "args": vars(args), "device": str(args.device), "seeds": list(seeds),
        "held_out_accuracy": accuracy.tolist(), "summary": summary, "runs": results,
        "snapshot_seed": runs[0]["seed"], "snapshot_epochs": snapshots,
        "environment": {"python": platform.python_version(), "torch": torch.__version__}},
        indent=2, default=str) + "\n", encoding="utf-8")
    plot_embeddings(runs[0], labels, out / "embedding.png")
    print(f"held-out accuracy over {len(runs)} seed(s): mean {summary['mean']:.3f} "
          f"± {summary['std']:.3f} (min {summary['min']:.3f}, max {summary['max']:.3f}); chance {CHANCE}")
    print(f"wrote {out}/metrics.csv, metrics.json, history.csv, embedding.png")


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:  # a run takes seconds and writes its files at the end: nothing to save
        print("interrupted; nothing written", file=sys.stderr)
        sys.exit(130)
