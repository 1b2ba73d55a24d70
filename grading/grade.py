"""Grade one submission: run the selected checks in the sandbox and score them with the rubric.

A result is a JSON-ready dict. It keeps the status of every check, so a stored result can be
re-scored with another rubric without running anything (:func:`score`), and a fingerprint of the
submission's files, the grader's code and the settings, so that batch mode knows what is finished.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import platform
import tempfile
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict
from importlib import metadata
from pathlib import Path
from typing import Callable

from grading import GradingError, deliverables, sandbox
from grading.intake import find_roots, missing
from grading.registry import Check

PACKAGE = Path(__file__).resolve().parent


def find_root(path: Path) -> tuple[Path, str]:
    """The folder that holds part1/ or part2/ (or part_1/, part_2/ as the course README writes them):
    the submission itself, or the one folder at any depth inside it that does, as an unpacked
    archive often adds a level or two; and a note."""
    if not path.exists():
        raise GradingError(f"submission folder '{path}' does not exist")
    if not path.is_dir():
        raise GradingError(f"'{path}' is not a folder; pass the folder that holds part1/ and part2/, or its zip")
    inner = find_roots(path)
    if inner == [path]:
        return path, ""
    if len(inner) == 1:
        return inner[0], f"graded {inner[0].relative_to(path)}/, the folder inside that holds the parts"
    if inner:
        names = ", ".join(str(d.relative_to(path)) for d in inner[:4])
        return path, f"several folders inside hold the parts ({names}): pass one, or --batch for a folder of them"
    return path, "no part1/ or part2/ folder found"


@contextlib.contextmanager
def readable(root: Path):
    """``root``, or a copy of it with ``part_1/`` renamed ``part1/`` (the checks and the skeleton's
    imports say ``part1``; a link keeps the old name for the student's own imports) and a note."""
    renames = [(old, new) for new, old in (("part1", "part_1"), ("part2", "part_2"), ("part3", "part_3"))
               if (root / old).is_dir() and not (root / new).exists()]
    if not renames:
        yield root, ""
        return
    with tempfile.TemporaryDirectory(prefix="grading-parts-") as tmp:
        copy = sandbox.copy_submission(root, Path(tmp) / root.name)
        for old, new in renames:
            (copy / old).rename(copy / new)
            (copy / old).symlink_to(new, target_is_directory=True)
        yield copy, "; ".join(f"{old}/ read as {new}/" for old, new in renames)


def versions() -> dict[str, str]:
    """The versions a grade was computed with (read from the installed packages, torch not imported)."""
    found = {"python": platform.python_version()}
    for package in ("torch", "numpy"):
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[package] = "not installed"
    return found


def fingerprint(root: Path, checks: list[Check], limits: sandbox.Limits, scripts: bool = False) -> str:
    """Changes when the submission's files, the grader's code, the checks run (and whether the
    student's scripts are) or the limits do."""
    digest = hashlib.sha256(json.dumps([[c.name for c in checks], asdict(limits), scripts]).encode())
    for base in (root, PACKAGE):
        for relative in sandbox.submission_files(base):
            try:
                content = (base / relative).read_bytes()
            except OSError:  # unreadable: the check that needs it will say so
                content = b"unreadable"
            digest.update(str(relative).encode() + b"\0" + content + b"\0")
    return digest.hexdigest()


def run_parallel(function: Callable, items: list, workers: int, on_done: Callable = lambda: None) -> list:
    """``[function(item) for item in items]`` on ``workers`` threads (each check is its own process
    anyway); on Ctrl-C the running checks are stopped and no new one starts."""
    pool = ThreadPoolExecutor(max(1, workers))
    try:
        futures = [pool.submit(function, item) for item in items]
        for future in as_completed(futures):
            future.result()
            on_done()
        return [future.result() for future in futures]
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        sandbox.stop_all()
        raise
    finally:
        pool.shutdown(wait=True)


def score(result: dict, rubric: dict[str, float]) -> dict:
    """Points from the statuses: a pass earns the check's points, a fail 0; a skip counts in neither
    the score nor the maximum."""
    for row in result["checks"]:
        row["max_points"] = rubric[row["name"]]
        row["points"] = {"pass": row["max_points"], "fail": 0, "skip": None}[row["status"]]
    counted = [row for row in result["checks"] if row["status"] != "skip"]
    result["total"] = sum(row["points"] for row in counted)
    result["max"] = sum(row["max_points"] for row in counted)
    result["percent"] = round(100 * result["total"] / result["max"], 1) if result["max"] else 0.0
    return result


def grade_submission(path: Path, checks: list[Check], rubric: dict[str, float], limits: sandbox.Limits,
                     workers: int = 1, on_done: Callable = lambda: None, scripts: bool = False) -> dict:
    """Run ``checks`` (scored) and, with ``scripts``, the student's own scripts (reported only;
    :mod:`grading.deliverables`) on the submission in ``path``."""
    found, note = find_root(path)
    sandbox.zygote()  # started once here, not by the first of several threads
    with readable(found) as (root, renamed):
        def run(check: Check) -> dict:
            outcome = sandbox.run_check(root, check, limits)
            return {"name": check.name, "part": check.part, "title": check.title, "status": outcome.status,
                    "message": outcome.message, "seconds": round(outcome.seconds, 2)}

        rows = run_parallel(run, checks, workers, on_done)
        ran = run_scripts(root, limits, on_done) if scripts else []
    result = {"submission": path.resolve().name, "path": str(path), "root": str(found),
              "note": "; ".join(filter(None, [note, renamed])), "missing": missing(found, path),
              "fingerprint": fingerprint(found, checks, limits, scripts), "limits": asdict(limits),
              "versions": versions(), "python": platform.python_version(), "checks": rows, "deliverables": ran}
    return score(result, rubric)


def run_scripts(root: Path, limits: sandbox.Limits, on_done: Callable = lambda: None) -> list[dict]:
    """The student's scripts, one after the other (each a fresh interpreter with torch)."""
    rows = []
    for name in deliverables.SCRIPTS:
        rows.append(deliverables.run_one(root, name, limits))
        on_done()
    return rows
