"""``python -m grading``: grade one submission (a report) or a folder of them (a CSV and JSONs).

    python -m grading path/to/submission                 # a student checks their own work
    python -m grading --batch path/to/submissions        # a TA grades everyone's
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tqdm import tqdm

from grading import GradingError, sandbox
from grading.batch import CSV_NAME, grade_batch
from grading.grade import grade_submission
from grading.report import format_report, write_json
from grading.rubric import DEFAULT_RUBRIC, load_rubric, select_checks

EXIT_USER_ERROR, EXIT_INTERRUPTED = 2, 130


def _positive(kind):
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"'{text}' is not a valid {kind.__name__}") from None
        if not 0 < value < float("inf"):
            raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
        return value
    return parse


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m grading", formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description="Check a submission of assignment 2 (part1/, part2/ as in the course skeleton), or "
                    "grade a folder of submissions. Every check runs in its own process on a copy of the "
                    "submission with a time and a memory limit (isolation against accidents, not a "
                    "security sandbox).")
    parser.add_argument("submission", nargs="?", type=Path,
                        help="a submission folder holding part1/ and part2/ (omit with --batch)")
    parser.add_argument("--batch", type=Path, metavar="DIR",
                        help="grade every folder inside DIR instead of one submission")
    parser.add_argument("--rubric", type=Path, default=DEFAULT_RUBRIC, help="TOML file with the points per check")
    parser.add_argument("--only", default="all",
                        help="checks to run: all, or a comma-separated list of names, parts (part1, part2) "
                             "and patterns ('lstm_*')")
    parser.add_argument("--timeout", type=_positive(float), default=sandbox.Limits.timeout,
                        help="seconds of wall time per check")
    parser.add_argument("--memory_gb", type=_positive(float), default=sandbox.Limits.memory_gb,
                        help="address-space limit per check in GB (torch alone maps about 1 GB)")
    parser.add_argument("--workers", type=_positive(int), default=1,
                        help="checks (one submission) or submissions (--batch) run at the same time")
    parser.add_argument("--out_dir", type=Path, default=Path("results/grading"),
                        help=f"--batch: where the JSON per submission and {CSV_NAME} go")
    parser.add_argument("--json", type=Path, metavar="FILE", help="one submission: also write the result as JSON")
    parser.add_argument("--force", action="store_true", help="--batch: grade again what is already finished")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def single(args, checks, rubric, limits) -> None:
    with tqdm(total=len(checks), desc="checks", unit="check", disable=args.quiet, leave=False) as bar:
        result = grade_submission(args.submission, checks, rubric, limits, args.workers, bar.update)
    print(format_report(result))
    if args.json:
        write_json(result, args.json)


def batch(args, checks, rubric, limits) -> None:
    results, skipped = grade_batch(args.batch, args.out_dir, checks, rubric, limits,
                                   args.workers, args.force, args.quiet)
    for result in results:
        print(f"{result['submission']}: {result['total']:g} / {result['max']:g} ({result['percent']:.1f}%)")
    finished = f"; {skipped} already finished (--force grades them again)" if skipped else ""
    print(f"{len(results)} submission(s) -> {args.out_dir / CSV_NAME}{finished}")


def main(argv=None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    if (args.submission is None) == (args.batch is None):
        parser.error("give either a SUBMISSION folder or --batch DIR")
    checks, rubric = select_checks(args.only), load_rubric(args.rubric)
    limits = sandbox.Limits(timeout=args.timeout, memory_gb=args.memory_gb)
    (batch if args.batch else single)(args, checks, rubric, limits)


def run() -> None:
    """``main`` with one-line errors: exit 2 for the user's mistakes (and files that cannot be
    written), 130 on Ctrl-C."""
    try:
        main()
    except GradingError as exc:
        print(f"error: {' '.join(str(exc).split())}", file=sys.stderr)
        sys.exit(EXIT_USER_ERROR)
    except OSError as exc:  # e.g. an --out_dir or --json that cannot be written
        print(f"error: {exc.strerror or exc}: {exc.filename or ''}", file=sys.stderr)
        sys.exit(EXIT_USER_ERROR)
    except KeyboardInterrupt:
        sandbox.stop_all()
        print("interrupted", file=sys.stderr)
        sys.exit(EXIT_INTERRUPTED)


if __name__ == "__main__":
    run()
