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


def test_train_bench_takes_part2_flags(capsys):
    """``--train_args`` configures our loop as part2/train.py would (here the preset, with weight drop)."""
    spec = importlib.util.spec_from_file_location("bench_part2_train", ROOT / "bench" / "bench_part2_train.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(["--quick", "--train_args", "--preset best --batch_size 8"]) == 0
    config = json.loads((ROOT / "bench" / "results" / "bench_part2_train.json").read_text(encoding="utf-8"))["config"]
    assert (config["batch_size"], config["seq_length"], config["lstm_num_hidden"], config["weight_drop"]) == \
        (8, 100, 256, 0.25)
