"""Reproduce every figure, table and number of the report with one command.

    python reproduce.py --quick     # short budgets, ~3 minutes on 2 cores: results/report_quick/
    python reproduce.py --smoke     # tiny budgets, for tests and CI: results/report_smoke/
    python reproduce.py             # the full run (about an hour on 2 cores): report/
    python reproduce.py --only part2_train,part2_samples --force   # redo some pieces

A quick or smoke run is a preview beside the committed report, never over it: only the full run
writes ``report/`` (``--out_dir`` chooses another folder in any mode). Each piece runs the parts' own
command-line scripts as subprocesses -- exactly what a user would type -- with their raw outputs
under ``<out_dir>/.cache/<piece>/`` (log included). The figures and tables the report uses are then
copied or derived into ``<out_dir>/figures/`` and ``<out_dir>/tables/``, key numbers into
``<out_dir>/values.json``, and ``report/REPORT.template.md`` is rendered into ``<out_dir>/REPORT.md``
(pieces: ``report/pieces.py``; collectors: ``report/part1.py``, ``part2.py``, ``part3.py``).

Resuming: a finished piece leaves ``<out_dir>/.cache/<piece>/done.json`` holding the hash of its
configuration (mode, commands); the next run skips it unless ``--force`` is given or its
configuration changed. An interrupted piece continues where its scripts can (the length study and
the trainers resume from their own checkpoints).
"""
from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent))

from common.args import make_parser, positive_int
from common.io import prepare_out_dir
from common.runtime import UserError, environment_info, run_main
from report.pieces import MODES, PIECE_NAMES, PIECES
from report.render import TEMPLATE, render_report
from report.runner import PieceFailed, code_version, run_piece, write_run_info
from report.store import ROOT, Context

DEFAULT_OUT = {"full": ROOT / "report", "quick": ROOT / "results" / "report_quick",
               "smoke": ROOT / "results" / "report_smoke"}


def parse_only(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in PIECE_NAMES]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"unknown piece(s) {', '.join(unknown) or '(none)'}; "
                                         f"choose from {', '.join(PIECE_NAMES)}")
    return names


def build_parser() -> argparse.ArgumentParser:
    parser = make_parser("Run every experiment of the report and render its REPORT.md.")
    parser.allow_abbrev = False
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true",
                      help="short budgets (about 3 minutes on 2 cores), into results/report_quick/")
    mode.add_argument("--smoke", action="store_true", help="tiny budgets for tests and CI (the "
                      "numbers mean nothing), into results/report_smoke/")
    parser.add_argument("--out_dir", type=Path, default=None,
                        help="folder for figures/, tables/, values.json, REPORT.md and .cache/; "
                             "when not given: report/ for the full run, results/report_quick/ or "
                             "results/report_smoke/")
    parser.add_argument("--txt_file", type=Path, default=None,
                        help="the book of part 2; when not given: the shipped "
                             "assets/book_EN_grimms_fairy_tails.txt")
    parser.add_argument("--force", action="store_true",
                        help="rerun the selected pieces even if they are done")
    parser.add_argument("--only", type=parse_only, default=None, metavar="PIECES",
                        help=f"comma-separated subset of: {', '.join(PIECE_NAMES)}")
    parser.add_argument("--workers", type=positive_int, default=1,
                        help="parallel worker processes of the length study (experiments/length_study.py "
                             "--workers); results do not depend on it")
    parser.add_argument("--quiet", action="store_true",
                        help="print only failures and the closing lines, no progress")
    parser.add_argument("--list", action="store_true", help="list the pieces and exit")
    return parser


def _terminate(signum, frame):
    raise KeyboardInterrupt  # handled like Ctrl-C: the running child is stopped, run_main exits 130


def make_context(args: argparse.Namespace) -> Context:
    mode = "smoke" if args.smoke else "quick" if args.quick else "full"
    txt_file = None  # checked before anything is written
    if args.txt_file is not None:
        txt_file = args.txt_file.resolve()
        if not txt_file.is_file():
            raise UserError(f"--txt_file '{args.txt_file}' is not a file")
    out = prepare_out_dir(args.out_dir or DEFAULT_OUT[mode]).resolve()
    for sub in ("figures", "tables", ".cache"):
        prepare_out_dir(out / sub)
    return Context(out=out, mode=mode, cfg=MODES[mode], workers=args.workers, txt_file=txt_file,
                   commit=code_version())


class Progress:
    """Lines about the pieces: a tqdm bar on a terminal, plain lines otherwise, none with --quiet."""

    def __init__(self, total: int, mode: str, quiet: bool):
        from tqdm import tqdm

        self.quiet, self.tty = quiet, sys.stderr.isatty()
        self.bar = tqdm(total=total, desc=f"reproduce ({mode})", unit="piece",
                        disable=quiet or not self.tty)

    def say(self, message: str, always: bool = False) -> None:
        if self.quiet and not always:
            return
        if self.tty and not self.quiet:
            self.bar.write(message)
        else:
            print(message, flush=True)

    def step(self, name: str) -> None:
        self.bar.set_postfix_str(name)
        self.bar.update(1)


def run_pieces(ctx: Context, selected: list, force: bool, progress: Progress) -> tuple[dict, list]:
    """Run and collect every selected piece; a failure is reported and the others still run."""
    records, failed = {}, []
    for piece in selected:
        missing = [n for n in piece.needs if n in failed]
        try:
            if missing:
                raise PieceFailed(f"needs {', '.join(missing)}, which failed")
            records[piece.name] = run_piece(ctx, piece, force, progress.say)
            piece.collect(ctx)
        except (PieceFailed, UserError, OSError) as exc:
            progress.say(f"[fail] {piece.name}: {' '.join(str(exc).split())}", always=True)
            failed.append(piece.name)
        except Exception as exc:  # a bug or an output format we do not understand: keep going
            progress.say(f"[fail] {piece.name}: {type(exc).__name__}: {' '.join(str(exc).split())}",
                         always=True)
            failed.append(piece.name)
        progress.step(piece.name)
    progress.bar.close()
    return records, failed


def shown(path: Path) -> str:
    """``path`` relative to the current folder when it is below it (what a user would type)."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def say_where(ctx: Context) -> None:
    """The closing lines: where the report is and how to read it."""
    report = shown(ctx.out / "REPORT.md")
    preview = "" if ctx.mode == "full" else (f" ({ctx.mode} budgets, a preview; the full run's "
                                             f"report is {shown(DEFAULT_OUT['full'] / 'REPORT.md')})")
    print(f"report: {report}{preview}")
    print(f"open it in a Markdown viewer, e.g. in VS Code: code {report}, then Ctrl+Shift+V")


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    if args.list:
        for p in PIECES:
            print(f"{p.name:14s} {p.what}")
        return 0
    ctx = make_context(args)
    selected = [p for p in PIECES if args.only is None or p.name in args.only]
    progress = Progress(len(selected), ctx.mode, args.quiet)
    progress.say(f"mode {ctx.mode}: {len(selected)} piece(s) into {shown(ctx.out)}")
    begin = time.perf_counter()
    records, failed = run_pieces(ctx, selected, args.force, progress)
    write_run_info(ctx, PIECES, records, environment_info())
    problems = render_report(TEMPLATE, ctx.out, warn=args.only is None)
    ran = sum(r["status"] == "ran" for r in records.values())
    print(f"{ran} piece(s) ran, {len(records) - ran} skipped, {len(failed)} failed "
          f"in {time.perf_counter() - begin:.0f} s")
    if problems and args.only is not None and not failed:
        print(f"note: {len(problems)} placeholder(s) still unfilled (pieces not run yet with --only)")
    say_where(ctx)
    if failed:
        raise UserError(f"piece(s) failed: {', '.join(failed)}; see their log.txt under "
                        f"{shown(ctx.out / '.cache')}")
    if problems and args.only is None:
        raise UserError(f"REPORT.md has {len(problems)} unfilled placeholder(s), e.g. {problems[0]}")
    return 0


if __name__ == "__main__":
    run_main(main)
