"""The part-2 benchmarks: each runs in --quick mode and reports every contender (no timing is
asserted), the training benchmark takes part2/train.py's flags, and the sampling benchmark's
contenders all write the same greedy text (so it compares like with like).

The scripts run in this process (their ``main``), which spares a Python start per script."""
from __future__ import annotations

import importlib.util
import json

import pytest
import torch

from tests.conftest import ROOT


@pytest.fixture(autouse=True)
def one_thread():
    torch.set_num_threads(1)  # conftest restores the thread count


def bench(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "bench" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def report_of(name):
    return json.loads((ROOT / "bench" / "results" / f"{name}.json").read_text(encoding="utf-8"))


def test_train_bench_quick_times_both_loops_for_the_quick_step_count(capsys):
    assert bench("bench_part2_train").main(["--quick"]) == 0
    assert "ratio ours / plain" in capsys.readouterr().out
    report = report_of("bench_part2_train")
    assert {name: row["steps"] for name, row in report["results"].items()} == {"ours": 5, "plain": 5}
    assert (report["config"]["batch_size"], report["config"]["seq_length"]) == (64, 30)  # train.py's defaults


def test_train_bench_takes_part2_flags_and_the_best_experiment():
    """``--train_args`` configures both loops as part2/train.py would; ``--best`` times the preset."""
    assert bench("bench_part2_train").main(["--quick", "--best", "--train_args", "--batch_size 4 --seq_length 20"]) == 0
    config = report_of("bench_part2_train")["config"]
    assert (config["batch_size"], config["seq_length"], config["lstm_num_hidden"], config["weight_drop"]) == \
        (4, 20, 256, 0.25)


def test_sampling_bench_quick_reports_every_sampler():
    assert bench("bench_part2_sampling").main(["--quick"]) == 0
    report = report_of("bench_part2_sampling")
    assert report["results"].keys() == {"greedy", "temperature", "beam5", "plain_stateful", "naive_rerun"}
    assert report["config"]["length"] == 100


def test_sampling_bench_contenders_write_the_same_greedy_text():
    from part2.model import TextGenerationModel
    from part2.sample import generate
    module = bench("bench_part2_sampling")
    torch.manual_seed(1)
    model = TextGenerationModel(1, 1, 20, 32, 2, device="cpu", embedding_dim=8).eval()
    with torch.no_grad():  # larger weights: a greedy text that is not one character repeated
        for weight in model.lstm.parameters():
            weight.mul_(2.0)
        model.output.weight.mul_(3.0)
    ours = generate(model, torch.tensor([[1]]), 40)[0].tolist()
    assert module.plain_stateful(model, 40) == ours
    assert module.naive_rerun(model, 40) == ours
    assert len(set(ours)) > 1
