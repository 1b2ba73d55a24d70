"""Grade every submission folder inside a directory: a JSON per submission and one CSV.

Submissions run in parallel (``workers`` at a time, the checks of one submission one after the
other). A submission whose stored JSON has the same fingerprint (same files, grader code, checks and
limits) is finished and not run again unless ``force``; it is only re-scored with the current rubric.
"""
from __future__ import annotations

from pathlib import Path

from tqdm import tqdm

from grading import GradingError
from grading.grade import find_root, fingerprint, grade_submission, run_parallel, score
from grading.registry import Check
from grading.report import read_json, write_csv, write_json
from grading.sandbox import Limits

CSV_NAME = "grades.csv"


def submissions_in(batch_dir: Path, out_dir: Path) -> list[Path]:
    if not batch_dir.is_dir():
        raise GradingError(f"batch folder '{batch_dir}' does not exist or is not a folder")
    found = sorted(p for p in batch_dir.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))
                   and p.resolve() != out_dir.resolve())
    if not found:
        raise GradingError(f"no submission folders in '{batch_dir}'")
    return found


def grade_batch(batch_dir: Path, out_dir: Path, checks: list[Check], rubric: dict, limits: Limits,
                workers: int = 1, force: bool = False, quiet: bool = False) -> tuple[list[dict], int]:
    """Grade what is not finished; return every submission's result (in folder order) and how many
    were skipped as finished."""
    submissions = submissions_in(batch_dir, out_dir)
    results, todo = {}, []
    for submission in submissions:
        stored = read_json(out_dir / f"{submission.name}.json")
        finished = stored and stored.get("fingerprint") == fingerprint(find_root(submission)[0], checks, limits)
        if finished and not force:
            results[submission.name] = score(stored, rubric)
        else:
            todo.append(submission)

    def grade(submission: Path) -> dict:
        result = grade_submission(submission, checks, rubric, limits)
        write_json(result, out_dir / f"{submission.name}.json")
        return result

    with tqdm(total=len(todo), desc="submissions", unit="sub", disable=quiet) as bar:
        for submission, result in zip(todo, run_parallel(grade, todo, workers, bar.update)):
            results[submission.name] = result
    ordered = [results[submission.name] for submission in submissions]
    for submission, result in zip(submissions, ordered):
        if submission not in todo:  # re-scored: the rubric may have changed since
            write_json(result, out_dir / f"{submission.name}.json")
    write_csv(ordered, checks, out_dir / CSV_NAME)
    return ordered, len(submissions) - len(todo)
