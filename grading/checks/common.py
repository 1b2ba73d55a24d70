"""What every check needs inside the sandbox: the outcomes besides a pass, importing the student's
modules from the copy of the submission, building their classes from the skeleton's arguments, and
a one-line description of an exception that points at the student's own line.

The sandbox makes the copy the current directory and puts it (and the part's folder) first on
``sys.path``, so ``part1.lstm`` here is always the student's file.
"""
from __future__ import annotations

import importlib
import inspect
import traceback
from dataclasses import dataclass
from pathlib import Path

import torch

MAX_MESSAGE = 400  # characters of an exception message kept in a one-line report


class CheckFailed(Exception):
    """The submission does not pass; the message says what was seen and where to look."""


class CheckSkipped(Exception):
    """The check does not apply to this submission: it neither gives nor costs points."""


@dataclass
class Context:
    root: Path     # the copy of the submission, also the current directory
    workdir: Path  # scratch space outside the copy, for the grader's own files
    kind: str      # "rnn" or "lstm" for the part-1 model checks, "" otherwise


def one_line(text: str, limit: int = MAX_MESSAGE) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def student_frame(exc: BaseException) -> str:
    """`` at part1/lstm.py:42 in forward: c = g * i`` for the innermost frame in the student's
    files, or ``""`` when the error did not pass through them."""
    root = Path.cwd().resolve()
    if isinstance(exc, SyntaxError) and exc.filename:
        frames = [(exc.filename, exc.lineno, "<module>", (exc.text or "").strip())]
    else:
        frames = [(f.filename, f.lineno, f.name, f.line) for f in traceback.extract_tb(exc.__traceback__)]
    for filename, lineno, name, line in reversed(frames):
        path = Path(filename).resolve()
        if not filename.startswith("<") and path.is_relative_to(root):  # not "<frozen ...>", "<string>"
            code = f": {one_line(line, 80)}" if line else ""
            return f" at {path.relative_to(root)}:{lineno} in {name}{code}"
    return ""


def describe(exc: BaseException) -> str:
    """``RuntimeError: mat1 and mat2 shapes ... at part1/lstm.py:42 in forward: ...`` on one line."""
    text = one_line(exc.msg if isinstance(exc, SyntaxError) else exc, 240)
    hint = ""
    if isinstance(exc, MemoryError) or "can't allocate memory" in text:
        hint = " (the memory limit per check was reached)"
    return f"{type(exc).__name__}: {text}{student_frame(exc)}{hint}"


def item_pair(dataset, index: int, name: str) -> tuple:
    """``(inputs, target) = dataset[index]`` of the student's dataset, or a failure naming
    ``name[index]`` (also when the item is not a pair)."""
    try:
        inputs, target = dataset[index]
        return inputs, target
    except Exception as exc:
        raise CheckFailed(f"{name}[{index}] failed: {describe(exc)}") from None


def student_module(part: str, name: str):
    """Import ``part/name.py`` of the submission, or fail with what went wrong."""
    path = Path(part) / f"{name}.py"
    if not path.is_file():
        raise CheckFailed(f"{path} not found (the skeleton's layout is {part}/{name}.py)")
    try:
        return importlib.import_module(f"{part}.{name}")
    except Exception as exc:  # SyntaxError, ImportError, anything the module raises when imported
        raise CheckFailed(f"cannot import {path}: {describe(exc)}") from None


def student_class(part: str, module: str, name: str) -> type:
    cls = getattr(student_module(part, module), name, None)
    if not isinstance(cls, type):
        raise CheckFailed(f"{part}/{module}.py defines no class {name}")
    return cls


def construct(cls: type, arguments: dict, extras: dict | None = None):
    """``cls`` built from the skeleton's ``arguments`` (in the skeleton's order).

    By name when the signature uses all the skeleton's names (then ``extras`` such as a
    ``batch_size`` some students add are passed too, if asked for); else by position.
    """
    try:
        params = inspect.signature(cls).parameters
    except (TypeError, ValueError):
        params = {}
    try:
        if set(arguments) <= set(params):
            named = {k: v for k, v in (extras or {}).items() if k in params}
            return cls(**arguments, **named)
        return cls(*arguments.values())
    except Exception as exc:
        shown = ", ".join(f"{k}={v!r}" for k, v in arguments.items())
        raise CheckFailed(f"{cls.__name__}({shown}) failed: {describe(exc)}") from None


def first_output(output) -> torch.Tensor:
    """The tensor a forward returned; a tuple such as ``(logits, state)`` gives its first element."""
    if isinstance(output, (tuple, list)) and output:
        output = output[0]
    if not isinstance(output, torch.Tensor):
        raise CheckFailed(f"forward returned {type(output).__name__}, expected a tensor of logits")
    return output


def looks_like_softmax(output: torch.Tensor) -> bool:
    """Rows of non-negative numbers summing to 1: probabilities where logits were expected."""
    sums = output.detach().double().sum(-1)
    return bool((output >= 0).all() and torch.allclose(sums, torch.ones_like(sums), atol=1e-4))


SOFTMAX_HINT = ("the outputs are probabilities (rows sum to 1): you might be applying a softmax on the "
                "output; return the logits p(T), nn.CrossEntropyLoss applies the softmax itself")
