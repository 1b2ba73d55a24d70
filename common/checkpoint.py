"""Checkpoints that are never half-written and that fail with a clear message when they are wrong.

A checkpoint is one dictionary. Besides whatever the part stores (model and optimizer state, args,
vocabulary, step, best validation loss, RNG states) it always carries

* ``kind``: which program wrote it (``"part1"``, ``"part2"`` ...), so that a checkpoint of another
  part is refused by name;
* ``format_version``: bumped when the layout changes, so a checkpoint from a newer version of this
  code is refused instead of being misread.

Saving goes to a temporary file in the same folder, is flushed to disk, and is then renamed over the
target (an atomic operation on POSIX), so a run killed while saving leaves the previous checkpoint
intact; :func:`atomic_write_text` does the same for JSON and CSV files that concurrent processes
share. Loading uses ``weights_only=True`` (no arbitrary code runs) and ``map_location`` (a CUDA
checkpoint opens on a CPU).
"""
from __future__ import annotations

import os
import pickle
import secrets
import signal
import zipfile
from pathlib import Path

import torch

from common.runtime import UserError

FORMAT_VERSION = 1


def _atomic_write(path: str | os.PathLike, write, **open_kwargs) -> None:
    """Call ``write(handle)`` on a new file next to ``path``, flush it to disk, rename it over ``path``.

    Readers (another process, a SLURM task) see the old file or the new one, never half of one.
    """
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


def atomic_save(obj, path: str | os.PathLike) -> None:
    """``torch.save`` to ``path`` through a temporary file and a rename."""
    _atomic_write(path, lambda handle: torch.save(obj, handle), mode="xb")


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` as UTF-8 to ``path`` through a temporary file and a rename (no newline
    translation, so CSV text keeps its line ends)."""
    _atomic_write(path, lambda handle: handle.write(text), mode="x", encoding="utf-8", newline="")


def save_checkpoint(state: dict, path: str | os.PathLike, kind: str) -> None:
    """Atomically write ``state`` with its ``kind`` and ``format_version`` stamped in."""
    atomic_save({**state, "kind": kind, "format_version": FORMAT_VERSION}, path)


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
    if version > FORMAT_VERSION:
        raise UserError(f"checkpoint '{path}' has format version {version}, newer than this code "
                        f"understands ({FORMAT_VERSION}); update the code")
    return state


class StopRequest:
    """Turns SIGINT (Ctrl-C) and SIGTERM (the end of a cluster job) into a flag.

    A training loop checks ``stop.requested`` once per step; when it is set the loop saves a
    checkpoint and exits cleanly. A second Ctrl-C exits at once. Use as a context manager so the
    previous handlers are restored afterwards.
    """

    def __init__(self) -> None:
        self.requested: str | None = None
        self._previous: dict = {}

    def _handle(self, signum, frame) -> None:
        if self.requested is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.requested = signal.Signals(signum).name

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
