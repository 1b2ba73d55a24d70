"""Files every part writes: atomic text and JSON, CSV read back with types, Markdown tables, output
folders. A file is written to a temporary name beside its target, flushed to disk and renamed over it
(atomic on POSIX), so a reader (another process, a SLURM task, a resumed run) sees the old file or the
new one, never half of one."""
from __future__ import annotations

import csv
import io
import json
import os
import secrets
from pathlib import Path
from typing import Iterable, Sequence

from common.runtime import UserError


def atomic_write(path: str | os.PathLike, write, **open_kwargs) -> None:
    """Call ``write(handle)`` on a new file next to ``path``, flush it to disk, rename it over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        with open(tmp, **open_kwargs) as handle:  # mode "x": a new file with the usual permissions
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` as UTF-8 (no newline translation, so CSV text keeps its line ends)."""
    atomic_write(path, lambda handle: handle.write(text), mode="x", encoding="utf-8", newline="")


def write_json(path: str | os.PathLike, obj) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, default=str) + "\n")


def read_json(path: str | os.PathLike):
    return json.loads(Path(path).read_text(encoding="utf-8"))


def write_csv(path: str | os.PathLike, rows: Iterable[dict], fields: Sequence[str]) -> None:
    """One row per dict, columns ``fields`` (keys not among them are left out)."""
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=list(fields), extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(path, text.getvalue())


def typed(text: str):
    """A CSV cell as the value it was written from: '' -> None, True/False, int, float, else str."""
    if text == "":
        return None
    if text in ("True", "False"):
        return text == "True"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def read_csv(path: str | os.PathLike) -> list[dict]:
    """The rows of a CSV file written by :func:`write_csv`, each cell converted by :func:`typed`."""
    with open(path, encoding="utf-8", newline="") as handle:
        return [{key: typed(value) for key, value in row.items()} for row in csv.DictReader(handle)]


def markdown_table(header: Sequence[str], rows: Iterable[Sequence]) -> str:
    """A GitHub-flavoured Markdown table; a cell is printed with ``str``."""
    lines = ["| " + " | ".join(map(str, header)) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(map(str, row)) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def prepare_out_dir(path: str | os.PathLike, flag: str = "--out_dir") -> Path:
    """Create the output folder (and its parents) or raise a one-line :class:`UserError`."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise UserError(f"{flag} '{path}' exists and is not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create output folder '{path}': {exc.strerror or exc}") from None
    return path
