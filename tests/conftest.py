"""Shared test fixtures: the repository root on sys.path, a CLI runner, globals restored after
every test, and the development requirements enforced under CI."""
from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "assets" / "book_EN_grimms_fairy_tails.txt"  # the default book, shipped
BOOKS = ROOT.parent / "shared" / "books"  # more books, for development only (may be absent)
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def run_script(*args, cwd=ROOT, timeout=600, env=None):
    """Run ``python <args>`` as a user would and return the CompletedProcess (text mode)."""
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    return subprocess.run([sys.executable, *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, env=full_env)


def assert_one_line_error(proc, *fragments):
    """A user error: non-zero exit, no traceback, one 'error: ...' line naming the fragments."""
    assert proc.returncode != 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = [line for line in proc.stderr.strip().splitlines() if line.strip()]
    assert lines, "nothing was printed on stderr"
    last = lines[-1]
    assert last.startswith("error:") or ": error:" in last, last
    for fragment in fragments:
        assert fragment.lower() in last.lower(), f"{fragment!r} not in {last!r}"


# The development requirements (requirements-dev.txt): under CI a missing one fails the run instead of
# quietly skipping the tests that need it.
DEV_REQUIREMENTS = ("torch_geometric", "xdist")


def pytest_configure(config):
    missing = [name for name in DEV_REQUIREMENTS if importlib.util.find_spec(name) is None]
    if missing and os.environ.get("CI") == "true":
        raise pytest.UsageError(f"CI=true but {', '.join(missing)} is not installed: "
                                "pip install -r requirements-dev.txt")


@pytest.fixture(autouse=True)
def restore_globals():
    """Undo what a test changes in torch's process-wide settings and in the environment."""
    import torch

    threads, dtype, environ = torch.get_num_threads(), torch.get_default_dtype(), dict(os.environ)
    yield
    torch.set_num_threads(threads)
    torch.set_default_dtype(dtype)
    os.environ.clear()
    os.environ.update(environ)
