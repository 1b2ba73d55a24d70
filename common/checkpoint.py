"""Checkpoints: one layout for every part, never half-written, refused with a clear message when wrong.

A checkpoint is one dictionary made by :func:`checkpoint_state` and read back by :func:`restore`:

* ``kind`` -- which program wrote it (``"part1"``, ``"part2"`` ...), so another part's file is refused;
* ``format_version`` -- bumped when this layout changes; a file of another version is refused by name;
* ``model``, ``optimizer``, ``scheduler`` -- their ``state_dict()`` (the last two may be None);
* ``step`` -- optimizer steps taken; ``args`` -- the run's flags as a dict;
* ``rng`` -- the global torch RNG and the run's own generators (:func:`rng_state`);
* ``extras`` -- whatever else a part needs to resume exactly (progress, vocabulary, carried state);
* ``environment`` -- package versions, for the record.

Saving goes through :func:`common.io.atomic_write`, so a run killed while saving keeps the previous
file. Loading uses ``weights_only=True`` (no arbitrary code runs) and ``map_location`` (a CUDA
checkpoint opens on a CPU).
"""
from __future__ import annotations

import os
import pickle
import signal
import zipfile
from pathlib import Path

import torch

from common.io import atomic_write
from common.runtime import UserError, environment_info

FORMAT_VERSION = 2
# Tests set this to "STEP:SIGNAL" (e.g. "120:SIGTERM" or "120:SIGKILL") to have the training loop send
# itself that signal when it reaches STEP: an interruption at a chosen step, with no sleep and no race.
SIGNAL_AT_STEP_ENV = "SIGNAL_AT_STEP"


def atomic_save(obj, path: str | os.PathLike) -> None:
    """``torch.save`` to ``path`` through a temporary file and a rename."""
    atomic_write(path, lambda handle: torch.save(obj, handle), mode="xb")


def rng_state(*generators: torch.Generator) -> dict:
    """The global torch RNG (and CUDA's) and the state of each of ``generators``."""
    state = {"torch": torch.get_rng_state(), "generators": [g.get_state() for g in generators]}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict, *generators: torch.Generator) -> None:
    """Undo :func:`rng_state`: the same generators in the same order."""
    torch.set_rng_state(state["torch"])
    for generator, saved in zip(generators, state["generators"]):
        generator.set_state(saved)
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def plain_environment() -> dict:
    """``environment_info()`` with plain ``str`` values (``weights_only`` loading refuses
    ``TorchVersion`` objects)."""
    return {k: str(v) if isinstance(v, str) else v for k, v in environment_info().items()}


def checkpoint_state(kind: str, step: int, args: dict, model, optimizer=None, scheduler=None,
                     rng: dict | None = None, extras: dict | None = None) -> dict:
    """The one checkpoint layout (see the module docstring); ``model``, ``optimizer`` and
    ``scheduler`` are the objects themselves (or None)."""
    return {"kind": kind, "format_version": FORMAT_VERSION, "step": step, "args": dict(args),
            "model": model.state_dict(),
            "optimizer": None if optimizer is None else optimizer.state_dict(),
            "scheduler": None if scheduler is None else scheduler.state_dict(),
            "rng": rng, "extras": extras or {}, "environment": plain_environment()}


def restore(state: dict, model, optimizer=None, scheduler=None) -> None:
    """Load the weights and, when given, the optimizer's and scheduler's states of ``state``."""
    model.load_state_dict(state["model"])
    if optimizer is not None:
        optimizer.load_state_dict(state["optimizer"])
    if scheduler is not None and state["scheduler"] is not None:
        scheduler.load_state_dict(state["scheduler"])


def save_checkpoint(state: dict, path: str | os.PathLike) -> None:
    """Atomically write a dictionary made by :func:`checkpoint_state`."""
    atomic_save(state, path)


def load_checkpoint(path: str | os.PathLike, kind: str, map_location="cpu") -> dict:
    """Load a checkpoint written by :func:`save_checkpoint`, or raise a one-line :class:`UserError`."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"checkpoint '{path}' does not exist")
    if path.is_dir():
        raise UserError(f"checkpoint '{path}' is a directory, not a checkpoint file")
    if not zipfile.is_zipfile(path):
        raise UserError(f"checkpoint '{path}' cannot be read (truncated or corrupt?): "
                        "it is not a PyTorch checkpoint archive")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError:
        raise UserError(f"checkpoint '{path}' cannot be read: it holds objects other than tensors "
                        "and plain data, so it was not written by this project") from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError, OSError, AttributeError,
            KeyError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UserError(f"checkpoint '{path}' cannot be read (truncated or corrupt?): {reason}") from None
    if not isinstance(state, dict) or "kind" not in state:
        raise UserError(f"'{path}' is not a checkpoint of this project")
    if state["kind"] != kind:
        raise UserError(f"checkpoint '{path}' was written by {state['kind']}, not {kind}")
    version = state.get("format_version", 0)
    if version != FORMAT_VERSION:
        raise UserError(f"checkpoint '{path}' has format version {version}; this code reads version "
                        f"{FORMAT_VERSION} only: train it again with this code")
    return state


def _planned_signal() -> tuple[int, int] | None:
    """(step, signal number) from ``$SIGNAL_AT_STEP``, or None."""
    text = os.environ.get(SIGNAL_AT_STEP_ENV, "")
    if not text:
        return None
    step, _, name = text.partition(":")
    return int(step), int(getattr(signal, name or "SIGTERM"))


class StopRequest:
    """Turns SIGINT (Ctrl-C) and SIGTERM (the end of a cluster job) into a flag.

    A training loop calls :meth:`check` once per step; when it returns a reason the loop saves a
    checkpoint and exits cleanly. A second Ctrl-C exits at once. Use as a context manager so the
    previous handlers are restored afterwards.
    """

    def __init__(self) -> None:
        self.requested: str | None = None
        self._previous: dict = {}
        self._planned = _planned_signal()

    def _handle(self, signum, frame) -> None:
        if self.requested is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.requested = signal.Signals(signum).name

    def check(self, step: int) -> str | None:
        """The signal's name if one asked the run to stop, else None (called after each step)."""
        if self._planned is not None and step == self._planned[0]:
            signal.raise_signal(self._planned[1])  # the test hook: handled like a real signal
        return self.requested

    def __enter__(self) -> "StopRequest":
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                self._previous[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not in the main thread: leave the handlers alone
                pass
        return self

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
