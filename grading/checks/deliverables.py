"""The student's own scripts, run as the course would: ``part1/train.py`` for a few steps on the CPU
with the skeleton's flags (RNN and LSTM), ``part1/grads_over_time.py`` as it is, ``part2/train.py``
for a few steps on the grader's text. Each within a time limit; a failure is reported, never scored.

A static look at both ``train.py`` adds a note where ``clip_grad_norm`` comes before ``backward()``
(it then clips the previous step's gradients, or nothing) or where no ``zero_grad`` is called (the
gradients add up over the steps).
"""
from __future__ import annotations

import ast
import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from .common import CheckFailed, one_line
from .text import TEXT

SCRIPT_SECONDS = 50  # per run: a few steps of the skeleton's default model take seconds
STEPS = 20
PART1_FLAGS = ["--input_length", "5", "--batch_size", "32", "--train_steps", str(STEPS), "--device", "cpu"]


def run_script(ctx, argv: list[str], seconds: float = SCRIPT_SECONDS) -> tuple[bool, str, float]:
    """``python ARGV`` in the copy of the submission, in its own process group (stopped with what
    it started, DataLoader workers too); ``(exit 0, what went wrong, seconds)``."""
    env = {**os.environ, "MPLBACKEND": "Agg", "CUDA_VISIBLE_DEVICES": ""}
    start = time.monotonic()
    with open(ctx.workdir / "script.log", "w+", encoding="utf-8", errors="replace") as log:
        proc = subprocess.Popen([sys.executable, *argv], cwd=ctx.root, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, env=env, start_new_session=True)
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
        last = one_line(tail[-1], 200) if tail else "no output"
        return False, f"exit code {proc.returncode}: {last}", took
    return True, "", took


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


def static_notes(path: Path) -> list[str]:
    """Notes on the training loop in ``path``: clipping before ``backward()``, no ``zero_grad``."""
    try:
        source = path.read_text(encoding="utf-8")
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


def _report(runs: list[str], notes: list[str], ok: bool) -> str:
    message = "; ".join(runs + notes)
    if not ok:
        raise CheckFailed(message)
    return message


def _require(path: str) -> None:
    if not Path(path).is_file():
        raise CheckFailed(f"{path} not found (the assignment asks for it)")


def check_train_part1(ctx) -> str:
    _require("part1/train.py")
    runs, ok = [], True
    for model in ("RNN", "LSTM"):
        passed, problem, took = run_script(ctx, ["part1/train.py", "--model_type", model, *PART1_FLAGS])
        ok &= passed
        runs.append(f"--model_type {model} ran in {took:.1f} s" if passed else f"--model_type {model}: {problem}")
    runs[0] = f"part1/train.py {' '.join(PART1_FLAGS)} " + runs[0]
    return _report(runs, static_notes(Path("part1/train.py")), ok)


def check_grads_over_time(ctx) -> str:
    _require("part1/grads_over_time.py")
    passed, problem, took = run_script(ctx, ["part1/grads_over_time.py"], 2 * SCRIPT_SECONDS)
    return _report([f"part1/grads_over_time.py ran in {took:.1f} s" if passed else
                    f"part1/grads_over_time.py: {problem}"], [], passed)


def check_train_part2(ctx) -> str:
    _require("part2/train.py")
    text = ctx.workdir / "grading_text.txt"
    text.write_text(TEXT, encoding="utf-8")
    flags = ["--txt_file", str(text), "--batch_size", "16", "--train_steps", str(STEPS), "--print_every", "5",
             "--sample_every", "10", "--summary_path", str(ctx.workdir / "summaries")]
    passed, problem, took = run_script(ctx, ["part2/train.py", *flags])
    shown = " ".join(f if not f.startswith("/") else Path(f).name for f in flags)
    return _report([f"part2/train.py {shown} ran in {took:.1f} s" if passed else f"part2/train.py: {problem}"],
                   static_notes(Path("part2/train.py")), passed)
