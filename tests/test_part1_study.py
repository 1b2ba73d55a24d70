"""The length study: rows per cell, a summary, resume without redoing work, nothing half-finished,
SLURM array tasks merged by the next plain run, workers, and the curriculum variant."""
from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest
import torch

from common.checkpoint import load_checkpoint
from common.io import read_csv, read_json
from part1 import length_study
from tests.conftest import assert_one_line_error, run_script
from tests.test_part1_train import ONE_THREAD, one_thread, run_in_process  # noqa: F401 (fixture)

STUDY = "part1/length_study.py"


def study(monkeypatch, capsys, *argv):
    """part1/length_study.py, in process."""
    return run_in_process(monkeypatch, capsys, length_study.main, *argv)


def test_study_writes_rows_summary_figure_and_table_then_resumes(tmp_path, monkeypatch, capsys):
    out = tmp_path / "study"
    proc = study(monkeypatch, capsys, "--quick", "--lengths", "3", "--out_dir", out)
    assert proc.returncode == 0, proc.stderr
    first = read_csv(out / "results.csv")
    assert [(r["model_type"], r["input_length"], r["curriculum"]) for r in first] == [
        ("LSTM", 3, False), ("RNN", 3, False)]
    for r in first:
        assert r["test_accuracy"] >= 0.99, r
        assert r["learning_rate"] and r["optimizer"] == "rmsprop"  # the recipe is recorded
    summary = read_json(out / "summary.json")
    assert summary["rows"] == 2
    for name, row in (("LSTM", first[0]), ("RNN", first[1])):
        (entry,) = summary["series"][name]
        assert entry["input_length"] == 3 and entry["seeds"] == 1
        assert entry["mean_accuracy"] == entry["min_accuracy"] == row["test_accuracy"]
        assert entry["mean_steps"] == row["steps"]
    assert (out / "accuracy_vs_length.png").stat().st_size > 10_000
    table = (out / "accuracy_vs_length.md").read_text(encoding="utf-8")
    assert "| LSTM | 3 |" in table and "| RNN | 3 |" in table
    again = study(monkeypatch, capsys, "--quick", "--lengths", "3", "--out_dir", out)
    assert again.returncode == 0 and "2 already done, 0 to run" in again.stdout
    assert read_csv(out / "results.csv") == first
    # a full study must not pick up the quick recipe's rows
    mixed = study(monkeypatch, capsys, "--lengths", "3", "--out_dir", out)
    assert_one_line_error(mixed, "--quick", "another --out_dir")


def test_killed_cell_is_not_recorded_and_resumes_from_its_checkpoint(tmp_path, monkeypatch, capsys):
    """SIGKILL at step 50 of a 60-step cell checkpointed every 20: no row, and the next run
    resumes the cell from step 40 and records it once finished."""
    out = tmp_path / "study"
    flags = ["--models", "RNN", "--lengths", "10", "--seeds", "0", "--out_dir", out,
             "--max_steps", "60", "--checkpoint_every", "20"]
    proc = run_script(STUDY, *flags, env={**ONE_THREAD, "SIGNAL_AT_STEP": "50:SIGKILL"})
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    checkpoint = out / "runs" / "RNN_T010_s0" / "checkpoint.pt"
    assert load_checkpoint(checkpoint, "part1")["step"] == 40
    assert not (out / "cells").exists() or not list((out / "cells").glob("*.json"))
    assert not (out / "results.csv").exists()
    again = study(monkeypatch, capsys, *flags)
    assert again.returncode == 0, again.stderr
    assert "resuming RNN_T010_s0 from its checkpoint at step 40" in again.stdout
    (row,) = read_csv(out / "results.csv")
    assert row["steps"] == 60 and row["input_length"] == 10


def test_sigterm_stops_the_study_without_recording_the_cut_cell(tmp_path, monkeypatch, capsys):
    """SIGTERM at step 30 of the first of two cells: no row for it, the second never starts, the
    study exits 130; the next run resumes the cut cell from step 30 and runs both."""
    out = tmp_path / "study"
    flags = ["--models", "RNN", "--lengths", "2", "3", "--max_steps", "40", "--quick",
             "--checkpoint_every", "20", "--out_dir", out]
    monkeypatch.setenv("SIGNAL_AT_STEP", "30:SIGTERM")
    proc = study(monkeypatch, capsys, *flags)
    assert proc.returncode == 130 and "rerun the same command" in proc.stderr, proc.stderr
    assert not list((out / "cells").glob("*.json")) and not (out / "runs" / "RNN_T003_s0").exists()
    monkeypatch.delenv("SIGNAL_AT_STEP")
    again = study(monkeypatch, capsys, *flags)
    assert again.returncode == 0, again.stderr
    assert "resuming RNN_T002_s0 from its checkpoint at step 30" in again.stdout
    assert [(r["input_length"], r["steps"]) for r in read_csv(out / "results.csv")] == [(2, 40),
                                                                                        (3, 40)]


def test_slurm_tasks_run_one_cell_each_and_the_next_plain_run_merges_them(tmp_path, monkeypatch,
                                                                          capsys):
    out = tmp_path / "study"
    script = tmp_path / "study.sbatch"
    flags = ["--quick", "--lengths", "2", "3", "--models", "RNN", "--max_steps", "10",
             "--out_dir", out]
    proc = study(monkeypatch, capsys, *flags, "--write_sbatch", script)
    assert proc.returncode == 0, proc.stderr
    text = script.read_text(encoding="utf-8")
    assert text.startswith("#!/bin/bash\n") and "#SBATCH --array=0-1\n" in text
    assert (out / "slurm").is_dir()  # SLURM writes the tasks' output there but does not create it
    # each array task, as SLURM would start it: the script itself, with its task number
    path = os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"]
    for task in ("1", "0"):
        ran = subprocess.run(["bash", str(script)], capture_output=True, text=True, timeout=600,
                             env={**os.environ, **ONE_THREAD, "SLURM_ARRAY_TASK_ID": task,
                                  "PATH": path})
        assert ran.returncode == 0, ran.stderr
    assert sorted(p.name for p in (out / "cells").glob("*.json")) == ["RNN_T002_s0.json",
                                                                      "RNN_T003_s0.json"]
    merged = study(monkeypatch, capsys, *flags)
    assert "2 cells, 2 already done, 0 to run" in merged.stdout
    assert [r["input_length"] for r in read_csv(out / "results.csv")] == [2, 3]
    assert (out / "accuracy_vs_length.md").exists()
    bad = study(monkeypatch, capsys, *flags, "--task_from_env")  # no SLURM_ARRAY_TASK_ID
    assert_one_line_error(bad, "SLURM_ARRAY_TASK_ID")
    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "5")
    assert_one_line_error(study(monkeypatch, capsys, *flags, "--task_from_env"), "0..1")


def test_parallel_workers_fill_every_cell(tmp_path):
    out = tmp_path / "study"
    proc = run_script(STUDY, "--quick", "--lengths", "2", "3", "--models", "RNN", "--workers", "2",
                      "--max_steps", "10", "--out_dir", out, env=ONE_THREAD)
    assert proc.returncode == 0, proc.stderr
    assert [r["input_length"] for r in read_csv(out / "results.csv")] == [2, 3]
    assert read_json(out / "wall_time.json")["workers"] == 2
    assert not list(out.rglob("*.tmp")), "a temporary file of an atomic write was left behind"


@pytest.mark.parametrize("flags,message", [
    (["--lengths", "1"], "at least 2"), (["--workers", "0"], "positive"),
    (["--models", "GRU"], "invalid choice"), (["--seeds", "1", "1"], "distinct"),
    (["--seeds", "-1"], ">= 0")])
def test_bad_study_flags(tmp_path, monkeypatch, capsys, flags, message):
    assert_one_line_error(study(monkeypatch, capsys, *flags, "--out_dir", tmp_path / "s"), message)
    assert not (tmp_path / "s").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_missing_cuda_is_refused_before_anything_is_written(tmp_path, monkeypatch, capsys):
    proc = study(monkeypatch, capsys, "--quick", "--lengths", "3", "--device", "cuda",
                 "--out_dir", tmp_path / "s")
    assert_one_line_error(proc, "--device cuda", "CUDA is not available")
    assert not (tmp_path / "s").exists()


def test_curriculum_warm_starts_each_length_shares_the_folder_and_resumes(tmp_path, monkeypatch,
                                                                          capsys):
    out = tmp_path / "study"
    common = ["--quick", "--seeds", "0", "--models", "RNN", "--max_steps", "20",
              "--checkpoint_every", "10", "--out_dir", str(out)]
    flags = ["--curriculum", "--lengths", "6", "5", *common]  # run from short to long
    proc = study(monkeypatch, capsys, *flags)
    assert proc.returncode == 0, proc.stderr
    rows = read_csv(out / "results.csv")
    assert [(r["input_length"], r["curriculum"]) for r in rows] == [(5, True), (6, True)]
    runs = out / "runs"
    first = read_json(runs / "RNN_T005_s0_cur" / "config.json")
    second = read_json(runs / "RNN_T006_s0_cur" / "config.json")
    assert first["args"]["init_from"] is None
    assert second["args"]["init_from"] == str(runs / "RNN_T005_s0_cur" / "model.pt")
    # the from-scratch study in the same folder keeps its own cells, rows and series
    scratch = study(monkeypatch, capsys, "--lengths", "5", *common)
    assert scratch.returncode == 0 and "1 cells, 0 already done, 1 to run" in scratch.stdout
    # a rerun skips the finished curriculum cell and resumes a cut one from its own checkpoint
    (out / "cells" / "RNN_T006_s0_cur.json").unlink()
    again = study(monkeypatch, capsys, *flags)
    assert again.returncode == 0, again.stderr
    assert "2 curriculum cells, 1 already done, 1 to run" in again.stdout
    assert "resuming RNN_T006_s0_cur from its checkpoint" in again.stdout
    second = read_json(runs / "RNN_T006_s0_cur" / "config.json")
    assert second["args"]["init_from"] == str(runs / "RNN_T005_s0_cur" / "model.pt")
    rows = read_csv(out / "results.csv")
    assert [(r["input_length"], r["curriculum"]) for r in rows] == [(5, False), (5, True), (6, True)]
    table = (out / "accuracy_vs_length.md").read_text(encoding="utf-8")
    assert "| RNN | 5 |" in table and "| RNN (curriculum) | 5 |" in table
    assert "| RNN (curriculum) | 6 |" in table and "| RNN | 6 |" not in table
    assert [e["input_length"] for e in read_json(out / "summary.json")["series"]["RNN (curriculum)"]] \
        == [5, 6]


def test_atomic_text_writes_replace_whole_files(tmp_path):
    from common.io import atomic_write_text
    path = tmp_path / "deep" / "results.csv"
    atomic_write_text(path, "a,b\r\n1,2\r\n")
    atomic_write_text(path, "a,b\r\n3,4\r\n")
    assert path.read_bytes() == b"a,b\r\n3,4\r\n"
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file is left


def test_curriculum_is_refused_on_the_slurm_path(tmp_path, monkeypatch, capsys):
    proc = study(monkeypatch, capsys, "--curriculum", "--write_sbatch", tmp_path / "s.sbatch",
                 "--out_dir", tmp_path / "study")
    assert_one_line_error(proc, "--curriculum", "--write_sbatch")
    assert not (tmp_path / "s.sbatch").exists()


def test_curriculum_and_baseline_rows_stay_out_of_the_from_scratch_summaries():
    from part1.study import recipe_kind, summarise
    from report.part1_study import group
    common = {"steps": 100, "status": "early_stop", "train_steps": 3000, "learning_rate": 1e-3,
              "batch_size": 128}
    rows_read = [{"model_type": "RNN", "input_length": 5, "seed": 0, "test_accuracy": 1.0,
                  "curriculum": False},
                 {"model_type": "RNN", "input_length": 10, "seed": 0, "test_accuracy": 0.2,
                  "curriculum": False},
                 {"model_type": "RNN", "input_length": 10, "seed": 0, "test_accuracy": 1.0,
                  "curriculum": True},
                 {"model_type": "RNN", "input_length": 5, "seed": 0, "test_accuracy": 0.1,
                  "curriculum": False, "recipe": "baseline"}]
    summary = summarise(rows_read)
    assert summary["RNN"][10] == (0.2, 0.2, 0.2, 1)
    assert summary["RNN (curriculum)"] == {10: (1.0, 1.0, 1.0, 1)}
    # the report groups by the same kinds: the tuned series keeps only its own rows
    stats = group([{**r, **common, "kind": recipe_kind(r), "test_size": 100} for r in rows_read])
    assert {k: [(t, s["min"]) for t, s in v.items()] for k, v in stats.items()} == {
        ("RNN", "tuned"): [(5, 1.0), (10, 0.2)], ("RNN", "curriculum"): [(10, 1.0)],
        ("RNN", "baseline"): [(5, 0.1)]}


@pytest.mark.parametrize("model_type", ["RNN", "LSTM"])
@pytest.mark.parametrize("quick", [False, True])
def test_baseline_recipe_differs_from_the_tuned_one_only_in_training_parameters(model_type, quick):
    from part1.recipes import baseline_recipe, recipe
    for length in (5, 20, 80):
        tuned, base = recipe(model_type, length, quick), recipe(model_type, length, quick, True)
        assert base == baseline_recipe(model_type, length, quick)
        changed = {k for k in {*tuned, *base} if tuned.get(k) != base.get(k)}
        assert changed <= {"learning_rate", "init", "recurrent_init", "chrono", "train_steps"}
        assert (base["optimizer"], base["learning_rate"], base["init"]) == ("rmsprop", 1e-3,
                                                                            "uniform")
        assert base["train_steps"] == (1000 if quick else 3000)
        assert base["time_limit"] == tuned["time_limit"] and base["input_dim"] == 10
        if model_type == "RNN":
            assert tuned["recurrent_init"] == "orthogonal" and base["recurrent_init"] == "same"
        else:  # no chrono: train.py's default forget bias
            assert tuned["chrono"] is True and not base.get("chrono")


def test_baseline_grid_names_and_series_stay_apart():
    from part1.study import STYLES, cell_name, grid, series, summarise
    assert [t for _, t, _ in grid(["RNN"], None, [0], False, False, baseline=True)] == [
        5, 10, 15, 20, 30, 40, 50]
    assert [t for _, t, _ in grid(["RNN"], [7], [0], False, False, baseline=True)] == [7]
    assert cell_name("LSTM", 5, 1, baseline=True) == "LSTM_T005_s1_base"
    rows = [{"model_type": "LSTM", "input_length": 5, "seed": 0, "test_accuracy": accuracy,
             "curriculum": kind == "curriculum", "recipe": kind}
            for accuracy, kind in ((1.0, "tuned"), (0.5, "baseline"), (0.8, "curriculum"))]
    rows.append({"model_type": "LSTM", "input_length": 5, "seed": 1, "test_accuracy": 0.9,
                 "curriculum": False})  # a row recorded before the recipe column
    assert [series(r) for r in rows] == ["LSTM", "LSTM (baseline)", "LSTM (curriculum)", "LSTM"]
    summary = summarise(rows)
    assert summary["LSTM (baseline)"] == {5: (0.5, 0.5, 0.5, 1)}
    assert summary["LSTM"][5] == (0.95, 0.9, 1.0, 2)
    drawn = {name for name, *_ in STYLES}
    assert {"RNN (baseline)", "LSTM (baseline)"} <= drawn  # the figure draws the series it knows


def test_baseline_study_runs_resumes_and_shares_the_folder(tmp_path, monkeypatch, capsys):
    out = tmp_path / "study"
    common = ["--quick", "--lengths", "5", "--max_steps", "10", "--out_dir", str(out)]
    proc = study(monkeypatch, capsys, "--baseline", *common)
    assert proc.returncode == 0, proc.stderr
    assert "2 baseline cells, 0 already done, 2 to run" in proc.stdout
    assert sorted(p.name for p in (out / "cells").glob("*.json")) == ["LSTM_T005_s0_base.json",
                                                                      "RNN_T005_s0_base.json"]
    rnn = read_json(out / "runs" / "RNN_T005_s0_base" / "config.json")["args"]
    lstm = read_json(out / "runs" / "LSTM_T005_s0_base" / "config.json")["args"]
    assert (rnn["learning_rate"], rnn["recurrent_init"]) == (1e-3, "same")
    assert (lstm["learning_rate"], lstm["chrono"], lstm["forget_bias"]) == (1e-3, False, 1.0)
    tuned = study(monkeypatch, capsys, "--models", "RNN", *common)
    assert tuned.returncode == 0 and "1 cells, 0 already done, 1 to run" in tuned.stdout
    again = study(monkeypatch, capsys, "--baseline", *common)
    assert "2 baseline cells, 2 already done, 0 to run" in again.stdout
    rows = read_csv(out / "results.csv")
    assert [(r["model_type"], r["recipe"], r["curriculum"]) for r in rows] == [
        ("LSTM", "baseline", False), ("RNN", "tuned", False), ("RNN", "baseline", False)]
    assert rows[2]["learning_rate"] == 1e-3 and rows[1]["learning_rate"] != 1e-3
    assert sorted(read_json(out / "summary.json")["series"]) == ["LSTM (baseline)", "RNN",
                                                                 "RNN (baseline)"]
    table = (out / "accuracy_vs_length.md").read_text(encoding="utf-8")
    assert "| RNN | 5 |" in table and "| RNN (baseline) | 5 |" in table
    assert "| LSTM (baseline) | 5 |" in table and "| LSTM | 5 |" not in table


def test_baseline_is_refused_with_curriculum_and_passed_to_slurm_tasks(tmp_path, monkeypatch,
                                                                       capsys):
    proc = study(monkeypatch, capsys, "--baseline", "--curriculum", "--out_dir", tmp_path / "s")
    assert_one_line_error(proc, "--baseline", "--curriculum")
    assert not (tmp_path / "s").exists()
    script = tmp_path / "s.sbatch"
    proc = study(monkeypatch, capsys, "--baseline", "--models", "RNN", "--write_sbatch", script,
                 "--out_dir", tmp_path / "s")
    assert proc.returncode == 0, proc.stderr
    text = script.read_text(encoding="utf-8")
    assert "#SBATCH --array=0-20\n" in text  # 7 lengths x 3 seeds
    assert " --baseline --task_from_env\n" in text
    # what one array task runs: its baseline cell, named and tagged as such
    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "1")
    task = study(monkeypatch, capsys, "--baseline", "--models", "RNN", "--lengths", "4", "5",
                 "--seeds", "0", "--quick", "--max_steps", "5", "--task_from_env",
                 "--out_dir", tmp_path / "t")
    assert task.returncode == 0, task.stderr
    assert read_json(tmp_path / "t" / "cells" / "RNN_T005_s0_base.json")["recipe"] == "baseline"
    assert [p.name for p in (tmp_path / "t" / "cells").iterdir()] == ["RNN_T005_s0_base.json"]
