"""experiments/length_study.py: a row per finished cell, results.csv, figure and table, resume without
redoing work and without recording a cut cell, SLURM array tasks merged by the next plain run, workers,
the baseline and curriculum series sharing one folder."""
from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest
import torch

from common.io import read_csv, read_json
from experiments import length_study
from part1.bptt import FAST
from tests.conftest import ROOT

ONE_THREAD = {"OMP_NUM_THREADS": "1"}


@pytest.fixture(autouse=True)
def one_thread():
    torch.set_num_threads(1)


def study(capsys, *argv):
    """The study in process: (exit code, stdout, stderr); a parser error is exit code 2 too."""
    try:
        code = length_study.main([str(a) for a in argv])
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def test_study_writes_rows_figure_and_table_then_skips_finished_cells(tmp_path, capsys):
    out = tmp_path / "study"
    code, stdout, err = study(capsys, "--quick", "--lengths", "3", "--max_steps", "400", "--out_dir", out)
    assert code == 0, err
    rows = read_csv(out / "results.csv")
    assert [(r["model_type"], r["input_length"], r["recipe"]) for r in rows] == [
        ("GRU", 3, "tuned"), ("LSTM", 3, "tuned"), ("RNN", 3, "tuned")]
    for r in rows:
        assert r["test_accuracy"] >= 0.95, r  # 100 distinct palindromes: learnt within the budget
        assert r["optimizer"] == "rmsprop" and r["learning_rate"] and "test_size" not in r
    assert read_json(out / "cells" / "LSTM_T003_s0.json")["test_size"] == 2000
    assert read_json(out / "config.json")["recipes"]["RNN_T3"] == length_study.recipe("RNN", 3, quick=True)
    assert (out / "accuracy_vs_length.png").stat().st_size > 10_000
    table = (out / "accuracy_vs_length.md").read_text(encoding="utf-8")
    assert "| LSTM | 3 |" in table and "| GRU | 3 |" in table
    code, stdout, _ = study(capsys, "--quick", "--lengths", "3", "--max_steps", "400", "--out_dir", out)
    assert code == 0 and "3 already done, 0 to run" in stdout and read_csv(out / "results.csv") == rows
    # a study with other budgets must not mix its rows into this folder
    code, _, err = study(capsys, "--lengths", "3", "--out_dir", out)
    assert code == 2 and "--quick" in err and "another --out_dir" in err


def test_sigterm_stops_the_study_without_recording_the_cut_cell(tmp_path, capsys, monkeypatch):
    """SIGTERM during step 30 of the first of two cells: no row for it, the second never starts, exit
    130; the next run resumes the cut cell from its checkpoint at step 30 and runs both."""
    class Signalling(FAST["RNN"]):
        calls = 0

        def forward(self, x, return_states=False):
            if self.training:
                Signalling.calls += 1
                if Signalling.calls == 30:
                    os.kill(os.getpid(), signal.SIGTERM)
            return super().forward(x, return_states)
    monkeypatch.setattr(length_study, "FAST", {**FAST, "RNN": Signalling})
    out = tmp_path / "study"
    flags = ["--models", "RNN", "--lengths", "2", "3", "--max_steps", "40", "--quick", "--out_dir", out]
    code, _, err = study(capsys, *flags)
    assert code == 130 and "rerun the same command" in err, err
    assert not list((out / "cells").glob("*.json")) and not (out / "runs" / "RNN_T003_s0").exists()
    assert torch.load(out / "runs" / "RNN_T002_s0" / "checkpoint.pt", weights_only=True)["step"] == 30
    code, stdout, err = study(capsys, *flags)
    assert code == 0, err
    assert "resuming RNN_T002_s0 from its checkpoint at step 30" in stdout
    assert [(r["input_length"], r["steps"]) for r in read_csv(out / "results.csv")] == [(2, 40), (3, 40)]


def test_slurm_tasks_run_one_cell_each_and_the_next_plain_run_merges_them(tmp_path, capsys, monkeypatch):
    out = tmp_path / "study"
    flags = ["--quick", "--lengths", "2", "3", "--models", "RNN", "--max_steps", "10", "--out_dir", out]
    code, stdout, _ = study(capsys, *flags, "--count")
    assert code in (0, None) and stdout.strip() == "2"
    # each array task as SLURM starts it: the committed script, its task number in the environment
    path = os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"]
    for task in ("1", "0"):
        ran = subprocess.run(["bash", str(ROOT / "experiments" / "length_study.sbatch"), *map(str, flags)],
                             capture_output=True, text=True, timeout=600, cwd=ROOT,
                             env={**os.environ, **ONE_THREAD, "SLURM_ARRAY_TASK_ID": task, "PATH": path})
        assert ran.returncode == 0, ran.stderr
    assert sorted(p.name for p in (out / "cells").glob("*.json")) == ["RNN_T002_s0.json", "RNN_T003_s0.json"]
    code, stdout, _ = study(capsys, *flags)
    assert code == 0 and "2 cells, 2 already done, 0 to run" in stdout
    assert [r["input_length"] for r in read_csv(out / "results.csv")] == [2, 3]
    code, _, err = study(capsys, *flags, "--task_from_env")  # no SLURM_ARRAY_TASK_ID
    assert code == 2 and "SLURM_ARRAY_TASK_ID" in err
    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "5")
    assert "0..1" in study(capsys, *flags, "--task_from_env")[2]


def test_parallel_workers_fill_every_cell(tmp_path, capsys):
    out = tmp_path / "study"
    code, _, err = study(capsys, "--quick", "--lengths", "2", "3", "--models", "RNN", "--workers", "2",
                         "--max_steps", "10", "--out_dir", out)
    assert code == 0, err
    assert [r["input_length"] for r in read_csv(out / "results.csv")] == [2, 3]
    assert not list(out.rglob("*.tmp")), "a temporary file of an atomic write was left behind"


@pytest.mark.parametrize("flags, message", [
    (["--lengths", "1"], "at least 2"), (["--models", "CNN"], "invalid choice"),
    (["--seeds", "1", "1"], "distinct"), (["--baseline", "--curriculum"], "separate studies"),
    (["--curriculum", "--task_from_env"], "SLURM")])
def test_bad_study_flags(tmp_path, capsys, flags, message):
    code, _, err = study(capsys, *flags, "--out_dir", tmp_path / "s")
    assert code == 2 and message in err.strip().splitlines()[-1]
    assert not (tmp_path / "s").exists()


def test_curriculum_warm_starts_each_length_and_shares_the_folder(tmp_path, capsys):
    out = tmp_path / "study"
    common = ["--quick", "--models", "RNN", "--max_steps", "20", "--out_dir", out]
    code, _, err = study(capsys, "--curriculum", "--lengths", "6", "5", *common)  # short to long
    assert code == 0, err
    rows = read_csv(out / "results.csv")
    assert [(r["input_length"], r["recipe"]) for r in rows] == [(5, "curriculum"), (6, "curriculum")]
    runs = out / "runs"
    cell = read_json(out / "cells" / "RNN_T006_s0_cur.json")
    assert cell["init_from"] == str(runs / "RNN_T005_s0_cur" / "model.pt")
    assert read_json(out / "cells" / "RNN_T005_s0_cur.json")["init_from"] is None
    # the baseline series shares the folder and stays apart
    code, _, _ = study(capsys, "--lengths", "5", "--baseline", *common)
    assert code == 0
    rows = read_csv(out / "results.csv")
    assert [(r["input_length"], r["recipe"]) for r in rows] == [(5, "curriculum"), (6, "curriculum"), (5, "baseline")]
    assert rows[2]["recurrent_init"] == "uniform" and rows[0]["recurrent_init"] == "orthogonal"
    table = (out / "accuracy_vs_length.md").read_text(encoding="utf-8")
    assert "| RNN (curriculum) | 6 |" in table and "| RNN (baseline) | 5 |" in table


def test_curriculum_starts_from_the_shorter_cells_weights(tmp_path, monkeypatch):
    seen = []
    real = length_study.train

    def spy(config, models, weights=None):
        seen.append(weights)
        return real(config, models, weights)
    monkeypatch.setattr(length_study, "train", spy)
    length_study.main(["--curriculum", "--quick", "--models", "LSTM", "--lengths", "4", "5",
                       "--max_steps", "5", "--out_dir", str(tmp_path), "--quiet"])
    assert seen[0] is None
    final = torch.load(tmp_path / "runs" / "LSTM_T004_s0_cur" / "model.pt", weights_only=True)["model"]
    assert all(torch.equal(seen[1][k], final[k]) for k in final)


@pytest.mark.parametrize("model_type", ["RNN", "LSTM", "GRU"])
def test_baseline_recipe_differs_from_the_tuned_one_only_in_training_parameters(model_type):
    tuned, base = length_study.recipe(model_type, 30), length_study.recipe(model_type, 30, baseline=True)
    changed = {k for k in tuned.keys() | base.keys() if tuned.get(k) != base.get(k)}
    assert changed <= {"learning_rate", "train_steps", "chrono", "recurrent_init"}
    assert base["learning_rate"] == 1e-3 and "chrono" not in base
    assert base.get("recurrent_init") in (None, "uniform")
