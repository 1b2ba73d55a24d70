"""Semi-supervised node classification with the two-layer GCN on Zachary's karate club.

Only ``--labelled_per_class`` members of each faction are labelled, chosen at random per seed; the
GCN (node features X = I) is trained on them and scored on all the other, held-out members. Repeats
for ``--num_seeds`` seeds, reports each seed's held-out accuracy and their mean, plots the 2-D hidden
embedding of the first seed's run at several epochs, and writes metrics.csv, history.csv,
metrics.json and embedding.png to ``--out_dir``.

    python part3/train.py [--hidden 16] [--learning_rate 0.01] [--epochs 200] [--num_seeds 10]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common.args import (drop_probability, make_parser, nonnegative_float, nonnegative_int,
                         positive_float, positive_int)
from common.io import prepare_out_dir, write_csv, write_json
from common.runtime import environment_info, resolve_device, run_main

import torch
from tqdm import tqdm

from part3 import karate
from part3.plots import plot_embeddings

RESULTS = Path(__file__).resolve().parents[1] / "results" / "part3" / "karate"


# The flags that define a run, one per field of karate.Config (whose defaults they show): type, help.
CONFIG_FLAGS = {
    "hidden": (positive_int, "hidden units of the GCN"),
    "learning_rate": (positive_float, "Adam learning rate"),
    "weight_decay": (nonnegative_float, "L2 penalty (Adam's weight_decay)"),
    "dropout": (drop_probability, "dropout probability on the input and the hidden layer"),
    "epochs": (positive_int, "full-batch training steps"),
    "labelled_per_class": (positive_int, "labelled members per faction (the rest are held out)"),
}


def parse_args(argv=None) -> argparse.Namespace:
    parser = make_parser(__doc__.splitlines()[0])
    default = karate.Config()
    for name, (kind, text) in CONFIG_FLAGS.items():
        parser.add_argument(f"--{name}", type=kind, default=getattr(default, name), help=text)
    parser.add_argument("--seed", type=nonnegative_int, default=0, help="first seed")
    parser.add_argument("--num_seeds", type=positive_int, default=10,
                        help="runs with seeds seed, seed+1, ...")
    parser.add_argument("--snapshots", type=positive_int, default=5,
                        help="epochs at which the embedding of the first run is plotted")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--threads", type=positive_int, default=1,
                        help="CPU threads; the 34-node graph is too small to gain from more")
    parser.add_argument("--quiet", action="store_true", help="no progress bar and no per-seed lines")
    parser.add_argument("--out_dir", type=Path, default=RESULTS, help="output folder")
    return parser.parse_args(argv)


def write_results(out: Path, args, device, runs: list[karate.Run], labels: torch.Tensor,
                  snapshots: list[int]) -> dict:
    """metrics.csv (one row per seed), history.csv (first seed), metrics.json, embedding.png."""
    results = [karate.summary(run) for run in runs]
    accuracies = torch.tensor([r["held_out_accuracy"] for r in results], dtype=torch.float64)
    summary = {"mean": accuracies.mean().item(),
               "std": accuracies.std().item() if len(runs) > 1 else 0.0,
               "min": accuracies.min().item(), "max": accuracies.max().item(), "seeds": len(runs),
               "chance": karate.CHANCE}
    write_csv(out / "metrics.csv",
              [{**r, "labelled": " ".join(map(str, r["labelled"]))} for r in results],
              ["seed", "held_out_accuracy", "train_accuracy", "train_loss", "held_out", "labelled"])
    write_csv(out / "history.csv", runs[0].history,
              ["epoch", "train_loss", "train_accuracy", "held_out_accuracy"])
    write_json(out / "metrics.json", {
        "args": vars(args), "device": str(device), "seeds": [r["seed"] for r in results],
        "held_out_accuracy": [r["held_out_accuracy"] for r in results], "summary": summary,
        "runs": results, "snapshot_seed": runs[0].seed, "snapshot_epochs": snapshots,
        "environment": environment_info()})
    plot_embeddings(runs[0], labels, out / "embedding.png")
    return summary


def main(argv=None) -> int:
    args = parse_args(argv)
    device = resolve_device(args.device)
    torch.set_num_threads(args.threads)
    edge_index, labels = karate.karate_club()
    karate.split(labels, args.labelled_per_class, torch.Generator())  # a bad flag fails here ...
    out = prepare_out_dir(args.out_dir)  # ... before anything is created
    config = karate.Config(**{name: getattr(args, name) for name in CONFIG_FLAGS})
    snapshots = karate.snapshot_epochs(args.epochs, args.snapshots)
    seeds = range(args.seed, args.seed + args.num_seeds)
    runs = []
    with tqdm(total=len(seeds) * (args.epochs + 1), desc="epochs", unit="epoch",
              disable=args.quiet or not sys.stderr.isatty()) as bar:
        for seed in seeds:
            run = karate.train_seed(seed, config, edge_index, labels, device,
                                    snapshots if not runs else (), on_epoch=bar.update)
            runs.append(run)
            result = karate.summary(run)
            if not args.quiet:
                tqdm.write(f"seed {seed}: labelled nodes {result['labelled']}, held-out accuracy "
                           f"{result['held_out_accuracy']:.3f} ({result['held_out']} nodes), "
                           f"final train loss {result['train_loss']:.4f}")
    summary = write_results(out, args, device, runs, labels, snapshots)
    print(f"held-out accuracy over {len(runs)} seed(s): mean {summary['mean']:.3f} "
          f"± {summary['std']:.3f} (min {summary['min']:.3f}, max {summary['max']:.3f}); "
          f"chance {karate.CHANCE}")
    print(f"wrote {out}/metrics.csv, metrics.json, history.csv, embedding.png")
    return 0


if __name__ == "__main__":
    run_main(main)
