"""Grade one submission: run the selected checks in the sandbox and score them with the rubric.

A result is a JSON-ready dict. It keeps the status of every check, so a stored result can be
re-scored with another rubric without running anything (:func:`score`), and a fingerprint of the
submission's files, the grader's code and the settings, so that batch mode knows what is finished.
"""
from __future__ import annotations

import hashlib
import json
import platform
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict
from pathlib import Path
from typing import Callable

from grading import GradingError, sandbox
from grading.registry import PARTS, Check

PACKAGE = Path(__file__).resolve().parent


def _has_parts(folder: Path) -> bool:
    return any((folder / part).is_dir() for part in PARTS)


def find_root(path: Path) -> tuple[Path, str]:
    """The folder that holds part1/ or part2/: the submission itself, or the one folder inside it
    (up to two levels down) that does, as an unpacked archive often adds a level; and a note."""
    if not path.exists():
        raise GradingError(f"submission folder '{path}' does not exist")
    if not path.is_dir():
        raise GradingError(f"'{path}' is not a folder; pass the folder that holds part1/ and part2/")
    if _has_parts(path):
        return path, ""
    inner = [d for d in sorted([*path.glob("*/"), *path.glob("*/*/")])
             if _has_parts(d) and not any(p.startswith((".", "__")) for p in d.relative_to(path).parts)]
    if len(inner) == 1:
        return inner[0], f"graded {inner[0].relative_to(path)}/, the folder inside that holds the parts"
    if inner:
        names = ", ".join(str(d.relative_to(path)) for d in inner[:4])
        return path, f"several folders inside hold the parts ({names}): pass one, or --batch for a folder of them"
    return path, "no part1/ or part2/ folder found"


def fingerprint(root: Path, checks: list[Check], limits: sandbox.Limits) -> str:
    """Changes when the submission's files, the grader's code, the checks run or the limits do."""
    digest = hashlib.sha256(json.dumps([[c.name for c in checks], asdict(limits)]).encode())
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
                     workers: int = 1, on_done: Callable = lambda: None) -> dict:
    root, note = find_root(path)
    sandbox.zygote()  # started once here, not by the first of several threads

    def run(check: Check) -> dict:
        outcome = sandbox.run_check(root, check, limits)
        return {"name": check.name, "part": check.part, "title": check.title, "status": outcome.status,
                "message": outcome.message, "seconds": round(outcome.seconds, 2)}

    rows = run_parallel(run, checks, workers, on_done)
    result = {"submission": path.resolve().name, "path": str(path), "root": str(root), "note": note,
              "fingerprint": fingerprint(root, checks, limits), "limits": asdict(limits),
              "python": platform.python_version(), "checks": rows}
    return score(result, rubric)
