"""The assignment's own points: the checks fill the code share of their question, the TA's marks of
the written answers (a CSV the kit creates and the TA fills in) the rest.

A question's code share is earned in proportion to the rubric points of its checks that pass (a
skipped check counts in neither, as in the kit's own score). The manual-marks file has one row per
submission and one column per question with a written share; an empty cell is not marked yet.
"""
from __future__ import annotations

import csv
from pathlib import Path

from grading import GradingError
from grading.report import atomic_write
from grading.rubric import Question

MARKS_NAME = "manual_marks.csv"
ID_COLUMNS = ("submission", "student", "user_id")
MAX_ROW = "(max)"  # the first row holds each question's written share, for the TA's eye


def check_points(result: dict, questions: list[Question]) -> dict[str, tuple[float, float]]:
    """``{check: (points, max points)}`` on the assignment's scale: a question's code share split
    over its counted checks in proportion to their rubric points."""
    rows = {row["name"]: row for row in result["checks"]}
    scaled = {}
    for question in questions:
        counted = [rows[name] for name in question.checks if name in rows and rows[name]["status"] != "skip"]
        total = sum(row["max_points"] for row in counted)
        for row in counted:
            share = question.code * row["max_points"] / total if total else 0.0
            scaled[row["name"]] = (share if row["status"] == "pass" else 0.0, share)
    return scaled


def official(result: dict, questions: list[Question], marks: dict[str, float | None] | None = None) -> dict:
    """Per question the code points, the TA's mark and their sum; the totals; what is unmarked."""
    scaled, marks = check_points(result, questions), marks or {}
    ran = {row["name"] for row in result["checks"]}
    table, unmarked = {}, []
    for question in questions:
        code = sum(scaled[name][0] for name in question.checks if name in scaled)
        written = marks.get(question.key) if question.written else 0.0
        if written is None:
            unmarked.append(question.key)
        table[question.key] = {"code": round(code, 2), "code_max": question.code if ran & set(question.checks) else 0,
                               "written": written, "points": round(code + (written or 0), 2),
                               "max": question.points, "bonus": question.bonus}
    code_total = round(sum(q["code"] for q in table.values()), 2)
    written_total = round(sum(q["written"] or 0 for q in table.values()), 2)
    return {"questions": table, "code": code_total, "code_max": sum(q["code_max"] for q in table.values()),
            "written": written_total, "grade": round(code_total + written_total, 2),
            "max": sum(q.points for q in questions if not q.bonus), "unmarked": unmarked}


def written_questions(questions: list[Question]) -> list[Question]:
    return [q for q in questions if q.written > 0]


def _mark(text: str, question: Question, who: str, path: Path) -> float | None:
    text = text.strip()
    if not text:
        return None
    try:
        value = float(text.replace(",", "."))
    except ValueError:
        raise GradingError(f"{path}: {who}, question {question.key}: '{text}' is not a number") from None
    if not 0 <= value <= question.written:
        raise GradingError(f"{path}: {who}, question {question.key}: {text} is outside 0-{question.written:g}, "
                           f"the TA's share of the question")
    return value


def read_marks(path: Path, questions: list[Question]) -> tuple[dict[str, dict], list[dict]]:
    """``{submission: {question: mark or None}}`` and the file's rows as read (for rewriting it)."""
    if not path.exists():
        return {}, []
    with open(path, encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        rows = list(reader)
    if "submission" not in (reader.fieldnames or []):
        raise GradingError(f"{path}: no 'submission' column in its first line (saved with ';' instead of ','? "
                           "save it as comma-separated CSV)")
    wanted = {q.key: q for q in written_questions(questions)}
    marks = {}
    for row in rows:
        name = (row.get("submission") or "").strip()
        if not name or name == MAX_ROW:
            continue
        marks[name] = {key: _mark(row.get(key) or "", q, f"row '{name}'", path) for key, q in wanted.items()}
    return marks, rows


def sync_marks(path: Path, submissions: list[dict], questions: list[Question]) -> dict[str, dict]:
    """Read the TA's marks, adding a row for every submission the file lacks (marks typed so far are
    kept as they are); the file is created on the first batch run."""
    marks, rows = read_marks(path, questions)
    keys = [q.key for q in written_questions(questions)]
    known = {row.get("submission") for row in rows}
    new = [s for s in submissions if s["submission"] not in known]
    if new or not rows:
        header = [*ID_COLUMNS, *keys, "comment"]
        kept = [row for row in rows if row.get("submission") != MAX_ROW]
        added = [{"submission": s["submission"], "student": s.get("student", ""), "user_id": s.get("user_id", "")}
                 for s in new]
        maxima = {"submission": MAX_ROW, **{q.key: f"{q.written:g}" for q in written_questions(questions)}}

        def write(handle) -> None:
            writer = csv.DictWriter(handle, header, extrasaction="ignore")
            writer.writeheader()
            writer.writerows([maxima, *kept, *added])
        atomic_write(path, write)
        marks.update({s["submission"]: dict.fromkeys(keys) for s in new})
    return marks
