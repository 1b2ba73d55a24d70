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
from typing import Callable

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


# The flags of the skeleton's train.py scripts, with their defaults: a constructor that requires one
# of them (``dropout_keep_prob``) is given it, and the report says so. ``device`` and the sizes are
# passed by the checks themselves; ``model_type`` and ``txt_file`` have no meaning for one class.
SKELETON_FLAGS = {
    "part1": dict(input_length=10, input_dim=1, num_classes=10, num_hidden=128, batch_size=128,
                  learning_rate=1e-3, train_steps=10000, max_norm=10.0),
    "part2": dict(seq_length=30, lstm_num_hidden=128, lstm_num_layers=2, batch_size=64, learning_rate=2e-3,
                  learning_rate_decay=0.96, learning_rate_step=5000, dropout_keep_prob=1.0,
                  train_steps=1000000, max_norm=5.0, summary_path="./summaries/", print_every=5,
                  sample_every=100),
}
GIVEN: dict[str, dict] = {}  # class name -> {argument: the skeleton's default given}, for the report


def _required_beyond(params: dict, arguments: dict, by_name: bool) -> list[str]:
    """The required parameters the skeleton's arguments do not fill."""
    ordinary = [(n, p) for n, p in params.items()
                if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    rest = [(n, p) for n, p in ordinary if n not in arguments] if by_name else \
        [(n, p) for n, p in ordinary[len(arguments):]] + [(n, p) for n, p in ordinary if p.kind == p.KEYWORD_ONLY]
    return list(dict.fromkeys(n for n, p in rest if p.default is p.empty))


def construct(cls: type, arguments: dict, extras: dict | None = None, part: str = ""):
    """``cls`` built from the skeleton's ``arguments`` (in the skeleton's order).

    By name when the signature uses all the skeleton's names (then ``extras`` such as a
    ``batch_size`` some students add are passed too, if asked for); else by position. A required
    argument named after a flag of the skeleton's ``train.py`` (the part's own first) gets that
    flag's default (recorded in :data:`GIVEN`); any other required argument fails, named.
    """
    try:
        params = inspect.signature(cls).parameters
    except (TypeError, ValueError):
        params = {}
    shown = ", ".join(f"{k}={v!r}" for k, v in arguments.items())
    by_name = set(arguments) <= set(params)
    named = {k: v for k, v in (extras or {}).items() if k in params} if by_name else {}
    missing = [n for n in _required_beyond(params, arguments, by_name) if n not in named]
    flags = {**SKELETON_FLAGS["part2" if part == "part1" else "part1"], **SKELETON_FLAGS[part]} if part else {}
    unknown = [n for n in missing if n not in flags]
    if unknown:
        them = "it" if len(unknown) == 1 else "them"
        raise CheckFailed(f"{cls.__name__}({shown}) cannot be built: it also requires {', '.join(unknown)}, "
                          f"which the skeleton's constructor does not have (give {them} a default value)")
    defaults = {n: flags[n] for n in missing}
    if defaults:
        GIVEN[cls.__name__] = defaults
    try:
        if by_name:
            return cls(**arguments, **named, **defaults)
        return cls(*arguments.values(), **defaults)
    except Exception as exc:
        raise CheckFailed(f"{cls.__name__}({shown}) failed: {describe(exc)}") from None


def given_note() -> str:
    """``; note: ...`` naming the skeleton defaults :func:`construct` gave, or ``""``."""
    notes = [f"{cls} requires {', '.join(given)}, given the skeleton train.py's default "
             f"{', '.join(f'{k}={v!r}' for k, v in given.items())}" for cls, given in GIVEN.items()]
    return "".join(f"; note: {note}" for note in notes)


def _pick(output, fits: Callable[[torch.Tensor], bool]) -> tuple[torch.Tensor, int | None]:
    items = list(output) if isinstance(output, (tuple, list)) else [output]
    tensors = [(i, t) for i, t in enumerate(items) if isinstance(t, torch.Tensor)]
    if not tensors:
        raise CheckFailed(f"forward returned {type(output).__name__}, expected a tensor of logits")
    fitting = [(i, t) for i, t in tensors if fits(t)]
    if len(fitting) > 1:
        fitting = [(i, t) for i, t in fitting if not looks_like_softmax(t)] or fitting
    index, tensor = (fitting or tensors)[0]
    return tensor, index if isinstance(output, (tuple, list)) else None


def pick_output(output, fits: Callable[[torch.Tensor], bool] = lambda t: True) -> torch.Tensor:
    """The logits a forward returned: the tensor itself or, of a tuple such as ``(logits, state)``
    or ``(hidden_states, logits)``, the element that ``fits`` (the logits' shape); probabilities
    only when no other element fits. Else the first tensor, for the shape in the message."""
    return _pick(output, fits)[0]


def position_note(output, fits: Callable[[torch.Tensor], bool]) -> str:
    """`` (element 2 of the 2 forward returns)`` when the logits are not a tuple's first element, else ``""``."""
    index = _pick(output, fits)[1]
    return f" (element {index + 1} of the {len(output)} forward returns)" if index else ""


def looks_like_softmax(output: torch.Tensor) -> bool:
    """Rows of non-negative numbers summing to 1: probabilities where logits were expected."""
    sums = output.detach().double().sum(-1)
    return bool((output >= 0).all() and torch.allclose(sums, torch.ones_like(sums), atol=1e-4))


SOFTMAX_HINT = ("the outputs are probabilities (rows sum to 1): you might be applying a softmax on the "
                "output; return the logits p(T), nn.CrossEntropyLoss applies the softmax itself")
