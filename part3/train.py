"""Semi-supervised node classification with the two-layer GCN on Zachary's karate club.

The 34 members split into two factions (networkx's ``club`` attribute: "Mr. Hi" and "Officer");
those are the labels. Only ``--labelled_per_class`` members of each faction are labelled, chosen at
random per seed; the GCN (node features X = I, as in Kipf & Welling's demonstration) is trained on
them and scored on all the other, held-out members. Repeats for ``--num_seeds`` seeds and reports
the held-out accuracy of each and their mean, plots the 2-D hidden embedding of the first seed's run
at several epochs, and writes metrics (CSV, JSON with the configuration and environment).

    python part3/train.py [--hidden 16] [--lr 0.01] [--epochs 200] [--labelled_per_class 1]
                          [--seed 0] [--num_seeds 10] [--device auto] [--out results/part3/karate]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common.args import nonnegative_int, positive_float, positive_int
from common.runtime import UserError, environment_info, resolve_device, run_main, seed_everything

import torch
import torch.nn.functional as F

from part3.gcn import GCN, normalized_adjacency
from part3.outputs import RESULTS, prepare_output_dir, write_csv, write_json

FACTIONS = ("Mr. Hi", "Officer")


def karate_club():
    """The karate club as (edge_index ``(2, 2M)`` both directions, labels ``(34,)``) from networkx.

    The edges are taken unweighted (networkx also stores interaction counts as weights)."""
    import networkx as nx

    graph = nx.karate_club_graph()
    labels = torch.tensor([FACTIONS.index(graph.nodes[v]["club"]) for v in graph.nodes])  # (N,)
    edges = torch.tensor(list(graph.edges), dtype=torch.int64).T  # (2, M)
    return torch.cat([edges, edges.flip(0)], dim=1), labels  # (2, 2M), (N,)


def split(labels: torch.Tensor, per_class: int, generator: torch.Generator):
    """``per_class`` random labelled nodes of each class; returns (labelled, held_out) index tensors."""
    labelled = []
    for c in range(int(labels.max()) + 1):
        members = torch.nonzero(labels == c).flatten()
        if per_class >= len(members):
            raise UserError(f"--labelled_per_class {per_class} leaves no held-out node in class "
                            f"'{FACTIONS[c]}' ({len(members)} members); use at most {len(members) - 1}")
        labelled.append(members[torch.randperm(len(members), generator=generator)[:per_class]])
    labelled = torch.sort(torch.cat(labelled)).values
    held_out = torch.ones(len(labels), dtype=torch.bool)
    held_out[labelled] = False
    return labelled, torch.nonzero(held_out).flatten()


def snapshot_epochs(epochs: int, count: int) -> list[int]:
    """``count`` epochs from 0 (before training) to ``epochs``, evenly spaced, without repeats."""
    return sorted({round(i * epochs / max(count - 1, 1)) for i in range(count)})


def train_one(seed: int, args, edge_index, labels, device, snapshots=()) -> dict:
    """Train one GCN; return its held-out accuracy, per-epoch history and hidden-embedding snapshots."""
    seed_everything(seed)
    labelled, held_out = split(labels, args.labelled_per_class, torch.Generator().manual_seed(seed))
    n = len(labels)
    a_hat = normalized_adjacency(edge_index=edge_index, num_nodes=n).to(device)  # (N, N) CSR
    x = torch.eye(n, device=device)  # (N, N) one-hot node features
    y = labels.to(device)
    model = GCN(n, args.hidden, len(FACTIONS), dropout=args.dropout).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    history, embeddings = [], {}
    for epoch in range(args.epochs + 1):  # epoch 0 is the untrained model
        if epoch > 0:
            model.train()
            optimizer.zero_grad()
            loss = F.nll_loss(model(x, a_hat)[labelled], y[labelled])
            loss.backward()
            optimizer.step()
        model.eval()
        with torch.no_grad():
            log_probs = model(x, a_hat)  # (N, C)
            correct = log_probs.argmax(dim=1) == y
            history.append({"epoch": epoch,
                            "train_loss": F.nll_loss(log_probs[labelled], y[labelled]).item(),
                            "held_out_accuracy": correct[held_out].float().mean().item()})
            if epoch in snapshots:
                embeddings[epoch] = model.hidden(x, a_hat).cpu()  # (N, hidden)
    if not torch.isfinite(torch.tensor(history[-1]["train_loss"])):
        raise UserError(f"seed {seed}: the loss became NaN or infinite; lower --lr")
    return {"seed": seed, "labelled": labelled.tolist(), "held_out": len(held_out),
            "held_out_accuracy": history[-1]["held_out_accuracy"],
            "train_loss": history[-1]["train_loss"], "history": history, "embeddings": embeddings}


def project_2d(h: torch.Tensor) -> tuple[torch.Tensor, str]:
    """``(N, d)`` -> ``(N, 2)``: the embedding itself when d <= 2, else its first two principal axes."""
    if h.shape[1] <= 2:
        return F.pad(h, (0, 2 - h.shape[1])), "hidden units"
    centred = h - h.mean(dim=0)
    _, _, v = torch.linalg.svd(centred, full_matrices=False)  # v: (d, d), rows = principal axes
    return centred @ v[:2].T, "first two principal components"  # (N, 2)


def plot_embeddings(run: dict, labels: torch.Tensor, path: Path) -> None:
    """One scatter plot per snapshot epoch: nodes coloured by faction, labelled nodes ringed."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = sorted(run["embeddings"])
    figure, axes = plt.subplots(1, len(epochs), figsize=(3.2 * len(epochs), 3.4), squeeze=False)
    accuracy = {row["epoch"]: row["held_out_accuracy"] for row in run["history"]}
    for ax, epoch in zip(axes[0], epochs):
        points, kind = project_2d(run["embeddings"][epoch])
        for c, (name, colour) in enumerate(zip(FACTIONS, ("tab:blue", "tab:orange"))):
            members = labels == c
            ax.scatter(points[members, 0], points[members, 1], s=40, c=colour, label=name)
        ax.scatter(points[run["labelled"], 0], points[run["labelled"], 1], s=160,
                   facecolors="none", edgecolors="black", linewidths=1.5, label="labelled")
        ax.set_title(f"epoch {epoch}: held-out acc {accuracy[epoch]:.2f}", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0][0].set_ylabel(kind)
    axes[0][0].legend(fontsize=7, loc="best")
    figure.suptitle(f"Karate club: GCN hidden embedding during training (seed {run['seed']})")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def _float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a valid float") from None


def _rate(text: str) -> float:
    """argparse type: a probability in [0, 1) (dropout)."""
    value = _float(text)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must be in [0, 1), got {text}")
    return value


def _nonnegative_float(text: str) -> float:
    """argparse type: a finite float >= 0 (weight decay)."""
    value = _float(text)
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text}")
    return value


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hidden", type=positive_int, default=16, help="hidden units of the GCN")
    parser.add_argument("--lr", type=positive_float, default=0.01, help="Adam learning rate")
    parser.add_argument("--weight_decay", type=_nonnegative_float, default=5e-4, help="L2 penalty")
    parser.add_argument("--dropout", type=_rate, default=0.5, help="dropout rate in [0, 1)")
    parser.add_argument("--epochs", type=positive_int, default=200, help="full-batch training steps")
    parser.add_argument("--labelled_per_class", type=positive_int, default=1,
                        help="labelled members per faction (the rest are held out)")
    parser.add_argument("--seed", type=nonnegative_int, default=0, help="first seed")
    parser.add_argument("--num_seeds", type=positive_int, default=10,
                        help="runs with seeds seed, seed+1, ...")
    parser.add_argument("--snapshots", type=positive_int, default=5,
                        help="epochs at which the embedding of the first run is plotted")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--threads", type=positive_int, default=1,
                        help="CPU threads; the 34-node graph is too small to gain from more")
    parser.add_argument("--out", type=Path, default=RESULTS / "karate", help="output folder")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    device = resolve_device(args.device)
    torch.set_num_threads(args.threads)
    edge_index, labels = karate_club()
    split(labels, args.labelled_per_class, torch.Generator())  # a bad --labelled_per_class fails here
    out = prepare_output_dir(args.out)  # ... before anything is created
    runs = []
    for i, seed in enumerate(range(args.seed, args.seed + args.num_seeds)):
        snapshots = snapshot_epochs(args.epochs, args.snapshots) if i == 0 else ()
        runs.append(train_one(seed, args, edge_index, labels, device, snapshots))
        print(f"seed {seed}: labelled nodes {runs[-1]['labelled']}, held-out accuracy "
              f"{runs[-1]['held_out_accuracy']:.3f} ({runs[-1]['held_out']} nodes), "
              f"final train loss {runs[-1]['train_loss']:.4f}")
    accuracies = torch.tensor([run["held_out_accuracy"] for run in runs], dtype=torch.float64)
    summary = {"mean": accuracies.mean().item(), "min": accuracies.min().item(),
               "max": accuracies.max().item(),
               "std": accuracies.std().item() if len(runs) > 1 else 0.0, "seeds": len(runs)}
    print(f"held-out accuracy over {len(runs)} seed(s): mean {summary['mean']:.3f} "
          f"± {summary['std']:.3f} (min {summary['min']:.3f}, max {summary['max']:.3f}); chance 0.5")

    columns = ["seed", "held_out_accuracy", "train_loss", "held_out", "labelled"]
    write_csv(out / "metrics.csv", columns,
              [[run["seed"], f"{run['held_out_accuracy']:.6f}", f"{run['train_loss']:.6f}",
                run["held_out"], " ".join(map(str, run["labelled"]))] for run in runs])
    write_csv(out / "history.csv", ["epoch", "train_loss", "held_out_accuracy"],
              [[h["epoch"], f"{h['train_loss']:.6f}", f"{h['held_out_accuracy']:.6f}"]
               for h in runs[0]["history"]])
    write_json(out / "metrics.json", {
        "args": vars(args), "device": str(device), "summary": summary,
        "runs": [{k: v for k, v in run.items() if k not in ("history", "embeddings")} for run in runs],
        "environment": environment_info()})
    plot_embeddings(runs[0], labels, out / "embedding.png")
    print(f"wrote {out}/metrics.csv, metrics.json, history.csv, embedding.png")
    return 0


if __name__ == "__main__":
    run_main(main)
