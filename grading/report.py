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


def format_report(result: dict) -> str:
    """One line per check: status, points, name, message; then the total."""
    lines = [f"Grading {result['path']}" + (f" ({result['note']})" if result["note"] else "")]
    width = max(len(row["name"]) for row in result["checks"])
    for part, title in PART_TITLES.items():
        rows = [row for row in result["checks"] if row["part"] == part]
        if rows:
            lines += ["", title]
        for row in rows:
            points = f"{_points(row['points'])}/{_points(row['max_points'])}"
            lines.append(f"  {row['status'].upper():4}  {points:>5}  {row['name']:<{width}}  {row['message']}")
    skipped = sum(row["status"] == "skip" for row in result["checks"])
    lines += ["", f"Total: {_points(result['total'])} / {_points(result['max'])} ({result['percent']:.1f}%)"
              + (f"; {skipped} skipped check(s) count in neither" if skipped else "")]
    return "\n".join(lines)


def _atomic_write(path: Path, write) -> None:
    """Write through a temporary file, so an interrupted run never leaves half a file behind."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    with open(temporary, "w", encoding="utf-8", newline="") as handle:
        write(handle)
    os.replace(temporary, path)


def write_json(result: dict, path: Path) -> None:
    _atomic_write(path, lambda handle: json.dump(result, handle, indent=2, ensure_ascii=False))


def read_json(path: Path) -> dict | None:
    """A stored result, or None when there is none or it cannot be read."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def write_csv(results: list[dict], checks: list[Check], path: Path) -> None:
    """A row per submission: points per check (empty when skipped), total, maximum, percentage."""
    def write(handle) -> None:
        writer = csv.writer(handle)
        writer.writerow(["submission", *(check.name for check in checks), "total", "max", "percent"])
        for result in results:
            points = {row["name"]: row["points"] for row in result["checks"]}
            writer.writerow([result["submission"], *("" if points[c.name] is None else points[c.name] for c in checks),
                             result["total"], result["max"], result["percent"]])
    _atomic_write(path, write)
