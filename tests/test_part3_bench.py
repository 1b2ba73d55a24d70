"""bench/bench_gcn.py --quick: our layer and PyG's GCNConv give the same outputs and gradients on the
benchmark's graph, and the report says so (no timing is asserted)."""
from __future__ import annotations

import json

import pytest

from tests.conftest import run_script

PYG_MISSING = ("torch_geometric is not installed (pip install -r requirements-dev.txt); "
               "under CI=true the run fails instead of skipping")


def test_bench_gcn_quick_agrees_with_pyg(tmp_path):
    pytest.importorskip("torch_geometric", reason=PYG_MISSING)
    out = tmp_path / "bench.json"
    proc = run_script("bench/bench_gcn.py", "--quick", "--threads", "1", "--out", out)
    assert proc.returncode == 0, proc.stderr
    assert "outputs agree" in proc.stdout
    report = json.loads(out.read_text(encoding="utf-8"))
    assert report["outputs_agree"] and report["max_abs_diff_output"] <= 1e-5
    assert report["max_abs_diff_grad_h"] <= 1e-5  # the backward through the sparse Â, too
    graph = report["graph"]
    assert graph["nodes"] == 2000
    assert graph["a_hat_nonzeros"] == graph["edge_index_entries"] + graph["nodes"]  # A + I
    assert set(report["results"]) == {"forward", "forward+backward"}
