"""Writing part 3's results: the output folder, CSV and Markdown tables, JSON (all UTF-8)."""
from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Iterable, Sequence

from common.runtime import UserError

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "results" / "part3"


def prepare_output_dir(path: str | Path) -> Path:
    """Create the output folder (and parents) or raise a one-line :class:`UserError`."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise UserError(f"--out '{path}' exists and is not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create output folder '{path}': {exc.strerror or exc}") from None
    return path


def markdown_table(header: Sequence[str], rows: Iterable[Sequence]) -> str:
    """A GitHub-flavoured Markdown table of `header` and `rows`."""
    lines = ["| " + " | ".join(map(str, header)) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(map(str, row)) + " |" for row in rows]
    return "\n".join(lines)


def write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence]) -> None:
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


def write_json(path: Path, obj) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(obj, handle, indent=2, default=str)
        handle.write("\n")
