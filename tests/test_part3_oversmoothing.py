"""experiments/oversmoothing.py: plain propagation with Â makes the karate club's nodes alike, the
initial residual keeps them apart; the script's files and its flag check."""
from __future__ import annotations

import json

import torch

from experiments.oversmoothing import curves, mean_abs_cosine
from tests.conftest import assert_one_line_error, run_script


def test_mean_abs_cosine_of_parallel_and_orthogonal_rows():
    assert mean_abs_cosine(torch.tensor([[1.0, 0.0], [-2.0, 0.0], [3.0, 0.0]])) == 1.0
    assert mean_abs_cosine(torch.eye(3, dtype=torch.float64)) == 0.0


def test_plain_propagation_smooths_and_the_residual_does_not():
    # Â^k X tends to the eigenvector D̃^1/2 1 in every column, so all rows become parallel; with the
    # residual the fixed point α (I - (1-α) Â)^-1 X keeps X's differences.
    plain, residual = curves(steps=64)
    assert len(plain) == len(residual) == 65 and plain[0] == residual[0] < 0.5
    assert plain[-1] > 0.99 and residual[-1] < 0.75
    assert plain[16] > plain[4] > plain[1]


def test_script_writes_its_files_and_rejects_bad_flags(tmp_path):
    proc = run_script("experiments/oversmoothing.py", "--steps", "8", "--out_dir", tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "after 0 / 8 steps" in proc.stdout
    lines = (tmp_path / "oversmoothing.csv").read_text(encoding="utf-8").splitlines()
    assert lines[0] == "steps,plain,residual" and len(lines) == 10
    report = json.loads((tmp_path / "oversmoothing.json").read_text(encoding="utf-8"))
    assert report["plain"] == curves(steps=8)[0] and report["args"]["steps"] == 8
    assert (tmp_path / "oversmoothing.png").read_bytes()[:4] == b"\x89PNG"
    assert_one_line_error(run_script("experiments/oversmoothing.py", "--alpha", "2"), "--alpha")
