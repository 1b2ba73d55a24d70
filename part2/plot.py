"""Plot the loss and accuracy curves of a part-2 run from its metrics CSV.

    python part2/plot.py summaries/metrics.csv            # writes summaries/curves.png
    python part2/plot.py summaries/metrics.csv -o out.png

``part2/train.py`` calls :func:`plot_curves` at the end of training; this script redraws the figure
on demand (e.g. while a run is still going).
"""
from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import csv

from common.args import make_parser
from common.runtime import UserError, run_main


def read_metrics(csv_path) -> dict:
    """``{split: {"step": [...], "loss": [...], "accuracy": [...]}}`` from a metrics CSV."""
    path = Path(csv_path)
    if not path.is_file():
        raise UserError(f"metrics file '{path}' does not exist")
    curves: dict = {}
    with open(path, encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        if not reader.fieldnames or not {"step", "split", "loss", "accuracy"} <= set(reader.fieldnames):
            raise UserError(f"'{path}' is not a part-2 metrics CSV (needs step, split, loss, accuracy)")
        for row in reader:
            curve = curves.setdefault(row["split"], {"step": [], "loss": [], "accuracy": []})
            curve["step"].append(int(row["step"]))
            curve["loss"].append(float(row["loss"]))
            curve["accuracy"].append(float(row["accuracy"]))
    return curves


def plot_curves(csv_path, png_path, title: str = "") -> Path:
    """Two panels (loss in nats per character, accuracy) against the training step."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curves = read_metrics(csv_path)
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(11, 4))
    for split, curve in sorted(curves.items(), reverse=True):  # train first, then val
        style = {"linewidth": 0.8, "alpha": 0.7} if split == "train" else {"marker": "o", "markersize": 3}
        ax_loss.plot(curve["step"], curve["loss"], label=split, **style)
        ax_acc.plot(curve["step"], curve["accuracy"], label=split, **style)
    ax_loss.set(xlabel="step", ylabel="cross-entropy (nats / char)", title="loss")
    ax_acc.set(xlabel="step", ylabel="next-character accuracy", title="accuracy")
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    png_path = Path(png_path)
    png_path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png_path, dpi=120)
    plt.close(fig)
    return png_path


def main(argv=None) -> int:
    parser = make_parser("Plot loss/accuracy curves from a part-2 metrics CSV.")
    parser.add_argument("csv", help="metrics.csv written by part2/train.py")
    parser.add_argument("-o", "--output", default=None, help="PNG path; None: curves.png beside the CSV")
    args = parser.parse_args(argv)
    out = args.output or Path(args.csv).with_name("curves.png")
    print(plot_curves(args.csv, out))
    return 0


if __name__ == "__main__":
    run_main(main)
