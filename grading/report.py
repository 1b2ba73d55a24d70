"""The outputs: a readable report for one submission, a JSON per submission, a CSV for a batch."""
from __future__ import annotations

import csv
import json
import os
from pathlib import Path

from grading.registry import Check

PART_TITLES = {"part1": "Part 1 - palindromes, VanillaRNN, LSTM", "part2": "Part 2 - TextDataset, TextGenerationModel"}


def _points(value) -> str:
    return "-" if value is None else f"{value:g}"


def _row(row: dict, width: int) -> str:
    points = f"{_points(row['points'])}/{_points(row['max_points'])}" if "max_points" in row else ""
    return f"  {row['status'].upper():4}  {points:>5}  {row['name']:<{width}}  {row['message']}"


def format_report(result: dict) -> str:
    """One line per check: status, points, name, message; then the total, the student's scripts run
    (not scored), what the submission lacks and the assignment's points from the code."""
    lines = [f"Grading {result['path']}" + (f" ({result['note']})" if result["note"] else "")]
    deliverables = result.get("deliverables", [])
    width = max(len(row["name"]) for row in [*result["checks"], *deliverables])
    for part, title in PART_TITLES.items():
        rows = [row for row in result["checks"] if row["part"] == part]
        if rows:
            lines += ["", title]
        lines += [_row(row, width) for row in rows]
    skipped = sum(row["status"] == "skip" for row in result["checks"])
    lines += ["", f"Total: {_points(result['total'])} / {_points(result['max'])} ({result['percent']:.1f}%)"
              + (f"; {skipped} skipped check(s) count in neither" if skipped else "")]
    if deliverables:
        lines += ["", "The student's scripts, run (not scored; for the TA)"] + [_row(row, width) for row in deliverables]
    if result.get("missing"):
        lines += ["", "Missing from the deliverables: " + ", ".join(result["missing"])]
    if "official" in result:
        sheet = result["official"]
        shares = ", ".join(f"{key}: {q['code']:g}/{q['code_max']:g}" for key, q in sheet["questions"].items()
                           if q["code_max"])
        lines += [f"Assignment points from the code: {sheet['code']:g} of {sheet['code_max']:g} ({shares}); the "
                  "rest of the assignment's 100 (the written answers) is the TA's"]
    return "\n".join(lines)


def atomic_write(path: Path, write) -> None:
    """Write through a temporary file, so an interrupted run never leaves half a file behind."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    with open(temporary, "w", encoding="utf-8", newline="") as handle:
        write(handle)
    os.replace(temporary, path)


def write_json(result: dict, path: Path) -> None:
    atomic_write(path, lambda handle: json.dump(result, handle, indent=2, ensure_ascii=False))


def read_json(path: Path) -> dict | None:
    """A stored result, or None when there is none or it cannot be read."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def write_csv(results: list[dict], checks: list[Check], path: Path) -> None:
    """A row per submission: who and what was handed in, points per check (empty when skipped), the
    kit's total, then per question of the assignment its points (code + the TA's mark), the grade and
    the questions not marked yet, and the submissions with identical files."""
    keys = list(results[0].get("official", {}).get("questions", {})) if results else []

    def write(handle) -> None:
        writer = csv.writer(handle)
        writer.writerow(["submission", "student", "user_id", "late", "files", "missing",
                         *(check.name for check in checks), "total", "max", "percent",
                         *(f"q{key}" for key in keys), "code_points", "written_points", "grade", "unmarked",
                         "deliverables_failed", "identical_to"])
        for result in results:
            points = {row["name"]: row["points"] for row in result["checks"]}
            intake, sheet = result.get("intake", {}), result.get("official", {})
            questions = sheet.get("questions", {})
            writer.writerow([
                result["submission"], intake.get("student", ""), intake.get("user_id", ""),
                "yes" if intake.get("late") else "", "; ".join(intake.get("files", [])),
                "; ".join(filter(None, [intake.get("problem", ""), *result.get("missing", [])])),
                *("" if points[c.name] is None else points[c.name] for c in checks),
                result["total"], result["max"], result["percent"],
                *(questions[key]["points"] if key in questions else "" for key in keys),
                sheet.get("code", ""), sheet.get("written", ""), sheet.get("grade", ""),
                " ".join(sheet.get("unmarked", [])),
                " ".join(row["name"] for row in result.get("deliverables", []) if row["status"] != "pass"),
                "; ".join(result.get("identical_to", []))])
    atomic_write(path, write)


def write_gradebook(results: list[dict], path: Path) -> None:
    """The columns a gradebook import takes: student, user id, total (the assignment's points:
    the code share plus the TA's marks entered so far)."""
    def write(handle) -> None:
        writer = csv.writer(handle)
        writer.writerow(["student", "user_id", "total"])
        for result in results:
            intake = result.get("intake", {})
            writer.writerow([intake.get("student") or result["submission"], intake.get("user_id", ""),
                             result.get("official", {}).get("grade", result["total"])])
    atomic_write(path, write)
