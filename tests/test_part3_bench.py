"""bench/bench_gcn.py runs in --quick mode and reports agreeing outputs (no timing is asserted)."""
from __future__ import annotations

import json

import pytest

from tests.conftest import run_script


def test_bench_gcn_quick(tmp_path):
    pytest.importorskip("torch_geometric")
    out = tmp_path / "bench.json"
    proc = run_script("bench/bench_gcn.py", "--quick", "--threads", "1", "--out", out)
    assert proc.returncode == 0, proc.stderr
    assert "forward+backward" in proc.stdout and "outputs agree" in proc.stdout
    report = json.loads(out.read_text(encoding="utf-8"))
    assert report["outputs_agree"] and report["max_abs_diff_output"] <= 1e-5
    assert report["graph"]["nodes"] == 2000
    for case in ("forward", "forward+backward"):
        result = report["results"][case]
        assert result["ours"]["runs"] == result["pyg"]["runs"] == 3
        assert result["ratio_ours_over_pyg"] > 0
    assert "torch" in report["environment"]
