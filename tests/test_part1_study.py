"""The length study: rows per cell, resume without redoing work, nothing half-finished, SLURM, workers."""
from __future__ import annotations

import csv
import json
import signal
import subprocess
import sys
import time

import pytest
import torch

from tests.conftest import ROOT, assert_one_line_error, run_script

STUDY = "part1/length_study.py"


def rows(out):
    return list(csv.DictReader(open(out / "results.csv", encoding="utf-8")))


def test_study_writes_rows_figure_and_table_then_resumes(tmp_path):
    out = tmp_path / "study"
    proc = run_script(STUDY, "--quick", "--lengths", "3", "--out_dir", out)
    assert proc.returncode == 0, proc.stderr
    first = rows(out)
    assert [(r["model_type"], r["input_length"]) for r in first] == [("LSTM", "3"), ("RNN", "3")]
    for r in first:
        assert float(r["test_accuracy"]) >= 0.99, r
        assert r["learning_rate"] and r["optimizer"] == "rmsprop"  # the recipe is recorded
    assert (out / "accuracy_vs_length.png").stat().st_size > 10_000
    table = (out / "accuracy_vs_length.md").read_text(encoding="utf-8")
    assert "| LSTM | 3 |" in table and "| RNN | 3 |" in table
    again = run_script(STUDY, "--quick", "--lengths", "3", "--out_dir", out)
    assert again.returncode == 0 and "2 already done, 0 to run" in again.stdout
    assert rows(out) == first
    # a full study must not pick up the quick recipe's rows
    mixed = run_script(STUDY, "--lengths", "3", "--out_dir", out)
    assert_one_line_error(mixed, "--quick", "another --out_dir")


def test_killed_cell_is_not_recorded_and_resumes_from_its_checkpoint(tmp_path):
    out = tmp_path / "study"
    flags = ["--models", "RNN", "--lengths", "40", "--seeds", "0", "--out_dir", str(out),
             "--max_steps", "150", "--checkpoint_every", "50"]
    proc = subprocess.Popen([sys.executable, STUDY, *flags], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    checkpoint = out / "runs" / "RNN_T040_s0" / "checkpoint.pt"
    deadline = time.time() + 120
    while not checkpoint.exists() and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert checkpoint.exists(), "the run never reached its first checkpoint"
    assert not (out / "cells").exists() or not list((out / "cells").glob("*.json"))
    assert not (out / "results.csv").exists()
    again = run_script(STUDY, *flags)
    assert again.returncode == 0, again.stderr
    assert "resuming RNN_T040_s0 from its checkpoint at step" in again.stdout
    (row,) = rows(out)
    assert row["steps"] == "150" and row["status"] == "max_steps"


def test_slurm_array_script_and_one_task(tmp_path):
    out = tmp_path / "study"
    script = tmp_path / "study.sbatch"
    flags = ["--quick", "--lengths", "2", "3", "--models", "RNN", "--out_dir", str(out)]
    proc = run_script(STUDY, *flags, "--write_sbatch", script)
    assert proc.returncode == 0, proc.stderr
    text = script.read_text(encoding="utf-8")
    assert "#SBATCH --array=0-1" in text and "--task_from_env" in text and "--lengths 2 3" in text
    task = run_script(STUDY, *flags, "--task_from_env", env={"SLURM_ARRAY_TASK_ID": "1"})
    assert task.returncode == 0, task.stderr
    done = sorted(p.name for p in (out / "cells").glob("*.json"))
    assert done == ["RNN_T003_s0.json"]
    assert json.loads((out / "cells" / done[0]).read_text())["input_length"] == 3
    bad = run_script(STUDY, *flags, "--task_from_env", env={"SLURM_ARRAY_TASK_ID": "5"})
    assert_one_line_error(bad, "SLURM_ARRAY_TASK_ID")


def test_parallel_workers_fill_every_cell(tmp_path):
    out = tmp_path / "study"
    proc = run_script(STUDY, "--quick", "--lengths", "2", "3", "--models", "RNN", "--workers", "2",
                      "--out_dir", out)
    assert proc.returncode == 0, proc.stderr
    assert [r["input_length"] for r in rows(out)] == ["2", "3"]
    assert json.loads((out / "wall_time.json").read_text())["workers"] == 2
    assert not list(out.rglob("*.tmp")), "a temporary file of an atomic write was left behind"


def test_bad_study_flags(tmp_path):
    assert_one_line_error(run_script(STUDY, "--lengths", "1", "--out_dir", tmp_path), "at least 2")
    assert_one_line_error(run_script(STUDY, "--workers", "0", "--out_dir", tmp_path), "positive")
    assert_one_line_error(run_script(STUDY, "--models", "GRU", "--out_dir", tmp_path), "invalid choice")
    assert_one_line_error(run_script(STUDY, "--seeds", "1", "1", "--out_dir", tmp_path), "distinct")


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_missing_cuda_is_refused_before_anything_is_written(tmp_path):
    proc = run_script(STUDY, "--quick", "--lengths", "3", "--device", "cuda", "--out_dir", tmp_path / "s")
    assert_one_line_error(proc, "--device cuda", "CUDA is not available")
    assert not (tmp_path / "s").exists()


def test_atomic_text_writes_replace_whole_files(tmp_path):
    from common.checkpoint import atomic_write_text
    path = tmp_path / "deep" / "results.csv"
    atomic_write_text(path, "a,b\r\n1,2\r\n")
    atomic_write_text(path, "a,b\r\n3,4\r\n")
    assert path.read_bytes() == b"a,b\r\n3,4\r\n"
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file is left


def test_curriculum_warm_starts_each_length_shares_the_folder_and_resumes(tmp_path):
    out = tmp_path / "study"
    common = ["--quick", "--seeds", "0", "--models", "RNN", "--max_steps", "20",
              "--checkpoint_every", "10", "--out_dir", str(out)]
    flags = ["--curriculum", "--lengths", "6", "5", *common]  # run from short to long
    proc = run_script(STUDY, *flags)
    assert proc.returncode == 0, proc.stderr
    assert [(r["input_length"], r["curriculum"]) for r in rows(out)] == [("5", "True"), ("6", "True")]
    runs = out / "runs"
    first = json.loads((runs / "RNN_T005_s0_cur" / "config.json").read_text(encoding="utf-8"))
    second = json.loads((runs / "RNN_T006_s0_cur" / "config.json").read_text(encoding="utf-8"))
    assert first["args"]["init_from"] is None
    assert second["args"]["init_from"] == str(runs / "RNN_T005_s0_cur" / "model.pt")
    # the from-scratch study in the same folder keeps its own cells, rows and series
    scratch = run_script(STUDY, "--lengths", "5", *common)
    assert scratch.returncode == 0 and "1 cells, 0 already done, 1 to run" in scratch.stdout
    # a rerun skips the finished curriculum cell and resumes a cut one from its own checkpoint
    (out / "cells" / "RNN_T006_s0_cur.json").unlink()
    again = run_script(STUDY, *flags)
    assert again.returncode == 0, again.stderr
    assert "2 curriculum cells, 1 already done, 1 to run" in again.stdout
    assert "resuming RNN_T006_s0_cur from its checkpoint" in again.stdout
    second = json.loads((runs / "RNN_T006_s0_cur" / "config.json").read_text(encoding="utf-8"))
    assert second["args"]["init_from"] == str(runs / "RNN_T005_s0_cur" / "model.pt")
    assert [(r["input_length"], r["curriculum"]) for r in rows(out)] == [
        ("5", "False"), ("5", "True"), ("6", "True")]
    table = (out / "accuracy_vs_length.md").read_text(encoding="utf-8")
    assert "| RNN | 5 |" in table and "| RNN (curriculum) | 5 |" in table
    assert "| RNN (curriculum) | 6 |" in table and "| RNN | 6 |" not in table


def test_curriculum_is_refused_on_the_slurm_path(tmp_path):
    proc = run_script(STUDY, "--curriculum", "--write_sbatch", tmp_path / "s.sbatch",
                      "--out_dir", tmp_path / "study")
    assert_one_line_error(proc, "--curriculum", "--write_sbatch")
    assert not (tmp_path / "s.sbatch").exists()


def test_curriculum_rows_stay_out_of_the_from_scratch_summaries():
    from part1.length_study import summarise
    from report.part1 import _longest_solved
    rows_read = [{"model_type": "RNN", "input_length": "5", "seed": "0", "test_accuracy": "1.0",
                  "curriculum": "False"},
                 {"model_type": "RNN", "input_length": "10", "seed": "0", "test_accuracy": "0.2",
                  "curriculum": "False"},
                 {"model_type": "RNN", "input_length": "10", "seed": "0", "test_accuracy": "1.0",
                  "curriculum": "True"}]
    assert _longest_solved(rows_read, "RNN") == (5, {5: [1.0], 10: [0.2]})
    summary = summarise(rows_read)
    assert summary["RNN"][10] == (0.2, 0.2, 0.2, 1)
    assert summary["RNN (curriculum)"] == {10: (1.0, 1.0, 1.0, 1)}
