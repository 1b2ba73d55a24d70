"""Small runtime helpers shared by every part: one-line user errors, devices, seeds, versions.

Scripts wrap their ``main`` in :func:`run_main`. Anything that is the user's fault (a bad flag, a
missing file, a corrupt checkpoint) is raised as :class:`UserError` and printed as a single line
``error: ...`` with exit code 2, never as a traceback.
"""
from __future__ import annotations

import importlib.metadata
import os
import platform
import random
import sys
from typing import Callable

import numpy as np
import torch

EXIT_USER_ERROR = 2
# Versions recorded when installed; read from the package metadata, so nothing heavy is imported.
OPTIONAL_PACKAGES = ("matplotlib", "tqdm", "networkx", "torch_geometric")
EXIT_INTERRUPTED = 130


class UserError(Exception):
    """An error caused by the user's input. Its message is shown as one line, without a traceback."""


def run_main(main: Callable[[], object]) -> None:
    """Run a script's ``main()`` and turn user errors into a one-line message and a non-zero exit."""
    try:
        code = main()
    except UserError as exc:
        message = " ".join(str(exc).split())  # always one line
        print(f"error: {message}", file=sys.stderr)
        sys.exit(EXIT_USER_ERROR)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(EXIT_INTERRUPTED)
    sys.exit(code if isinstance(code, int) else 0)


def resolve_device(name: str) -> torch.device:
    """Turn a ``--device`` value into a device.

    ``auto`` picks CUDA when present and the CPU otherwise; an explicit ``cuda`` request on a machine
    without CUDA is an error rather than a silent fall-back.
    """
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise UserError(f"unknown device '{name}'; use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise UserError(f"--device {name} was requested but CUDA is not available here; "
                            "use --device cpu or --device auto")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise UserError(f"--device {name}: only {torch.cuda.device_count()} CUDA device(s) present")
    elif device.type != "cpu":
        raise UserError(f"unsupported device '{name}'; use auto, cpu, cuda or cuda:N")
    return device


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices) so that a CPU run is repeatable bit for bit."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def environment_info() -> dict:
    """Versions and machine facts saved next to every result and inside every checkpoint."""
    info = {
        "python": platform.python_version(),
        "torch": str(torch.__version__),
        "numpy": np.__version__,
        "platform": platform.platform(),
        "cuda": torch.version.cuda if torch.cuda.is_available() else None,
        "threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
    }
    for name in OPTIONAL_PACKAGES:
        try:
            info[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pass
    return info
