"""Accuracy versus palindrome length for the VanillaRNN and the LSTM (questions 1.3 and 1.6).

Every cell of the grid (model, length, seed) trains a model from scratch with the recipe of
:func:`part1.recipes.recipe`, scores it on a large fixed held-out set and writes one row. Rows are
kept one file per cell under ``<out_dir>/cells/`` (written atomically, only once a run has finished),
merged into ``<out_dir>/results.csv``, summarised in ``<out_dir>/summary.json`` and plotted to
``<out_dir>/accuracy_vs_length.png`` with a Markdown table (``part1/study.py`` does the work).

    python part1/length_study.py --quick             # a few minutes: short lengths, one seed
    python part1/length_study.py                     # the full study (lengths 5..100, 3 seeds)
    python part1/length_study.py --workers 2         # cells in parallel processes
    python part1/length_study.py --write_sbatch study.sbatch   # a SLURM job array, one cell a task
    SLURM_ARRAY_TASK_ID=7 python part1/length_study.py --task_from_env   # what one array task runs
    python part1/length_study.py --curriculum --workers 2   # the curriculum variant (below)
    python part1/length_study.py --baseline --workers 2     # the assignment's default training parameters (below)

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

Baseline series (``--baseline``), also a separate study: every cell trains from scratch with
:func:`part1.recipes.baseline_recipe`, the assignment's default training parameters (learning rate
1e-3, uniform W_hh for the RNN, no chrono for the LSTM) instead of the tuned recipe, over lengths 5,
10, 15, 20, 30, 40, 50 unless ``--lengths`` or ``--quick`` say otherwise. Its cells are named
``..._base``, its rows carry ``recipe`` "baseline" and its series are "RNN (baseline)" and "LSTM
(baseline)", so it too shares ``--out_dir``. Resume, ``--workers`` and the SLURM path work as for
the tuned study; not with ``--curriculum``.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from functools import partial
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common.args import make_parser, nonnegative_int, positive_int
from common.io import read_json, write_json
from common.runtime import (EXIT_INTERRUPTED, UserError, environment_info, resolve_device,
                            run_main)
from part1.recipes import recipe
from part1.study import (Settings, cell_name, chains, grid, merge, row_file, run_cell, run_chain,
                         sbatch_script, threads_per_worker, write_report)

ROOT = Path(__file__).resolve().parents[1]


def build_parser() -> argparse.ArgumentParser:
    parser = make_parser(__doc__.split("\n\n")[0])
    grid_group = parser.add_argument_group("grid")
    grid_group.add_argument("--models", nargs="+", choices=["RNN", "LSTM"], default=["RNN", "LSTM"],
                            help="models to study")
    grid_group.add_argument("--lengths", nargs="+", type=positive_int, default=None,
                            help="input lengths T (default: 5..100, 13 lengths)")
    grid_group.add_argument("--seeds", nargs="+", type=nonnegative_int, default=[0, 1, 2],
                            help="seeds per cell (--quick: 0 only, unless given)")
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
    grid_group.add_argument("--baseline", action="store_true",
                            help="the baseline series, a separate study: the assignment's default "
                                 "training parameters (part1/recipes.baseline_recipe) over lengths "
                                 "5..50; its cells are named *_base and its rows and series are "
                                 "labelled baseline, so it can share --out_dir; not with "
                                 "--curriculum")
    run_group = parser.add_argument_group("running")
    run_group.add_argument("--workers", type=positive_int, default=1,
                           help="cells trained in parallel processes, sharing the CPU threads")
    run_group.add_argument("--device", default="cpu", help="device of every run (auto, cpu, cuda)")
    run_group.add_argument("--max_steps", type=positive_int, default=None,
                           help="cap every recipe's step budget (smoke runs)")
    run_group.add_argument("--checkpoint_every", type=positive_int, default=200,
                           help="checkpoint every run this often, so a killed study resumes")
    run_group.add_argument("--out_dir", default="results/length_study", help="output folder")
    run_group.add_argument("--quiet", action="store_true",
                           help="no progress bar and no line per finished cell")
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
    if len(set(args.seeds)) != len(args.seeds):
        parser.error("--seeds must be distinct non-negative integers")
    if args.baseline and args.curriculum:
        parser.error("--baseline and --curriculum are separate studies; run them one at a time")
    if args.curriculum and (args.write_sbatch or args.task_from_env):
        parser.error("--curriculum runs each (model, seed) chain of lengths in order and is not "
                     "supported as a SLURM job array; drop --write_sbatch/--task_from_env")
    return args


def task_cells(cells: list) -> list:
    """The one cell of ``$SLURM_ARRAY_TASK_ID``, or a one-line error."""
    task = os.environ.get("SLURM_ARRAY_TASK_ID")
    if task is None or not task.isdigit() or int(task) >= len(cells):
        raise UserError(f"--task_from_env needs SLURM_ARRAY_TASK_ID in 0..{len(cells) - 1}, "
                        f"got {task!r}")
    return [cells[int(task)]]


def check_same_recipes(args, out: Path) -> None:
    """Refuse a folder that holds a study made with other recipes (its rows would mix)."""
    previous = out / "config.json"
    if previous.exists():
        before = read_json(previous)["args"]
        for key in ("quick", "max_steps"):
            if before.get(key) != getattr(args, key):
                raise UserError(f"'{out}' holds a study made with --{key} {before.get(key)}, "
                                f"not {getattr(args, key)}; its rows would mix recipes: pass "
                                "another --out_dir")


def report_row(bar, quiet: bool, row: dict) -> None:
    """Count a finished (or interrupted) cell on the bar and print its line."""
    bar.update(1)
    if "test_accuracy" in row and not quiet:
        print(f"{row['model_type']:4s} T={row['input_length']:3d} seed={row['seed']}: "
              f"accuracy {row['test_accuracy']:.4f} after {row['steps']} steps "
              f"({row['train_seconds']:.0f} s, {row['status']})", flush=True)


def interrupted(rows: list[dict]) -> bool:
    return any(row["status"] == "interrupted" for row in rows)


def run_curriculum(settings: Settings, cells: list, todo: list, workers: int, on_row) -> bool:
    """(model, seed) chains are the unit: a cell waits for its predecessor. Returns whether a
    signal interrupted a cell (the study then stops, as one cell stops its run)."""
    pending = {(model_type, seed) for model_type, _, seed in todo}
    runs = [chain for chain in chains(cells) if (chain[0], chain[2]) in pending]
    if workers == 1:
        for chain in runs:
            if interrupted(run_chain(settings, *chain, on_row=on_row)):
                return True
        return False
    rows = []
    with ProcessPoolExecutor(max_workers=workers) as pool:
        for future in as_completed([pool.submit(run_chain, settings, *chain) for chain in runs]):
            rows += future.result()
            for row in future.result():
                on_row(row)
    return interrupted(rows)


def run_cells(settings: Settings, todo: list, workers: int, on_row) -> bool:
    """The cells of ``todo``, one after another or ``workers`` at a time; returns whether a signal
    interrupted a cell (the study then stops, as one cell stops its run)."""
    rows = []
    if workers == 1:
        for cell in todo:
            rows.append(run_cell(settings, *cell))
            on_row(rows[-1])
            if interrupted(rows):
                return True
        return False
    with ProcessPoolExecutor(max_workers=workers) as pool:
        for future in as_completed([pool.submit(run_cell, settings, *cell) for cell in todo]):
            rows.append(future.result())
            on_row(rows[-1])
    return interrupted(rows)


def main() -> int:
    args = parse_args()
    out = Path(args.out_dir)
    cells = grid(args.models, args.lengths, args.seeds, args.quick, args.curriculum, args.baseline)
    if args.write_sbatch:
        Path(args.write_sbatch).write_text(sbatch_script(args, cells, ROOT), encoding="utf-8")
        (out / "slurm").mkdir(parents=True, exist_ok=True)  # SLURM does not create --output folders
        print(f"wrote {args.write_sbatch}: {len(cells)} array tasks; submit with "
              f"'sbatch {args.write_sbatch}', then rerun this command without --write_sbatch to merge")
        return 0
    if args.task_from_env:
        cells = task_cells(cells)
    resolve_device(args.device)  # a device this machine lacks is refused before anything is written
    check_same_recipes(args, out)
    # Array tasks write these files concurrently: each write replaces the file whole (atomic rename).
    write_json(out / "config.json", {"args": vars(args), "environment": environment_info(),
                                     "recipes": {f"{m}_T{t}": recipe(m, t, args.quick,
                                                                     args.baseline)
                                                 for m, t, _ in cells}})
    todo = [c for c in cells
            if not row_file(out, cell_name(*c, args.curriculum, args.baseline)).exists()]
    variant = "curriculum " if args.curriculum else "baseline " if args.baseline else ""
    print(f"{len(cells)} {variant}cells, "
          f"{len(cells) - len(todo)} already done, {len(todo)} to run with {args.workers} "
          "worker(s)", flush=True)
    settings = Settings(str(out), args.quick, threads_per_worker(args.workers), args.device,
                        args.max_steps, args.checkpoint_every, args.baseline)
    started = time.perf_counter()
    from tqdm import tqdm

    with tqdm(total=len(todo), desc="cells", disable=args.quiet or not sys.stderr.isatty()) as bar:
        on_row = partial(report_row, bar, args.quiet)
        stopped = (run_curriculum(settings, cells, todo, args.workers, on_row) if args.curriculum
                   else run_cells(settings, todo, args.workers, on_row))
    wall = time.perf_counter() - started
    rows = merge(out)
    if not args.task_from_env and rows:
        write_report(out, rows)
    print(f"{len(todo)} cells in {wall:.0f} s; {len(rows)} rows in {out / 'results.csv'}"
          + ("" if args.task_from_env else f"; figure {out / 'accuracy_vs_length.png'}"))
    write_json(out / "wall_time.json", {"cells_run": len(todo), "seconds": round(wall, 1),
                                        "workers": args.workers})
    if stopped:
        print("interrupted: the cut cell keeps its checkpoint; rerun the same command to resume",
              file=sys.stderr)
        return EXIT_INTERRUPTED
    return 0


if __name__ == "__main__":
    run_main(main)
