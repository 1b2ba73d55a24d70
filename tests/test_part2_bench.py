"""Smoke test: each part-2 benchmark runs in --quick mode (no timing is asserted)."""
from __future__ import annotations

import json

import pytest

from tests.conftest import ROOT, run_script
from tests.test_part2_support import ONE_THREAD


@pytest.mark.parametrize("name", ["bench_part2_train", "bench_part2_sampling"])
def test_bench_runs_quick(name):
    out = ROOT / "bench" / "results" / f"{name}.json"
    before = out.stat().st_mtime_ns if out.exists() else None
    proc = run_script(f"bench/{name}.py", "--quick", env=ONE_THREAD)
    assert proc.returncode == 0, proc.stderr
    assert "wrote" in proc.stdout
    assert out.stat().st_mtime_ns != before
    report = json.loads(out.read_text(encoding="utf-8"))
    assert report["results"] and all(r["median_s"] > 0 for r in report["results"].values())
