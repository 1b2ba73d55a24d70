"""The student's own scripts, run as the course would: ``part1/train.py`` for a few steps on the CPU
with the skeleton's flags (RNN and LSTM), ``part1/grads_over_time.py`` as it is, ``part2/train.py``
for a few steps on the grader's text. Each within a time limit; a failure is reported, never scored.

They run from the grader's process (which never imports torch), one at a time, each in a fresh copy
of the submission as the working directory with the copy on ``PYTHONPATH`` (the skeleton's
``from part1.dataset import ...``), in a process group of its own with the check's memory limit.

A static look at both ``train.py`` adds a note where ``clip_grad_norm`` comes before ``backward()``
(it then clips the previous step's gradients, or nothing) or where no ``zero_grad`` is called (the
gradients add up over the steps).
"""
from __future__ import annotations

import ast
import contextlib
import functools
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from grading import sandbox

PACKAGE = Path(__file__).resolve().parent

SCRIPT_SECONDS = 50  # per run: a few steps of the skeleton's default model take seconds
STEPS = 20
PART1_FLAGS = ["--input_length", "5", "--batch_size", "32", "--train_steps", str(STEPS), "--device", "cpu"]


def _limit(memory_bytes: int):
    def apply() -> None:
        with contextlib.suppress(ValueError, OSError):  # macOS refuses RLIMIT_AS
            resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    return apply


def run_script(root: Path, argv: list[str], seconds: float, memory_gb: float, log_path: Path) -> tuple[bool, str, float]:
    """``python ARGV`` in ``root``, stopped with everything it started (DataLoader workers too);
    ``(exit 0, what went wrong, seconds)``."""
    env = {**os.environ, **sandbox.CHILD_ENV, "MPLBACKEND": "Agg", "CUDA_VISIBLE_DEVICES": "", "PYTHONPATH": str(root)}
    start = time.monotonic()
    with open(log_path, "w+", encoding="utf-8", errors="replace") as log:
        proc = subprocess.Popen([sys.executable, *argv], cwd=root, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, env=env, start_new_session=True,
                                preexec_fn=_limit(int(memory_gb * 2**30)))
        try:
            proc.wait(seconds)
        except subprocess.TimeoutExpired:
            pass
        finally:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.seek(0)
        tail = [line.strip() for line in log.read()[-20000:].splitlines() if line.strip()]
    took = time.monotonic() - start
    if took >= seconds:
        return False, f"still running after {seconds:g} s", took
    if proc.returncode:
        last = " ".join(tail[-1].split())[:200] if tail else "no output"
        return False, f"exit code {proc.returncode}: {last}", took
    return True, "", took


@functools.cache
def grader_text() -> str:
    """The grader's UTF-8 text of the part-2 checks, from a short-lived interpreter (the checks'
    module imports torch, which this process never does)."""
    code = "import sys; from grading.checks.text import TEXT; sys.stdout.buffer.write(TEXT.encode())"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, cwd=PACKAGE.parent, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(PACKAGE.parent)})
    if proc.returncode:
        raise RuntimeError(f"cannot make the grader's text: {proc.stderr.decode(errors='replace')[-300:]}")
    return proc.stdout.decode("utf-8")


def _calls(tree: ast.AST) -> dict[ast.AST, list[tuple[int, str]]]:
    """``{function or module: [(line, called name), ...]}`` for the calls written in each."""
    scopes: dict[ast.AST, list[tuple[int, str]]] = {}

    def visit(node: ast.AST, scope: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            inner = child if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)) else scope
            if isinstance(child, ast.Call):
                func = child.func
                name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                scopes.setdefault(scope, []).append((child.lineno, name))
            visit(child, inner)
    visit(tree, tree)
    return scopes


def static_notes(root: Path, script: str) -> list[str]:
    """Notes on the training loop in ``root/script``: clipping before ``backward()``, no ``zero_grad``."""
    path = Path(script)
    try:
        source = (root / script).read_text(encoding="utf-8")
        tree = ast.parse(source)
    except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
        return []
    notes, backward_anywhere = [], False
    zero = "zero_grad" in source or ".grad = None" in source or ".grad.zero_()" in source
    for calls in _calls(tree).values():
        backward = [line for line, name in calls if name == "backward"]
        backward_anywhere |= bool(backward)
        for line, name in calls:
            if name.startswith("clip_grad_norm") and backward and line < min(backward):
                notes.append(f"{path}:{line}: {name} comes before backward() (line {min(backward)}): it clips the "
                             "previous step's gradients, or none, not this step's")
    if backward_anywhere and not zero:
        notes.append(f"{path}: no zero_grad(): the gradients add up over the steps")
    return notes


SCRIPTS = {  # name: (title, the script, argument lists, time limit per run)
    "run_part1_train": ("part1/train.py runs a few steps (RNN and LSTM) with the skeleton's flags", "part1/train.py",
                        [["--model_type", model, *PART1_FLAGS] for model in ("RNN", "LSTM")], SCRIPT_SECONDS),
    "run_grads_over_time": ("part1/grads_over_time.py runs within its time limit", "part1/grads_over_time.py",
                            [[]], 2 * SCRIPT_SECONDS),
    "run_part2_train": ("part2/train.py runs a few steps on the grader's text", "part2/train.py",
                        [["--txt_file", "{text}", "--batch_size", "16", "--train_steps", str(STEPS), "--print_every",
                          "5", "--sample_every", "10", "--summary_path", "{work}/summaries"]], SCRIPT_SECONDS),
}


def run_one(root: Path, name: str, limits: sandbox.Limits) -> dict:
    title, script, runs, seconds = SCRIPTS[name]
    row = {"name": name, "part": script.split("/")[0], "title": title}
    start = time.monotonic()
    if not (root / script).is_file():
        return {**row, "status": "fail", "message": f"{script} not found (the assignment asks for it)", "seconds": 0.0}
    with tempfile.TemporaryDirectory(prefix="grading-run-") as tmp:
        work = Path(tmp)
        copy = sandbox.copy_submission(root, work / "submission")
        (work / "grading_text.txt").write_text(grader_text(), encoding="utf-8")
        said, ok = [], True
        for argv in runs:
            argv = [a.format(text=work / "grading_text.txt", work=work) for a in argv]
            passed, problem, took = run_script(copy, [script, *argv], seconds, limits.memory_gb, work / "log.txt")
            shown = " ".join(Path(a).name if a.startswith(str(work)) else a for a in argv)
            said.append(f"{script} {shown}".strip() + (f" ran in {took:.1f} s" if passed else f": {problem}"))
            ok &= passed
    notes = static_notes(root, script) if script.endswith("train.py") else []
    return {**row, "status": "pass" if ok else "fail", "message": "; ".join(said + notes),
            "seconds": round(time.monotonic() - start, 2)}


def run_all(root: Path, limits: sandbox.Limits) -> list[dict]:
    """Every script of :data:`SCRIPTS`, one after the other."""
    return [run_one(root, name, limits) for name in SCRIPTS]
