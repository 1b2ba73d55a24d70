"""bench/bench_cells.py compares like with like: its contenders compute the same function and the same
gradients in the step it times, and a quick run writes a row per model. (Its timings are not
asserted: machine-dependent.)"""
from __future__ import annotations

import importlib.util
import json

import pytest
import torch

from part1.train import MODELS
from tests.conftest import ROOT

spec = importlib.util.spec_from_file_location("bench_cells", ROOT / "bench" / "bench_cells.py")
bench_cells = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench_cells)


@pytest.mark.parametrize("input_dim", [1, 10])
@pytest.mark.parametrize("kind", list(MODELS))
def test_contenders_compute_the_same_logits_and_gradients(kind, input_dim):
    """The timed step of each contender from the same weights: equal logits, and equal clipped
    gradients of the read-out and of the recurrent weights (mapped to PyTorch's gate order)."""
    torch.manual_seed(0)
    models = bench_cells.contenders(kind, 7, input_dim, 6)
    assert set(models) == ({"readable", "bptt", "builtin"} if kind != "GRU" else {"readable", "builtin"})
    x, y = bench_cells.batch_of(7, input_dim, 5)
    logits = {name: model(x) for name, model in models.items()}
    for step in map(bench_cells.TrainingStep, models.values()):
        step(x, y)  # the gradients stay on the parameters until the next step
    builtin = models["builtin"]
    for name, ours in models.items():
        torch.testing.assert_close(logits[name], logits["builtin"], atol=1e-5, rtol=1e-5)
        if name != "builtin":
            torch.testing.assert_close(ours.W_ph.grad, builtin.W_ph.grad, atol=1e-5, rtol=1e-4)
            recurrent = torch.cat([getattr(ours, g[1]).grad for g in bench_cells.TORCH_LAYOUT[kind][1]])
            torch.testing.assert_close(recurrent, builtin.rnn.weight_hh_l0.grad, atol=1e-5, rtol=1e-4)


def test_quick_run_writes_a_row_per_model(tmp_path, capsys):
    out = tmp_path / "cells.json"
    bench_cells.main(["--quick", "--threads", "1", "--out", str(out)])
    result = json.loads(out.read_text(encoding="utf-8"))
    assert [(r["model"], r["T"], r["input_dim"]) for r in result["rows"]] == [
        ("RNN", 10, 10), ("LSTM", 10, 10), ("GRU", 10, 10)]
    for row in result["rows"]:
        assert row["readable/builtin"] > 0 and row["readable_saved_MB"] > 0
        assert ("bptt/builtin" in row) == (row["model"] != "GRU")
    assert "readable/builtin" in capsys.readouterr().out
