"""Smoke test: bench/bench_cells.py runs in --quick mode and reports every contender (no timings asserted)."""
from __future__ import annotations

import json

from tests.conftest import run_script


def test_bench_cells_quick(tmp_path):
    out = tmp_path / "cells.json"
    proc = run_script("bench/bench_cells.py", "--quick", "--threads", "1", "--out", out)
    assert proc.returncode == 0, proc.stderr
    assert "ours/builtin" in proc.stdout
    result = json.loads(out.read_text(encoding="utf-8"))
    assert set(result["activations_us"]) == {"tanh", "sigmoid", "2 sigmoid(2a) - 1"}
    rows = result["rows"]
    assert {r["model"] for r in rows} == {"RNN", "LSTM"}
    for r in rows:
        for name in ("ours", "ours_autograd", "builtin"):
            assert r[f"{name}_ms"] > 0 and r[f"{name}_saved_MB"] >= 0
        assert r["ratio"] > 0


def test_bench_cells_peak_memory_quick(tmp_path):
    out = tmp_path / "memory.json"
    proc = run_script("bench/bench_cells.py", "--quick", "--peak_memory", "--models", "LSTM",
                      "--out", out)
    assert proc.returncode == 0, proc.stderr
    (row,) = json.loads(out.read_text(encoding="utf-8"))["rows"]
    assert row["model"] == "LSTM" and row["T"] == 10
    for name in ("ours", "ours_autograd", "builtin"):
        assert row[f"{name}_peak_MB"] >= 0
    if row["builtin_peak_MB"] > 0:
        assert row["peak_ratio"] == row["ours_peak_MB"] / row["builtin_peak_MB"]
