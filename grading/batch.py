"""Grade every submission of a course: a JSON per submission, the detailed CSV, a gradebook CSV, the
TA's manual-marks file and the pairs of identical files.

The submissions come from :mod:`grading.intake` (a folder of folders or zips, a Canvas bulk
download, a student's zip); archives are unpacked under ``OUT_DIR/unpacked/``. Submissions run in
parallel (``workers`` at a time, the checks of one submission one after the other). A submission
whose stored JSON has the same fingerprint (same files, grader code, checks and limits) is finished
and not run again unless ``force``; it is only re-scored with the current rubric and marks.
"""
from __future__ import annotations

import sys
from pathlib import Path

from tqdm import tqdm

from grading import similarity
from grading.grade import find_root, fingerprint, grade_submission, run_parallel, score
from grading.intake import Submission, submissions_from
from grading.official import MARKS_NAME, official, sync_marks
from grading.registry import Check
from grading.report import read_json, write_csv, write_gradebook, write_json
from grading.rubric import DEFAULT_RUBRIC, Question, load_questions
from grading.sandbox import Limits

CSV_NAME = "grades.csv"
GRADEBOOK_NAME = "gradebook.csv"


def grade_batch(source: Path, out_dir: Path, checks: list[Check], rubric: dict, limits: Limits,
                workers: int = 1, force: bool = False, quiet: bool = False,
                questions: list[Question] | None = None, scripts: bool = False) -> tuple[list[dict], int]:
    """Grade what is not finished; return every submission's result (in intake order) and how many
    were skipped as finished."""
    questions = questions if questions is not None else load_questions(DEFAULT_RUBRIC)
    submissions, notes = submissions_from(source, out_dir / "unpacked")
    for note in notes:
        print(note, file=sys.stderr)
    results, todo = {}, []
    for sub in submissions:
        stored = read_json(out_dir / f"{sub.name}.json")
        finished = stored and stored.get("fingerprint") == fingerprint(find_root(sub.path)[0], checks, limits, scripts)
        if finished and not force:
            results[sub.name] = score(stored, rubric)
        else:
            todo.append(sub)

    def grade(sub: Submission) -> dict:
        result = grade_submission(sub.path, checks, rubric, limits, scripts=scripts)
        result["submission"] = sub.name
        write_json(result, out_dir / f"{sub.name}.json")
        return result

    with tqdm(total=len(todo), desc="submissions", unit="sub", disable=quiet) as bar:
        for sub, result in zip(todo, run_parallel(grade, todo, workers, bar.update)):
            results[sub.name] = result
    ordered = [results[sub.name] for sub in submissions]
    pairs = similarity.identical_pairs({r["submission"]: Path(r["root"]) for r in ordered})
    similarity.write_pairs(pairs, out_dir / similarity.PAIRS_NAME)
    flagged = similarity.per_submission(pairs)
    for sub, result in zip(submissions, ordered):
        result["intake"] = sub.record()
        result["identical_to"] = flagged.get(sub.name, [])
    marks = sync_marks(out_dir / MARKS_NAME, [{"submission": r["submission"], **r["intake"]} for r in ordered], questions)
    for result in ordered:
        result["official"] = official(result, questions, marks.get(result["submission"]))
        write_json(result, out_dir / f"{result['submission']}.json")
    write_csv(ordered, checks, out_dir / CSV_NAME)
    write_gradebook(ordered, out_dir / GRADEBOOK_NAME)
    return ordered, len(submissions) - len(todo)
