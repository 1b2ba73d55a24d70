"""Smoke test: each part-2 benchmark runs in --quick mode (no timing is asserted).

The scripts run in this process (their ``main``), which spares a Python start per script."""
from __future__ import annotations

import importlib.util
import json

import pytest

from tests.conftest import ROOT
from tests.test_part2_support import single_thread  # noqa: F401

pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.mark.parametrize("name", ["bench_part2_train", "bench_part2_sampling"])
def test_bench_runs_quick(name, capsys):
    spec = importlib.util.spec_from_file_location(name, ROOT / "bench" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = ROOT / "bench" / "results" / f"{name}.json"
    before = out.stat().st_mtime_ns if out.exists() else None
    assert module.main(["--quick"]) == 0
    printed = capsys.readouterr().out
    assert "wrote" in printed and "median" in printed
    assert out.stat().st_mtime_ns != before
    report = json.loads(out.read_text(encoding="utf-8"))
    assert report["results"] and all(r["median_s"] > 0 for r in report["results"].values())
