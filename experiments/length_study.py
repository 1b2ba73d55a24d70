"""Accuracy versus palindrome length for the RNN, the LSTM and the GRU (questions 1.3 and 1.6).

Every cell of the grid (model, length, seed) trains a model from scratch with :func:`recipe` through
``part1/train.py``'s ``train`` (with the hand-written backward of part1/bptt.py where a cell has one,
for speed), scores it on the fixed test set and writes one row, ``<out_dir>/cells/<cell>.json``, once
its run has finished. The rows are merged into ``results.csv`` and drawn as ``accuracy_vs_length.png``
with the table ``accuracy_vs_length.md``.

    python experiments/length_study.py --quick          # a few minutes: short lengths, one seed
    python experiments/length_study.py --workers 2      # the full study, cells in 2 processes
    python experiments/length_study.py --baseline       # the assignment's default training parameters
    python experiments/length_study.py --curriculum --models RNN   # each length from the previous one
    sbatch --array=0-$(( $(python experiments/length_study.py --count) - 1 )) \\
        experiments/length_study.sbatch                 # one SLURM array task per cell; then merge
        with python experiments/length_study.py

An interrupted study resumes: finished cells are skipped and an unfinished one resumes from its
checkpoint. The series share one ``--out_dir``: tuned cells are named ``RNN_T005_s0``, baseline cells
``..._base`` and curriculum cells ``..._cur`` (each length warm-started from the ``model.pt`` of the
next shorter length of the same model and seed; its steps count that length only).
"""
from __future__ import annotations

import argparse
import os
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch

from common.io import markdown_table, read_csv, read_json, write_csv, write_json
from common.runtime import environment_info
from part1.bptt import FAST
from part1.train import MODELS, UserError, parse_args, train

LENGTHS = [5, 10, 15, 20, 25, 30, 40, 50, 60, 70, 80, 90, 100]
QUICK_LENGTHS = [5, 10, 20]
BASELINE_LENGTHS = [5, 10, 15, 20, 30, 40, 50]
FIELDS = ["model_type", "input_length", "seed", "test_accuracy", "test_loss", "steps",
          "train_seconds", "status", "input_dim", "num_hidden", "batch_size", "optimizer",
          "learning_rate", "max_norm", "init", "recurrent_init", "chrono", "train_steps",
          "time_limit", "curriculum", "recipe"]
SUFFIX = {"tuned": "", "curriculum": "_cur", "baseline": "_base"}  # results.csv order too
COLOURS = {"RNN": "tab:red", "LSTM": "tab:blue", "GRU": "tab:green"}
STYLES = {"tuned": "o-", "baseline": "s-.", "curriculum": "v:"}


def recipe(model_type, length, quick=False, baseline=False):
    """The part1/train.py flags of one cell.

    Every model reads one-hot digits, trains with RMSprop as the assignment asks and stops once 99.5%
    of the validation set is right twice in a row. LSTM: chrono initialisation gives cells whose
    memory lasts as long as the sequence from the first step, and a learning rate of 1e-2 (3e-3 up
    to T = 10) lets them lock onto the first digit within a few hundred steps. RNN: an orthogonal
    W_hh and a small learning rate, 3e-4 up to T = 60 and 1e-4 beyond: with 1e-3 it stayed near
    chance at T = 40, as large steps push W_hh away from orthogonality before the network has found
    the first digit. GRU: its own gates, no special initialisation, a learning rate of 3e-3.

    ``baseline``: the assignment's default training parameters instead (learning rate 1e-3, a
    uniform W_hh for the RNN, forget bias 1 without chrono for the LSTM, 3000 steps, 1000 with
    ``quick``); everything else as tuned, so that only the training parameters differ.
    """
    flags = {"input_dim": 10, "num_hidden": 128, "batch_size": 128, "optimizer": "rmsprop",
             "max_norm": 10.0, "early_stop_accuracy": 0.995, "early_stop_patience": 2,
             "eval_every": 50, "eval_size": 1000, "test_size": 10000, "time_limit": 600.0}
    if model_type == "LSTM":
        flags.update(learning_rate=1e-2 if length > 10 else 3e-3, chrono=True, train_steps=3000)
    elif model_type == "RNN":
        flags.update(learning_rate=3e-4 if length <= 60 else 1e-4, recurrent_init="orthogonal",
                     train_steps=6000)
    else:
        flags.update(learning_rate=3e-3, train_steps=3000)
    if quick:
        flags.update(train_steps=1500, time_limit=60.0, test_size=2000)
    if baseline:
        flags.update(learning_rate=1e-3, train_steps=1000 if quick else 3000)
        flags.pop("chrono", None)
        if model_type == "RNN":
            flags["recurrent_init"] = "uniform"
    return flags


def as_argv(flags):
    """``part1/train.py`` arguments for ``flags``: True is a bare switch, False and None are left out."""
    argv = []
    for key, value in flags.items():
        if value is True:
            argv.append(f"--{key}")
        elif value is not False and value is not None:
            argv += [f"--{key}", str(value)]
    return argv


def grid(args):
    """All (model, length, seed) cells in a fixed order: a SLURM array index is a position here."""
    lengths = args.lengths or (QUICK_LENGTHS if args.quick else BASELINE_LENGTHS if args.baseline
                               else LENGTHS)
    return [(m, t, s) for m in args.models for t in sorted(set(lengths)) for s in args.seeds]


def cell_name(model_type, length, seed, kind):
    return f"{model_type}_T{length:03d}_s{seed}{SUFFIX[kind]}"


def run_cell(args, model_type, length, seed, kind):
    """Train one cell (resuming it if it was cut short) and record its row once it has finished."""
    torch.set_num_threads(args.threads)
    out = Path(args.out_dir)
    name = cell_name(model_type, length, seed, kind)
    row_file = out / "cells" / f"{name}.json"
    if row_file.exists():
        return read_json(row_file)
    flags = recipe(model_type, length, args.quick, kind == "baseline")
    if args.max_steps:
        flags["train_steps"] = min(flags["train_steps"], args.max_steps)
    run_dir = out / "runs" / name
    argv = ["--model_type", model_type, "--input_length", str(length), "--seed", str(seed),
            "--out_dir", str(run_dir), "--device", args.device, "--quiet",
            "--checkpoint_every", str(args.checkpoint_every), *as_argv(flags)]
    resume = (run_dir / "checkpoint.pt").exists()
    if resume:
        step = torch.load(run_dir / "checkpoint.pt", weights_only=True)["step"]
        print(f"resuming {name} from its checkpoint at step {step}", flush=True)
    weights, init_from = None, None
    if kind == "curriculum" and length != min(t for m, t, s in grid(args) if m == model_type):
        shorter = max(t for m, t, s in grid(args) if m == model_type and t < length)
        init_from = out / "runs" / cell_name(model_type, shorter, seed, kind) / "model.pt"
        if not resume:
            weights = torch.load(init_from, weights_only=True)["model"]
    result = train(parse_args(argv + ["--resume"] * resume), models={**MODELS, **FAST},
                   weights=weights)
    if result["status"] == "interrupted":
        return result
    row = {"init": "uniform", **flags, **result, "chrono": bool(flags.get("chrono")),
           "curriculum": kind == "curriculum", "recipe": kind,
           "init_from": str(init_from) if init_from else None}
    write_json(row_file, {k: row.get(k) for k in [*FIELDS, "test_size", "init_from"]})
    return row


def run_chain(args, model_type, seed):
    """The curriculum cells of one (model, seed), short to long; stops at an interrupted one."""
    rows = []
    for length in sorted({t for m, t, s in grid(args) if m == model_type}):
        rows.append(run_cell(args, model_type, length, seed, "curriculum"))
        if rows[-1]["status"] == "interrupted":
            break
    return rows


def run_job(args, kind, job):
    """The rows of one unit of work: a cell, or for the curriculum a (model, seed) chain."""
    return run_chain(args, *job) if kind == "curriculum" else [run_cell(args, *job, kind)]


def write_results(out):
    """results.csv from every cell's row, the figure and the table; returns the rows."""
    rows = [read_json(p) for p in sorted((out / "cells").glob("*.json"))]
    rows.sort(key=lambda r: (r["model_type"], list(SUFFIX).index(r["recipe"]), r["input_length"], r["seed"]))
    write_csv(out / "results.csv", rows, FIELDS)
    series = {}  # (model, recipe) -> {T: test accuracies over seeds}
    for r in rows:
        series.setdefault((r["model_type"], r["recipe"]), {}).setdefault(r["input_length"], []).append(r)
    table = []
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2))
    for (model, kind), by_length in series.items():
        name = model + ("" if kind == "tuned" else f" ({kind})")
        ts = sorted(by_length)
        acc = [[c["test_accuracy"] for c in by_length[t]] for t in ts]
        ax.plot(ts, [sum(a) / len(a) for a in acc], STYLES[kind], color=COLOURS.get(model), label=name)
        ax.fill_between(ts, [min(a) for a in acc], [max(a) for a in acc], color=COLOURS.get(model), alpha=0.15)
        for t, a in zip(ts, acc):
            steps = sum(c["steps"] for c in by_length[t]) / len(a)
            table.append([name, t, f"{sum(a) / len(a):.4f}", f"{min(a):.4f}", f"{max(a):.4f}", len(a), f"{steps:.0f}"])
    ax.axhline(0.1, color="gray", ls=":", label="chance (10%)")
    ax.set(xlabel="palindrome input length T", ylabel="test accuracy", ylim=(0, 1.02),
           title="Accuracy versus palindrome length (mean over seeds, band min-max)")
    ax.legend(fontsize=8, loc="lower left")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out / "accuracy_vs_length.png", dpi=120)
    plt.close(fig)
    (out / "accuracy_vs_length.md").write_text(markdown_table(
        ["model", "T", "mean accuracy", "min", "max", "seeds", "mean steps"], table), encoding="utf-8")
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--models", nargs="+", choices=list(MODELS), default=list(MODELS), help="models to study")
    p.add_argument("--lengths", nargs="+", type=int, default=None,
                   help="input lengths T (default: 5..100, the baseline 5..50, --quick 5, 10, 20)")
    p.add_argument("--seeds", nargs="+", type=int, default=None, help="seeds per cell (default 0 1 2; --quick 0)")
    p.add_argument("--quick", action="store_true", help="short lengths, one seed, small budgets: minutes")
    p.add_argument("--baseline", action="store_true", help="the assignment's default training parameters")
    p.add_argument("--curriculum", action="store_true",
                   help="each length warm-started from the next shorter one (per model and seed, in order)")
    p.add_argument("--workers", type=int, default=1, help="cells (curriculum: chains) in parallel processes")
    p.add_argument("--device", default="cpu", help="device of every run (auto, cpu, cuda)")
    p.add_argument("--max_steps", type=int, default=None, help="cap every recipe's step budget (smoke runs)")
    p.add_argument("--checkpoint_every", type=int, default=200, help="checkpoint every run this often")
    p.add_argument("--out_dir", default="results/length_study", help="output folder")
    p.add_argument("--quiet", action="store_true", help="no line per finished cell")
    p.add_argument("--count", action="store_true", help="print the number of cells (SLURM array size) and exit")
    p.add_argument("--task_from_env", action="store_true", help="run only cell $SLURM_ARRAY_TASK_ID of the grid")
    args = p.parse_args(argv)
    args.seeds = args.seeds or ([0] if args.quick else [0, 1, 2])
    if (args.lengths and min(args.lengths) < 2) or len(set(args.seeds)) != len(args.seeds) or min(args.seeds) < 0:
        p.error("every length must be at least 2 and the seeds distinct non-negative integers")
    if args.baseline and args.curriculum:
        p.error("--baseline and --curriculum are separate studies; run them one at a time")
    if args.curriculum and args.task_from_env:
        p.error("--curriculum trains each (model, seed) chain in order; it has no SLURM array path")
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        p.error(f"--device {args.device}: CUDA is not available here; use --device cpu")
    kind = "curriculum" if args.curriculum else "baseline" if args.baseline else "tuned"
    cells = grid(args)
    if args.count:
        return print(len(cells))
    if args.task_from_env:
        task = os.environ.get("SLURM_ARRAY_TASK_ID", "")
        if not (task.isdigit() and int(task) < len(cells)):
            p.error(f"--task_from_env needs SLURM_ARRAY_TASK_ID in 0..{len(cells) - 1}, got {task!r}")
        cells = [cells[int(task)]]
    out = Path(args.out_dir)
    if (out / "config.json").exists():  # rows made with other budgets must not mix
        before = read_json(out / "config.json")["args"]
        for key in ("quick", "max_steps"):
            if before.get(key) != getattr(args, key):
                p.error(f"'{out}' holds a study made with --{key} {before.get(key)}, not "
                        f"{getattr(args, key)}; pass another --out_dir")
    out.mkdir(parents=True, exist_ok=True)
    args.threads = max(1, torch.get_num_threads() // args.workers)
    write_json(out / "config.json", {"args": vars(args), "environment": environment_info(), "recipes": {
        f"{m}_T{t}": recipe(m, t, args.quick, args.baseline) for m, t, _ in cells}})
    todo = [c for c in cells if not (out / "cells" / f"{cell_name(*c, kind)}.json").exists()]
    print(f"{len(cells)} {'' if kind == 'tuned' else kind + ' '}cells, {len(cells) - len(todo)} "
          f"already done, {len(todo)} to run with {args.workers} worker(s)", flush=True)
    jobs = sorted({(m, s) for m, _, s in todo}) if args.curriculum else todo
    if args.workers == 1:
        results = (run_job(args, kind, job) for job in jobs)
    else:
        pool = ProcessPoolExecutor(args.workers)
        results = (f.result() for f in [pool.submit(run_job, args, kind, job) for job in jobs])
    interrupted = False
    for rows in results:
        for r in rows:
            interrupted |= r["status"] == "interrupted"
            if not (args.quiet or r["status"] == "interrupted"):
                print(f"{r['model_type']:4s} T={r['input_length']:3d} seed={r['seed']}: accuracy "
                      f"{r['test_accuracy']:.4f} after {r['steps']} steps ({r['train_seconds']:.0f} s, "
                      f"{r['status']})", flush=True)
        if interrupted:
            break
    if args.workers > 1:
        pool.shutdown(cancel_futures=True)
    rows = write_results(out) if any((out / "cells").glob("*.json")) else []
    print(f"{len(rows)} rows in {out / 'results.csv'}; figure {out / 'accuracy_vs_length.png'}")
    if interrupted:
        print("interrupted: the cut cell keeps its checkpoint; rerun the same command to resume", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except UserError as exc:
        sys.exit(print(f"error: {exc}", file=sys.stderr) or 2)
