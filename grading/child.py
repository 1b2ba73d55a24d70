"""The child side of the sandbox: one check in a process forked from the fork server (zygote.py).

:func:`child_main` limits the process, makes the copy of the submission the only source of
importable code besides the installed packages, runs the check and writes its outcome as JSON. Any
exception, ``sys.exit`` included, becomes a failed check with the student's line in its message; a
crash or ``os._exit`` leaves no JSON, which the parent reports.
"""
from __future__ import annotations

import faulthandler
import importlib
import json
import os
import random
import resource
import signal
import sys
from pathlib import Path

import numpy as np
import torch

from grading.checks import (common, palindromes, parity, recurrent, source, text,  # noqa: F401 (preloaded)
                            text_model)
from grading.checks.common import CheckFailed, CheckSkipped, Context, describe, student_frame

GRADER_ROOT = Path(__file__).resolve().parents[1]  # holds this repository's own part1/ and part2/


def isolate(root: Path, part: str) -> None:
    """The submission first on sys.path and the grader's repository off it: its part1/part2
    packages would shadow a student's folder without __init__.py. (The fork server imported none of
    the repository's modules, only grading.*, torch and NumPy, so sys.modules holds none either.)"""
    keep = [p for p in sys.path if p not in ("", ".") and Path(p).resolve() != GRADER_ROOT]
    sys.path[:] = [str(root), str(root / part), *keep]  # "part1.lstm" and "from dataset import ..."
    os.chdir(root)
    importlib.invalidate_caches()


def limit(memory_bytes: int, log, stack) -> None:
    os.setsid()  # a process group of its own: the parent stops it with everything it started
    os.dup2(log.fileno(), 1)  # the student's prints go to the log, not to the grader's report
    os.dup2(log.fileno(), 2)
    faulthandler.enable(stack)  # a segfault leaves the Python stack, apart from the prints
    faulthandler.register(signal.SIGUSR1, stack, all_threads=True)  # the parent asks before a kill
    try:
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    except (ValueError, OSError):
        pass  # macOS refuses RLIMIT_AS: there only the time limit holds (grading/README.md)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    torch.set_num_threads(1)


def run(target: str, context: Context) -> dict:
    module, function = target.split(":")
    check = getattr(importlib.import_module(f"grading.checks.{module}"), function)
    random.seed(0)
    np.random.seed(0)  # the skeleton's TextDataset draws its offsets with np.random
    torch.manual_seed(0)
    try:
        return {"status": "pass", "message": check(context)}
    except CheckFailed as exc:
        return {"status": "fail", "message": str(exc)}
    except CheckSkipped as exc:
        return {"status": "skip", "message": str(exc)}
    except SystemExit as exc:
        return {"status": "fail", "message": f"the code called sys.exit({exc.code!r}){student_frame(exc)}"}
    except BaseException as exc:
        where = "" if student_frame(exc) else " (raised outside the submission's files: a method or " \
                                               "attribute the skeleton has is missing, or a grader bug)"
        return {"status": "fail", "message": describe(exc) + where}


def child_main(root: str, part: str, target: str, kind: str, workdir: str, memory_bytes: int) -> None:
    """Entry point of the forked child; ``workdir`` receives ``log.txt`` (prints), ``stack.txt``
    (faulthandler) and ``result.json``."""
    workdir = Path(workdir)
    with open(workdir / "log.txt", "a", encoding="utf-8", errors="replace") as log, \
            open(workdir / "stack.txt", "a", encoding="utf-8") as stack:
        limit(memory_bytes, log, stack)
        isolate(Path(root), part)
        outcome = run(target, Context(Path(root), workdir, kind))
        (workdir / "result.json.tmp").write_text(json.dumps(outcome), encoding="utf-8")
        os.replace(workdir / "result.json.tmp", workdir / "result.json")
