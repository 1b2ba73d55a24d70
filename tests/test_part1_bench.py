"""bench/bench_cells.py compares like with like: its three contenders compute the same function and
the same gradients in the step it times, its tanh through the sigmoid is tanh, and its rows name
the models they measured. (Its timings and memory figures are not asserted: machine-dependent.)"""
from __future__ import annotations

import importlib.util
import json

import pytest
import torch

from tests.conftest import ROOT, run_script

spec = importlib.util.spec_from_file_location("bench_cells", ROOT / "bench" / "bench_cells.py")
bench_cells = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench_cells)


@pytest.mark.parametrize("input_dim", [1, 10])
@pytest.mark.parametrize("kind", ["RNN", "LSTM"])
def test_contenders_compute_the_same_logits_and_gradients(kind, input_dim):
    """The timed step of each contender from the same weights: equal logits, and equal clipped
    gradients of the read-out and of the recurrent weights (mapped to PyTorch's gate order)."""
    torch.manual_seed(0)
    T, n = 7, 6
    models = bench_cells.contenders(kind, T, input_dim, n)
    x, y = bench_cells.batch_of(T, input_dim, 5)
    logits = {name: model(x) for name, model in models.items()}
    for name in ("ours", "ours_autograd"):
        torch.testing.assert_close(logits[name], logits["builtin"], atol=1e-5, rtol=1e-5)
    for step in map(bench_cells.TrainingStep, models.values()):
        step(x, y)  # the gradients stay on the parameters until the next step
    builtin = models["builtin"]
    gates = "ifgo" if kind == "LSTM" else "h"
    for name in ("ours", "ours_autograd"):
        ours = models[name]
        torch.testing.assert_close(ours.W_ph.grad, builtin.W_ph.grad, atol=1e-5, rtol=1e-4)
        recurrent = torch.cat([getattr(ours, f"W_{g}h").grad for g in gates])
        torch.testing.assert_close(recurrent, builtin.rnn.weight_hh_l0.grad, atol=1e-5, rtol=1e-4)


def test_tanh_through_the_sigmoid_is_tanh():
    a = torch.linspace(-12, 12, 4097).view(17, 241)
    out = torch.empty_like(a)
    forms = bench_cells.activation_forms(a, out)
    torch.testing.assert_close(forms["tanh"]().clone(), torch.tanh(a))
    torch.testing.assert_close(forms["sigmoid"]().clone(), torch.sigmoid(a))
    # float32: 2 sigmoid(2a) - 1 is within a few units of 1e-7 of tanh(a) everywhere
    torch.testing.assert_close(forms["2 sigmoid(2a) - 1"]().clone(), torch.tanh(a), atol=1e-6, rtol=0)


def test_quick_run_writes_a_row_per_model_and_contender(tmp_path):
    out = tmp_path / "cells.json"
    proc = run_script("bench/bench_cells.py", "--quick", "--threads", "1", "--out", out)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(out.read_text(encoding="utf-8"))
    assert set(result["activations_us"]) == {"tanh", "sigmoid", "2 sigmoid(2a) - 1"}
    assert [(r["model"], r["T"], r["input_dim"]) for r in result["rows"]] == [("RNN", 10, 10),
                                                                             ("LSTM", 10, 10)]
    for row in result["rows"]:
        assert {f"{name}_ms" for name in ("ours", "ours_autograd", "builtin")} <= set(row)
