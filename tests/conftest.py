"""Shared test fixtures: the repository root on sys.path, the shared books, a CLI runner."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BOOKS = ROOT.parent / "shared" / "books"
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


@pytest.fixture
def cli():
    return run_script


@pytest.fixture(scope="session")
def books_dir():
    """``../shared/books`` when it exists, else None (tests then generate their own text)."""
    return BOOKS if BOOKS.is_dir() else None
