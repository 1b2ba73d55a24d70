"""``python -m grading``: grade one submission (a report) or a course's (CSVs and JSONs), or write a
Gradescope autograder.

    python -m grading path/to/submission                 # a student checks their own work (or its zip)
    python -m grading --batch submissions.zip            # a TA grades everyone's (folder, Canvas zip)
    python -m grading --gradescope_bundle autograder/    # setup.sh, run_autograder, the kit, the rubric
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tqdm import tqdm

from grading import GradingError, sandbox
from grading.batch import CSV_NAME, GRADEBOOK_NAME, grade_batch
from grading.grade import grade_submission
from grading.intake import unpack_one
from grading.official import MARKS_NAME, official
from grading.deliverables import SCRIPTS
from grading.report import format_report, write_json
from grading.rubric import DEFAULT_RUBRIC, load_questions, load_rubric, select_checks
from grading.similarity import PAIRS_NAME

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
        description="Check a submission of assignment 2 (part1/, part2/ as in the course skeleton; a folder "
                    "or its zip), grade a course's (a folder of them, a Canvas bulk download), or write a "
                    "Gradescope autograder. Every check runs in its own process on a copy of the "
                    "submission with a time and a memory limit (isolation against accidents, not a "
                    "security sandbox).")
    parser.add_argument("submission", nargs="?", type=Path,
                        help="a submission folder holding part1/ and part2/ (or part_1/, part_2/, at any depth), "
                             "or its zip (omit with --batch)")
    parser.add_argument("--batch", type=Path, metavar="SOURCE",
                        help="grade a course's submissions: a folder of folders or zips, a Canvas bulk-download "
                             "zip (or its unpacked folder), or one student's zip")
    parser.add_argument("--gradescope_bundle", type=Path, metavar="OUT",
                        help="write a Gradescope autograder (setup.sh, run_autograder, the kit, the rubric) to "
                             "OUT/ and OUT/autograder.zip")
    parser.add_argument("--rubric", type=Path, default=DEFAULT_RUBRIC,
                        help="TOML file with the points per check and the assignment's questions")
    parser.add_argument("--deliverables", action=argparse.BooleanOptionalAction, default=None,
                        help="also run the student's part1/train.py, grads_over_time.py and part2/train.py for a "
                             "few steps (reported, not scored); by default with --only all")
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
                        help=f"--batch: where the JSON per submission, {CSV_NAME}, {GRADEBOOK_NAME}, {MARKS_NAME} "
                             f"(the TA's marks) and {PAIRS_NAME} go")
    parser.add_argument("--json", type=Path, metavar="FILE", help="one submission: also write the result as JSON")
    parser.add_argument("--force", action="store_true", help="--batch: grade again what is already finished")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def single(args, checks, rubric, limits, scripts: bool) -> None:
    path, unpacked = args.submission, None
    if path.is_file():
        path, unpacked = unpack_one(path)
    try:
        with tqdm(total=len(checks) + scripts * len(SCRIPTS), desc="checks", unit="check", disable=args.quiet,
                  leave=False) as bar:
            result = grade_submission(path, checks, rubric, limits, args.workers, bar.update, scripts)
    finally:
        if unpacked:
            unpacked.cleanup()
    result["path"] = str(args.submission)
    result["official"] = official(result, args.questions)
    print(format_report(result))
    if args.json:
        write_json(result, args.json)


def batch(args, checks, rubric, limits, scripts: bool) -> None:
    results, skipped = grade_batch(args.batch, args.out_dir, checks, rubric, limits, args.workers, args.force,
                                   args.quiet, args.questions, scripts)
    for result in results:
        late = " (late)" if result["intake"]["late"] else ""
        lacking = f"; missing {', '.join(result['missing'])}" if result["missing"] else ""
        problem = f"; {result['intake']['problem']}" if result["intake"]["problem"] else ""
        print(f"{result['submission']}{late}: {result['total']:g} / {result['max']:g} ({result['percent']:.1f}%), "
              f"assignment points {result['official']['grade']:g}{lacking}{problem}")
    pairs = sum(len(r["identical_to"]) for r in results) // 2
    finished = f"; {skipped} already finished (--force grades them again)" if skipped else ""
    print(f"{len(results)} submission(s) -> {args.out_dir / CSV_NAME}, {args.out_dir / GRADEBOOK_NAME}; the TA's "
          f"marks go into {args.out_dir / MARKS_NAME}{finished}")
    if pairs:
        print(f"{pairs} pair(s) of identical files: {args.out_dir / PAIRS_NAME}")


def main(argv=None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    modes = [args.submission is not None, args.batch is not None, args.gradescope_bundle is not None]
    if sum(modes) != 1:
        parser.error("give either a SUBMISSION folder or --batch SOURCE, or --gradescope_bundle OUT "
                     "(a student's zip works as SUBMISSION too)")
    checks, rubric = select_checks(args.only), load_rubric(args.rubric)
    args.questions = load_questions(args.rubric)  # a bad question table fails before any grading
    if args.gradescope_bundle:
        from grading.gradescope import write_bundle
        print(write_bundle(args.gradescope_bundle, args.rubric))
        return
    limits = sandbox.Limits(timeout=args.timeout, memory_gb=args.memory_gb)
    scripts = args.deliverables if args.deliverables is not None else args.only.strip() == "all"
    (batch if args.batch else single)(args, checks, rubric, limits, scripts)


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
