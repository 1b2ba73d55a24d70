"""Runtime helpers of the scripts beside the parts (reproduce.py, report/render.py, experiments/):
one-line user errors and the versions recorded with results.

Scripts wrap their ``main`` in :func:`run_main`. Anything that is the user's fault (a bad flag, a
missing file, a corrupt checkpoint) is raised as :class:`UserError` and printed as a single line
``error: ...`` with exit code 2, never as a traceback.
"""
from __future__ import annotations

import importlib.metadata
import os
import platform
import sys
from typing import Callable

import numpy as np
import torch

EXIT_USER_ERROR = 2
# Versions recorded when installed; read from the package metadata, so nothing heavy is imported.
OPTIONAL_PACKAGES = ("matplotlib", "tqdm", "networkx", "torch_geometric")


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
        sys.exit(130)  # as the parts' training scripts
    sys.exit(code if isinstance(code, int) else 0)


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
