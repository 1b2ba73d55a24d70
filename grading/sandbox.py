"""Run one check on a fresh copy of a submission in a child process with a time and a memory limit.

This is isolation against accidents — a hang, a crash, a runaway allocation, ``sys.exit`` or
``os._exit`` in student code, one check's side effects leaking into another — NOT a security
sandbox: the code runs as the grader's user, can read and write the user's files and open network
connections. Grade code you would run yourself.

Children are forked from a fork server (:mod:`grading.zygote`) that has imported torch once, so a
check starts in milliseconds instead of the second an ``import torch`` takes; the server runs with a
fixed hash seed, in UTF-8 mode (the skeleton opens files without an encoding) and with one thread.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from grading import GradingError
from grading.registry import Check
from grading.zygote import Zygote

CHILD_ENV = {"PYTHONHASHSEED": "0", "PYTHONUTF8": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
             "PYTHONDONTWRITEBYTECODE": "1"}
# Not copied into the sandbox: version control, caches and the outputs of training runs.
IGNORED = shutil.ignore_patterns(".git", "__pycache__", ".pytest_cache", ".ipynb_checkpoints", "*.pt",
                                 "*.pth", "*.ckpt", "results", "runs", "checkpoints", "summaries", "cache")
MAX_FILE_BYTES = 20 * 2**20  # larger files (datasets, weights) are left out of the copy
GRACE_SECONDS = 1.0          # between asking a timed-out child for its stack and killing it
WATCH_SECONDS = 0.1          # how often a running check's memory and output are looked at
MEMORY_WATCH = 0.9           # a check is stopped at this share of its address-space limit (with its stack)
MAX_LOG_BYTES = 64 * 2**20   # a check that prints more is stopped (a print in an endless loop fills the disk)
FRAME = re.compile(r'File "([^"]+)", line (\d+) in (\S+)')

_lock = threading.Lock()
_zygote: Zygote | None = None
_running: set[int] = set()  # process groups of the running checks, stopped on Ctrl-C
_stopping = threading.Event()  # set on Ctrl-C: no new check starts


@dataclass(frozen=True)
class Limits:
    timeout: float = 120.0   # seconds of wall time per check
    memory_gb: float = 3.0   # address space per check (RLIMIT_AS)


@dataclass(frozen=True)
class Outcome:
    status: str   # "pass", "fail" or "skip"
    message: str
    seconds: float


def zygote() -> Zygote:
    """The fork server, started on first use (and again if it died) with :data:`CHILD_ENV`."""
    global _zygote
    with _lock:
        if _zygote is None or not _zygote.alive():
            _zygote = Zygote({**os.environ, **CHILD_ENV})
    return _zygote


def _ignore(folder: str, names: list[str]) -> set[str]:
    big = {n for n in names if os.path.isfile(os.path.join(folder, n))
           and os.path.getsize(os.path.join(folder, n)) > MAX_FILE_BYTES}
    return set(IGNORED(folder, names)) | big


def copy_submission(source: Path, destination: Path) -> Path:
    shutil.copytree(source, destination, ignore=_ignore, symlinks=True)
    return destination


def submission_files(root: Path) -> list[Path]:
    """The files :func:`copy_submission` copies, relative to ``root``, sorted."""
    files = []
    for folder, subfolders, names in os.walk(root):
        ignored = _ignore(folder, subfolders + names)
        subfolders[:] = sorted(d for d in subfolders if d not in ignored)
        files += [Path(folder, n).relative_to(root) for n in names if n not in ignored]
    return sorted(files)


def student_line(log: str, root: Path) -> str:
    """`` at part1/lstm.py:12 in forward`` from the innermost frame in the submission that
    faulthandler wrote (most recent call first), or ``""``."""
    for match in FRAME.finditer(log):
        path = Path(match[1])
        if path.is_absolute() and path.is_relative_to(root):  # not "<frozen ...>"
            return f" at {path.relative_to(root)}:{match[2]} in {match[3]}"
    return ""


def stop(pid: int) -> None:
    """Ask for the Python stack (faulthandler), then kill the child's whole process group."""
    for sig, pause in ((signal.SIGUSR1, GRACE_SECONDS), (signal.SIGKILL, 0)):
        try:
            os.killpg(pid, sig)
        except (ProcessLookupError, PermissionError):  # no group yet (before setsid) or gone
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            return
        time.sleep(pause)


def stop_all() -> None:
    """Ctrl-C: stop the running checks and start no new one."""
    _stopping.set()
    for pid in list(_running):
        stop(pid)


def _address_space(pid: int) -> int:
    """The bytes of address space (what RLIMIT_AS limits) of a process, 0 when unknown (not Linux)."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            return next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmSize:"))
    except (OSError, StopIteration, ValueError, IndexError):
        return 0


def _watch(child, log: Path, limits: Limits) -> str:
    """Wait for the child to end: "" when it did, else why it must be stopped ("time", "memory",
    "output"). Memory is stopped before RLIMIT_AS makes allocations fail, which often aborts the
    process without a Python stack; stopped here, faulthandler gives the student's line."""
    deadline = time.monotonic() + limits.timeout
    while not child.wait(WATCH_SECONDS):
        if time.monotonic() > deadline:
            return "time"
        if _address_space(child.pid) > MEMORY_WATCH * limits.memory_gb * 2**30:
            return "memory"
        if log.exists() and log.stat().st_size > MAX_LOG_BYTES:
            return "output"
    return ""


def _interpret(exitcode: int | None, stopped: str, workdir: Path, root: Path, limits: Limits):
    """``(status, message)`` from the child's result file, or from how it ended."""
    stack = workdir / "stack.txt"
    where = student_line(stack.read_text(encoding="utf-8", errors="replace") if stack.exists() else "", root.resolve())
    if stopped == "time":
        return "fail", f"stopped after {limits.timeout:g} s (the time limit per check){where}"
    if stopped == "memory":
        return "fail", (f"stopped at {MEMORY_WATCH:.0%} of the memory limit per check ({limits.memory_gb:g} GB of "
                        f"address space){where}: a tensor or an autograd graph that keeps growing (a loop "
                        "that never ends?)")
    if stopped == "output":
        return "fail", f"stopped after printing more than {MAX_LOG_BYTES >> 20} MB{where} (a print in a loop?)"
    try:
        outcome = json.loads((workdir / "result.json").read_text(encoding="utf-8"))
        return outcome["status"], outcome["message"]
    except (OSError, ValueError, KeyError, TypeError):
        pass  # no result (or not the child's): say how the process ended
    if exitcode is not None and exitcode < 0 and -exitcode in signal.valid_signals():
        return "fail", f"the process crashed with {signal.Signals(-exitcode).name}{where}"
    return "fail", f"the process exited with code {exitcode} before the check finished (os._exit() or a crash){where}"


def run_check(submission: Path, check: Check, limits: Limits) -> Outcome:
    """Run ``check`` on a copy of ``submission`` in a forked child; never raises for the student's code."""
    if _stopping.is_set():
        raise KeyboardInterrupt
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="grading-") as tmp:
        workdir = Path(tmp)
        try:
            root = copy_submission(submission, workdir / "submission")
        except (OSError, shutil.Error) as exc:
            return Outcome("fail", f"cannot copy the submission: {' '.join(str(exc).split())[:300]}", 0.0)
        memory = int(limits.memory_gb * 2**30)
        try:
            child = zygote().fork(str(root), check.part, check.target, check.kind, tmp, memory)
        except RuntimeError as exc:
            raise GradingError(str(exc)) from None
        _running.add(child.pid)
        try:
            stopped = _watch(child, workdir / "log.txt", limits)
        finally:  # the time limit, or Ctrl-C in the grader
            if not child.finished.is_set():
                stop(child.pid)
                child.wait()
            _running.discard(child.pid)
        status, message = _interpret(child.exitcode, stopped, workdir, root, limits)
    return Outcome(status, message, time.monotonic() - start)
