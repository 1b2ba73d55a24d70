"""The length study as a library: its grid of cells, one cell's run, curriculum chains, the merge of
the per-cell rows into results.csv, and the summary, figure, table and SLURM script written from
them. ``part1/length_study.py`` is the command line over it.

Files under the study's folder: ``cells/<cell>.json`` (one row per finished cell, written atomically
once its run has finished, so nothing half-finished is ever recorded), ``runs/<cell>/`` (the run's
own folder, see part1/training.py), ``results.csv`` (every row, columns :data:`FIELDS`),
``summary.json`` (:func:`summary_record`), ``accuracy_vs_length.png`` and ``accuracy_vs_length.md``.
Three kinds of cells may share the folder, told apart by name and by the ``recipe`` column: tuned
(``RNN_T005_s0``), curriculum (``..._cur``) and baseline (``..._base``, the assignment's default
training parameters).
"""
from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path

import torch

from common.checkpoint import load_checkpoint
from common.io import atomic_write_text, markdown_table, read_csv, read_json, write_csv, write_json
from common.runtime import UserError
from part1.options import parse_args
from part1.recipes import BASELINE_LENGTHS, FULL_LENGTHS, QUICK_LENGTHS, as_argv, recipe
from part1.training import CHECKPOINT_KIND, train

FIELDS = ["model_type", "input_length", "seed", "test_accuracy", "test_loss", "steps",
          "train_seconds", "status", "input_dim", "num_hidden", "batch_size", "optimizer",
          "learning_rate", "max_norm", "init", "recurrent_init", "chrono", "train_steps",
          "time_limit", "curriculum", "recipe"]
CURRICULUM_SUFFIX = "_cur"  # cell and run names of the curriculum variant
BASELINE_SUFFIX = "_base"  # cell and run names of the baseline series (default training parameters)
# The series of the figure, in drawing order: (name, colour, line style, alpha of the min-max band).
STYLES = (("RNN", "tab:red", "s--", 0.2), ("LSTM", "tab:blue", "o-", 0.2),
          ("RNN (curriculum)", "tab:orange", "s:", 0.12),
          ("LSTM (curriculum)", "tab:cyan", "o:", 0.12),
          ("RNN (baseline)", "tab:purple", "s-.", 0.12),
          ("LSTM (baseline)", "tab:green", "o-.", 0.12))
SBATCH_TEMPLATE = """#!/bin/bash
#SBATCH --job-name=palindrome-study
#SBATCH --array=0-{last}
#SBATCH --cpus-per-task={threads}
#SBATCH --time=01:00:00
#SBATCH --output={out}/slurm/%A_%a.out
# One array task trains one (model, length, seed) cell of the grid and writes its own row file;
# rerun the same command without --task_from_env afterwards to merge the rows and plot.
cd {root}
python part1/length_study.py {flags} --task_from_env
"""


@dataclass(frozen=True)
class Settings:
    """What every cell of one study invocation shares (picklable for worker processes)."""
    out_dir: str
    quick: bool
    threads: int
    device: str
    max_steps: int | None = None
    checkpoint_every: int = 200
    baseline: bool = False  # every cell trains with recipes.baseline_recipe


def threads_per_worker(workers: int) -> int:
    """The torch threads each of ``workers`` parallel cells gets: torch's own thread count (which
    honours OMP_NUM_THREADS) shared out."""
    return max(1, torch.get_num_threads() // workers)


def grid(models, lengths, seeds, quick: bool, curriculum: bool,
         baseline: bool = False) -> list[tuple[str, int, int]]:
    """All (model, length, seed) cells in a fixed order (the SLURM array index is a position here);
    ``lengths`` None means each model's recipe lengths (the baseline's own unless ``quick``)."""
    cells = []
    defaults = QUICK_LENGTHS if quick else BASELINE_LENGTHS if baseline else FULL_LENGTHS
    for model_type in models:
        todo = lengths or defaults[model_type]
        if curriculum:
            todo = sorted(set(todo))  # a curriculum goes from short to long
        cells += [(model_type, length, seed) for length in todo for seed in seeds]
    return cells


def cell_name(model_type: str, length: int, seed: int, curriculum: bool = False,
              baseline: bool = False) -> str:
    suffix = CURRICULUM_SUFFIX if curriculum else BASELINE_SUFFIX if baseline else ""
    return f"{model_type}_T{length:03d}_s{seed}{suffix}"


def row_file(out_dir, name: str) -> Path:
    return Path(out_dir) / "cells" / f"{name}.json"


def chains(cells: list[tuple[str, int, int]]) -> list[tuple[str, list[int], int]]:
    """The cells grouped into curriculum chains: (model, its lengths in increasing order, seed)."""
    by_chain: dict = {}
    for model_type, length, seed in cells:
        by_chain.setdefault((model_type, seed), []).append(length)
    return [(model_type, sorted(lengths), seed) for (model_type, seed), lengths in by_chain.items()]


def cell_argv(settings: Settings, model_type: str, length: int, seed: int, run_dir: Path):
    """The recipe of one cell as part1/train.py flags, and the recipe itself (recorded in the row)."""
    flags = recipe(model_type, length, settings.quick, settings.baseline)
    if settings.max_steps:
        flags["train_steps"] = min(flags["train_steps"], settings.max_steps)
    flags["checkpoint_every"] = settings.checkpoint_every
    argv = ["--model_type", model_type, "--input_length", str(length), "--seed", str(seed),
            "--out_dir", str(run_dir), "--device", settings.device, "--quiet", *as_argv(flags)]
    return argv, flags


def run_cell(settings: Settings, model_type: str, length: int, seed: int, curriculum: bool = False,
             previous: int | None = None) -> dict:
    """Train one cell (resuming it if it was cut short) and record its row atomically.

    ``curriculum``: the cell of the curriculum variant, warm-started from the finished cell of
    length ``previous`` (same model and seed) unless ``previous`` is None.
    """
    torch.set_num_threads(settings.threads)
    out = Path(settings.out_dir)
    name = cell_name(model_type, length, seed, curriculum, settings.baseline)
    if row_file(out, name).exists():
        return read_json(row_file(out, name))
    init_from = None
    if curriculum and previous is not None:
        before = cell_name(model_type, previous, seed, curriculum=True)
        if not row_file(out, before).exists():
            raise UserError(f"curriculum cell {name} starts from {before}, which has not finished")
        init_from = out / "runs" / before / "model.pt"
    run_dir = out / "runs" / name
    argv, flags = cell_argv(settings, model_type, length, seed, run_dir)
    if (run_dir / "checkpoint.pt").exists():  # the checkpoint holds the weights (and --init_from)
        argv.append("--resume")
        step = load_checkpoint(run_dir / "checkpoint.pt", CHECKPOINT_KIND)["step"]
        print(f"resuming {name} from its checkpoint at step {step}", flush=True)
    elif init_from is not None:
        argv += ["--init_from", str(init_from)]
    result = train(parse_args(argv))
    if result["status"] == "interrupted":
        return result
    kind = "curriculum" if curriculum else "baseline" if settings.baseline else "tuned"
    row = {**{k: flags.get(k) for k in FIELDS}, **result, "curriculum": curriculum, "recipe": kind,
           "chrono": bool(flags.get("chrono", False)),
           "init_from": str(init_from) if init_from else None}
    write_json(row_file(out, name), row)  # appears only once the run is complete
    return row


def run_chain(settings: Settings, model_type: str, lengths: list[int], seed: int,
              on_row=None) -> list[dict]:
    """Run the curriculum cells of one (model, seed) from short to long, each warm-started from the
    one before; finished cells are skipped, and the chain stops at a cell that was interrupted.
    Returns the rows of the cells it ran (each also passed to ``on_row`` as it finishes)."""
    done = []
    for previous, length in zip([None, *lengths[:-1]], lengths):
        if row_file(settings.out_dir, cell_name(model_type, length, seed, True)).exists():
            continue
        row = run_cell(settings, model_type, length, seed, curriculum=True, previous=previous)
        done.append(row)
        if on_row is not None:
            on_row(row)
        if row["status"] == "interrupted":
            break
    return done


def merge(out: Path) -> list[dict]:
    """Collect the per-cell rows into results.csv (sorted, written atomically) and return them as
    results.csv reads back (typed cells)."""
    rows = [read_json(p) for p in sorted((out / "cells").glob("*.json"))]
    for row in rows:  # rows recorded before the recipe column existed
        row["recipe"] = recipe_kind(row)
    rows.sort(key=lambda r: (r["model_type"], RECIPE_ORDER.index(r["recipe"]), r["input_length"],
                             r["seed"]))
    write_csv(out / "results.csv", rows, FIELDS)
    return read_csv(out / "results.csv")


def is_curriculum(row: dict) -> bool:
    """Whether a row (a cell file's, or one read back by common.io.read_csv) is a curriculum row."""
    return bool(row.get("curriculum"))


RECIPE_ORDER = ("tuned", "curriculum", "baseline")  # the values of the recipe column


def recipe_kind(row: dict) -> str:
    """The row's ``recipe`` column; rows written before it existed are told by ``curriculum``."""
    return row.get("recipe") or ("curriculum" if is_curriculum(row) else "tuned")


def series(row: dict) -> str:
    """The name a row is summarised and plotted under: "RNN", "RNN (curriculum)" or
    "RNN (baseline)"."""
    kind = recipe_kind(row)
    return row["model_type"] + ("" if kind == "tuned" else f" ({kind})")


def summarise(rows: list[dict]) -> dict:
    """Per series (model, with its recipe kind) and length: mean, min and max held-out accuracy
    over seeds, and the number of seeds. Rows of different series are never averaged together."""
    summary: dict = {}
    for row in rows:
        summary.setdefault(series(row), {}).setdefault(row["input_length"], []).append(
            row["test_accuracy"])
    return {name: {length: (sum(a) / len(a), min(a), max(a), len(a))
                   for length, a in sorted(by_length.items())}
            for name, by_length in summary.items()}


def summary_record(rows: list[dict]) -> dict:
    """summary.json: ``{"rows": N, "series": {name: [{"input_length", "mean_accuracy",
    "min_accuracy", "max_accuracy", "seeds", "mean_steps", "mean_seconds"}, ...]}}``, one entry per
    length in increasing order (the numbers of accuracy_vs_length.md, unrounded)."""
    record = {}
    for name, by_length in summarise(rows).items():
        entries = []
        for length, (mean, low, high, seeds) in by_length.items():
            cell = [r for r in rows if series(r) == name and r["input_length"] == length]
            entries.append({"input_length": length, "mean_accuracy": mean, "min_accuracy": low,
                            "max_accuracy": high, "seeds": seeds,
                            "mean_steps": sum(r["steps"] for r in cell) / len(cell),
                            "mean_seconds": sum(r["train_seconds"] for r in cell) / len(cell)})
        record[name] = entries
    return {"rows": len(rows), "series": record}


def plot(out: Path, summary: dict) -> None:
    """accuracy_vs_length.png: per series the mean over seeds and the min-max band."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2))
    for name, color, style, alpha in STYLES:
        if name not in summary:
            continue
        lengths = list(summary[name])
        mean, low, high, seeds = zip(*(summary[name][t] for t in lengths))
        ax.plot(lengths, mean, style, color=color, mfc=color if name in ("RNN", "LSTM") else "none",
                label=f"{name}, mean of {max(seeds)} seeds")
        ax.fill_between(lengths, low, high, color=color, alpha=alpha, label=f"{name} min-max")
    ax.axhline(0.1, color="gray", ls=":", label="chance (10%)")
    ax.set_xlabel("palindrome input length T")
    ax.set_ylabel("held-out accuracy")
    ax.set_ylim(0, 1.02)
    ax.set_title("Accuracy versus palindrome length")
    ax.legend(loc="lower left", fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out / "accuracy_vs_length.png", dpi=120)
    plt.close(fig)


def write_report(out: Path, rows: list[dict]) -> None:
    """summary.json, the accuracy-versus-length figure and its Markdown table."""
    record = summary_record(rows)
    write_json(out / "summary.json", record)
    plot(out, summarise(rows))
    table = [[name, e["input_length"], f"{e['mean_accuracy']:.4f}", f"{e['min_accuracy']:.4f}",
              f"{e['max_accuracy']:.4f}", e["seeds"], f"{e['mean_steps']:.0f}",
              f"{e['mean_seconds']:.1f}"]
             for name, entries in record["series"].items() for e in entries]
    text = markdown_table(["model", "T", "mean accuracy", "min", "max", "seeds", "mean steps",
                           "mean seconds"], table)
    if any(is_curriculum(r) for r in rows):
        text += ("\nCurriculum rows: each length warm-started from the next shorter one of the "
                 "same model and seed; their steps and seconds count that length only.\n")
    if any(recipe_kind(r) == "baseline" for r in rows):
        text += ("\nBaseline rows: the assignment's default training parameters (RMSprop, learning "
                 "rate 1e-3, uniform W_hh for the RNN, forget bias 1 without chrono for the LSTM); "
                 "see part1/recipes.baseline_recipe.\n")
    atomic_write_text(out / "accuracy_vs_length.md", text)


def passthrough_flags(args) -> str:
    """The flags of this study that an array task must repeat to see the same grid."""
    flags = ["--models", *args.models, "--seeds", *map(str, args.seeds), "--out_dir", args.out_dir,
             "--device", args.device, "--checkpoint_every", str(args.checkpoint_every)]
    if args.lengths:
        flags += ["--lengths", *map(str, args.lengths)]
    if args.quick:
        flags.append("--quick")
    if args.baseline:
        flags.append("--baseline")
    if args.max_steps:
        flags += ["--max_steps", str(args.max_steps)]
    if args.quiet:
        flags.append("--quiet")
    return " ".join(map(shlex.quote, flags))


def sbatch_script(args, cells: list, root: Path) -> str:
    """A SLURM job-array script with one task per cell of ``cells``."""
    return SBATCH_TEMPLATE.format(last=len(cells) - 1, threads=2, out=Path(args.out_dir).resolve(),
                                  root=root, flags=passthrough_flags(args))
