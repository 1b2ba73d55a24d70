"""Accuracy versus palindrome length for the VanillaRNN and the LSTM (questions 1.3 and 1.6).

Every cell of the grid (model, length, seed) trains a model from scratch with the recipe of
:func:`recipe`, scores it on a large fixed held-out set and writes one row. Rows are kept one file per
cell under ``<out_dir>/cells/`` (written atomically, only once a run has finished), merged into
``<out_dir>/results.csv``, and plotted to ``<out_dir>/accuracy_vs_length.png`` with a Markdown table.

    python part1/length_study.py --quick             # a few minutes: short lengths, one seed
    python part1/length_study.py                     # the full study (lengths 5..100, 3 seeds)
    python part1/length_study.py --workers 2         # cells in parallel processes
    python part1/length_study.py --write_sbatch study.sbatch   # a SLURM job array, one cell a task
    SLURM_ARRAY_TASK_ID=7 python part1/length_study.py --task_from_env   # what one array task runs
    python part1/length_study.py --curriculum --workers 2   # the curriculum variant (below)

An interrupted study resumes: finished cells are skipped, an unfinished cell resumes from its
checkpoint, and nothing half-finished is ever recorded as a result.

Curriculum variant (``--curriculum``), a separate study and not a replacement of the one above: for
each (model, seed) the lengths run in increasing order and each cell warm-starts (``train.py
--init_from``) from the ``model.pt`` of the next shorter length of the same model and seed; the
shortest length trains from scratch. Its cells and runs are named ``..._cur`` and its rows carry
``curriculum`` True, so both variants can share one ``--out_dir``; the figure and the table show
them as separate series ("RNN (curriculum)"), never averaged together. Steps and seconds of a
curriculum row count that length only. With ``--workers N`` whole (model, seed) chains run in
parallel; a cell never starts before its predecessor has finished. The SLURM path does not support
it.
"""
from __future__ import annotations

import argparse
import csv
import io
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common.args import positive_int
from common.checkpoint import atomic_write_text
from common.runtime import UserError, environment_info, resolve_device, run_main
from part1.recipes import FULL_LENGTHS, QUICK_LENGTHS, as_argv, recipe

FIELDS = ["model_type", "input_length", "seed", "test_accuracy", "test_loss", "steps",
          "train_seconds", "status", "input_dim", "num_hidden", "batch_size", "optimizer",
          "learning_rate", "max_norm", "init", "recurrent_init", "chrono", "train_steps",
          "time_limit", "curriculum"]
CURRICULUM_SUFFIX = "_cur"  # cell and run names of the curriculum variant


def grid(args) -> list[tuple[str, int, int]]:
    """All (model, length, seed) cells in a fixed order (the SLURM array index is a position here)."""
    cells = []
    for model_type in args.models:
        lengths = args.lengths or (QUICK_LENGTHS if args.quick else FULL_LENGTHS)[model_type]
        if getattr(args, "curriculum", False):
            lengths = sorted(set(lengths))  # a curriculum goes from short to long
        for length in lengths:
            for seed in args.seeds:
                cells.append((model_type, length, seed))
    return cells


def cell_name(model_type: str, length: int, seed: int, curriculum: bool = False) -> str:
    return f"{model_type}_T{length:03d}_s{seed}" + (CURRICULUM_SUFFIX if curriculum else "")


def chains(cells: list[tuple[str, int, int]]) -> list[tuple[str, list[int], int]]:
    """The cells grouped into curriculum chains: (model, its lengths in increasing order, seed)."""
    by_chain: dict = {}
    for model_type, length, seed in cells:
        by_chain.setdefault((model_type, seed), []).append(length)
    return [(model_type, sorted(lengths), seed) for (model_type, seed), lengths in by_chain.items()]


def run_cell(out_dir: str, model_type: str, length: int, seed: int, quick: bool,
             threads: int, device: str, max_steps: int | None = None,
             checkpoint_every: int = 200, curriculum: bool = False,
             previous: int | None = None) -> dict:
    """Train one cell (resuming it if it was cut short) and record its row atomically.

    ``curriculum``: the cell of the curriculum variant, warm-started from the finished cell of
    length ``previous`` (same model and seed) unless ``previous`` is None.
    """
    import torch

    from part1 import train as trainer

    torch.set_num_threads(threads)
    out = Path(out_dir)
    name = cell_name(model_type, length, seed, curriculum)
    row_file = out / "cells" / f"{name}.json"
    if row_file.exists():
        return json.loads(row_file.read_text(encoding="utf-8"))
    init_from = None
    if curriculum and previous is not None:
        before = cell_name(model_type, previous, seed, curriculum=True)
        if not (out / "cells" / f"{before}.json").exists():
            raise UserError(f"curriculum cell {name} starts from {before}, which has not finished")
        init_from = out / "runs" / before / "model.pt"
    flags = recipe(model_type, length, quick)
    if max_steps:
        flags["train_steps"] = min(flags["train_steps"], max_steps)
    flags["checkpoint_every"] = checkpoint_every
    run_dir = out / "runs" / name
    argv = ["--model_type", model_type, "--input_length", str(length), "--seed", str(seed),
            "--out_dir", str(run_dir), "--device", device, "--quiet"]
    argv += as_argv(flags)
    if (run_dir / "checkpoint.pt").exists():  # the checkpoint holds the weights (and --init_from)
        argv.append("--resume")
        from common.checkpoint import load_checkpoint
        step = load_checkpoint(run_dir / "checkpoint.pt", trainer.CHECKPOINT_KIND)["progress"]["step"]
        print(f"resuming {name} from its checkpoint at step {step}", flush=True)
    elif init_from is not None:
        argv += ["--init_from", str(init_from)]
    result = trainer.train(trainer.parse_args(argv), progress=False)
    if result["status"] == "interrupted":
        return result
    row = {**{k: flags.get(k, "") for k in FIELDS}, **result, "curriculum": curriculum,
           "init_from": str(init_from) if init_from else None}
    row["chrono"] = bool(flags.get("chrono", False))
    atomic_write_text(row_file, json.dumps(row, indent=2))  # appears only once the run is complete
    return row


def run_chain(out_dir: str, model_type: str, lengths: list[int], seed: int, quick: bool,
              threads: int, device: str, max_steps: int | None = None,
              checkpoint_every: int = 200, on_row=None) -> list[dict]:
    """Run the curriculum cells of one (model, seed) from short to long, each warm-started from the
    one before; finished cells are skipped, and the chain stops at a cell that was interrupted.
    Returns the rows of the cells it ran (each also passed to ``on_row`` as it finishes)."""
    done = []
    for previous, length in zip([None, *lengths[:-1]], lengths):
        if (Path(out_dir) / "cells" / f"{cell_name(model_type, length, seed, True)}.json").exists():
            continue
        row = run_cell(out_dir, model_type, length, seed, quick, threads, device, max_steps,
                       checkpoint_every, curriculum=True, previous=previous)
        done.append(row)
        if on_row is not None:
            on_row(row)
        if row["status"] == "interrupted":
            break
    return done


def merge(out: Path) -> list[dict]:
    """Collect the per-cell rows into results.csv (sorted, written atomically) and return them."""
    rows = [json.loads(p.read_text(encoding="utf-8")) for p in sorted((out / "cells").glob("*.json"))]
    rows.sort(key=lambda r: (r["model_type"], bool(r.get("curriculum")), r["input_length"],
                             r["seed"]))
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=FIELDS, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(out / "results.csv", text.getvalue())
    return rows


def is_curriculum(row: dict) -> bool:
    """Whether a row (a cell file's, or one read back from results.csv as text) is a curriculum
    row."""
    return str(row.get("curriculum", False)) == "True"


def series(row: dict) -> str:
    """The name a row is summarised and plotted under: "RNN", or "RNN (curriculum)"."""
    return row["model_type"] + (" (curriculum)" if is_curriculum(row) else "")


def summarise(rows: list[dict]) -> dict:
    """Per series (model, or model with curriculum) and length: mean, min and max held-out accuracy
    over seeds. Curriculum rows are never averaged with from-scratch ones."""
    summary: dict = {}
    for row in rows:
        summary.setdefault(series(row), {}).setdefault(int(row["input_length"]), []).append(
            float(row["test_accuracy"]))
    return {model: {length: (sum(a) / len(a), min(a), max(a), len(a))
                    for length, a in sorted(by_length.items())}
            for model, by_length in summary.items()}


def write_report(out: Path, rows: list[dict]) -> None:
    """The accuracy-versus-length figure and a Markdown table."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    summary = summarise(rows)
    fig, ax = plt.subplots(figsize=(7, 4.2))
    styles = (("RNN", "tab:red", "s--", 0.2), ("LSTM", "tab:blue", "o-", 0.2),
              ("RNN (curriculum)", "tab:orange", "s:", 0.12),
              ("LSTM (curriculum)", "tab:cyan", "o:", 0.12))
    for name, color, style, alpha in styles:
        if name not in summary:
            continue
        lengths = list(summary[name])
        mean = [summary[name][t][0] for t in lengths]
        low = [summary[name][t][1] for t in lengths]
        high = [summary[name][t][2] for t in lengths]
        seeds = max(summary[name][t][3] for t in lengths)
        ax.plot(lengths, mean, style, color=color, mfc="none" if "curriculum" in name else color,
                label=f"{name}, mean of {seeds} seeds")
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

    lines = ["| model | T | mean accuracy | min | max | seeds | mean steps | mean seconds |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name, by_length in summary.items():
        for length, (mean, low, high, n) in by_length.items():
            cell = [r for r in rows if series(r) == name and int(r["input_length"]) == length]
            steps = sum(int(r["steps"]) for r in cell) / len(cell)
            secs = sum(float(r["train_seconds"]) for r in cell) / len(cell)
            lines.append(f"| {name} | {length} | {mean:.4f} | {low:.4f} | {high:.4f} | {n} | "
                         f"{steps:.0f} | {secs:.1f} |")
    if any(is_curriculum(r) for r in rows):
        lines += ["", "Curriculum rows: each length warm-started from the next shorter one of the "
                      "same model and seed; their steps and seconds count that length only."]
    (out / "accuracy_vs_length.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    grid_group = parser.add_argument_group("grid")
    grid_group.add_argument("--models", nargs="+", choices=["RNN", "LSTM"], default=["RNN", "LSTM"],
                            help="models to study")
    grid_group.add_argument("--lengths", nargs="+", type=positive_int, default=None,
                            help="input lengths T (default: 5..100, 13 lengths)")
    grid_group.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2], help="seeds per cell")
    grid_group.add_argument("--quick", action="store_true",
                            help="lengths 5, 10, 20, one seed, small budgets: a few minutes")
    grid_group.add_argument("--curriculum", action="store_true",
                            help="the curriculum variant, a separate study: per (model, seed) the "
                                 "lengths in increasing order, each warm-started from the previous "
                                 "length's model.pt (the shortest from scratch); its cells are "
                                 "named *_cur and its rows and series are labelled curriculum, so "
                                 "it can share --out_dir with the from-scratch study; --workers "
                                 "runs (model, seed) chains in parallel; not with "
                                 "--write_sbatch or --task_from_env")
    run_group = parser.add_argument_group("running")
    run_group.add_argument("--workers", type=positive_int, default=1,
                           help="cells trained in parallel processes, sharing the CPU threads")
    run_group.add_argument("--device", default="cpu", help="device of every run (auto, cpu, cuda)")
    run_group.add_argument("--max_steps", type=positive_int, default=None,
                           help="cap every recipe's step budget (smoke runs)")
    run_group.add_argument("--checkpoint_every", type=positive_int, default=200,
                           help="checkpoint every run this often, so a killed study resumes")
    run_group.add_argument("--out_dir", default="results/length_study", help="output folder")
    cluster = parser.add_argument_group("cluster")
    cluster.add_argument("--write_sbatch", metavar="FILE", default=None,
                         help="write a SLURM job-array script for the grid and exit (not with "
                              "--curriculum)")
    cluster.add_argument("--task_from_env", action="store_true",
                         help="run only the cell number $SLURM_ARRAY_TASK_ID of the grid (not with "
                              "--curriculum)")
    return parser


def parse_args(argv=None) -> argparse.Namespace:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.lengths and min(args.lengths) < 2:
        parser.error("every length must be at least 2")
    if args.quick and args.seeds == [0, 1, 2]:
        args.seeds = [0]
    if len(set(args.seeds)) != len(args.seeds) or min(args.seeds) < 0:
        parser.error("--seeds must be distinct non-negative integers")
    if args.curriculum and (args.write_sbatch or args.task_from_env):
        parser.error("--curriculum runs each (model, seed) chain of lengths in order and is not "
                     "supported as a SLURM job array; drop --write_sbatch/--task_from_env")
    return args


def passthrough_flags(args) -> str:
    flags = ["--models", *args.models, "--seeds", *map(str, args.seeds), "--out_dir", args.out_dir,
             "--device", args.device]
    if args.lengths:
        flags += ["--lengths", *map(str, args.lengths)]
    if args.quick:
        flags.append("--quick")
    if args.max_steps:
        flags += ["--max_steps", str(args.max_steps)]
    return " ".join(flags)


def main() -> int:
    args = parse_args()
    out = Path(args.out_dir)
    cells = grid(args)
    if args.write_sbatch:
        script = SBATCH_TEMPLATE.format(last=len(cells) - 1, threads=2, out=out.resolve(),
                                        root=Path(__file__).resolve().parents[1],
                                        flags=passthrough_flags(args))
        Path(args.write_sbatch).write_text(script, encoding="utf-8")
        print(f"wrote {args.write_sbatch}: {len(cells)} array tasks; submit with "
              f"'sbatch {args.write_sbatch}', then rerun this command without --write_sbatch to merge")
        return 0
    if args.task_from_env:
        task = os.environ.get("SLURM_ARRAY_TASK_ID")
        if task is None or not task.isdigit() or int(task) >= len(cells):
            raise UserError(f"--task_from_env needs SLURM_ARRAY_TASK_ID in 0..{len(cells) - 1}, "
                            f"got {task!r}")
        cells = [cells[int(task)]]

    resolve_device(args.device)  # a device this machine lacks is refused before anything is written
    previous = out / "config.json"
    if previous.exists():
        before = json.loads(previous.read_text(encoding="utf-8"))["args"]
        for key in ("quick", "max_steps"):
            if before.get(key) != getattr(args, key):
                raise UserError(f"'{out}' holds a study made with --{key} {before.get(key)}, "
                                f"not {getattr(args, key)}; its rows would mix recipes: pass "
                                "another --out_dir")
    # Array tasks write these files concurrently: each write replaces the file whole (atomic rename).
    atomic_write_text(out / "config.json",
                      json.dumps({"args": vars(args), "environment": environment_info(),
                                  "recipes": {f"{m}_T{t}": recipe(m, t, args.quick)
                                              for m, t, _ in cells}}, indent=2))
    todo = [c for c in cells
            if not (out / "cells" / f"{cell_name(*c, args.curriculum)}.json").exists()]
    print(f"{len(cells)} {'curriculum ' if args.curriculum else ''}cells, "
          f"{len(cells) - len(todo)} already done, {len(todo)} to run with {args.workers} "
          "worker(s)", flush=True)
    threads = max(1, (os.cpu_count() or 1) // args.workers)
    started = time.perf_counter()
    from tqdm import tqdm

    with tqdm(total=len(todo), desc="cells", disable=not sys.stderr.isatty()) as bar:
        def report(row):
            bar.update(1)
            if "test_accuracy" in row:
                print(f"{row['model_type']:4s} T={row['input_length']:3d} seed={row['seed']}: "
                      f"accuracy {row['test_accuracy']:.4f} after {row['steps']} steps "
                      f"({row['train_seconds']:.0f} s, {row['status']})", flush=True)

        if args.curriculum:  # a cell waits for its predecessor: (model, seed) chains are the unit
            pending = {(model_type, seed) for model_type, _, seed in todo}
            runs = [chain for chain in chains(cells) if (chain[0], chain[2]) in pending]
            if args.workers == 1:
                for chain in runs:
                    rows_run = run_chain(str(out), *chain, args.quick, threads, args.device,
                                         args.max_steps, args.checkpoint_every, on_row=report)
                    if rows_run and rows_run[-1]["status"] == "interrupted":
                        break
            else:
                with ProcessPoolExecutor(max_workers=args.workers) as pool:
                    futures = [pool.submit(run_chain, str(out), *chain, args.quick, threads,
                                           args.device, args.max_steps, args.checkpoint_every)
                               for chain in runs]
                    for future in as_completed(futures):
                        for row in future.result():
                            report(row)
        elif args.workers == 1:
            for cell in todo:
                report(run_cell(str(out), *cell, args.quick, threads, args.device,
                                args.max_steps, args.checkpoint_every))
        else:
            with ProcessPoolExecutor(max_workers=args.workers) as pool:
                futures = [pool.submit(run_cell, str(out), *cell, args.quick, threads, args.device,
                                       args.max_steps, args.checkpoint_every) for cell in todo]
                for future in as_completed(futures):
                    report(future.result())
    wall = time.perf_counter() - started
    rows = merge(out)
    if not args.task_from_env and rows:
        write_report(out, rows)
    print(f"{len(todo)} cells in {wall:.0f} s; {len(rows)} rows in {out / 'results.csv'}"
          + ("" if args.task_from_env else f"; figure {out / 'accuracy_vs_length.png'}"))
    atomic_write_text(out / "wall_time.json",
                      json.dumps({"cells_run": len(todo), "seconds": round(wall, 1), "workers": args.workers}))
    return 0


if __name__ == "__main__":
    run_main(main)
