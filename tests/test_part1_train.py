"""part1/train.py end to end: it learns T=5, resumes exactly (refusing changed run flags), stops on
divergence before a checkpoint holds it, and rejects bad input in one line."""
from __future__ import annotations

import csv
import json
import re
import signal
import subprocess
import sys
import time

import pytest
import torch

from part1 import train as train_mod
from tests.conftest import ROOT, assert_one_line_error, run_script


def run_train(tmp_path, *flags, name="run"):
    return run_script("part1/train.py", "--out_dir", tmp_path / name, "--quiet", *flags)


@pytest.mark.parametrize("model_type", ["RNN", "LSTM"])
def test_learns_length_5_to_99_percent(tmp_path, model_type):
    """The assignment's sanity check: both models are near-perfect at T=5 with the defaults."""
    args = train_mod.parse_args(["--model_type", model_type, "--input_length", "5", "--out_dir",
                                 str(tmp_path / model_type), "--train_steps", "3000",
                                 "--test_size", "2000"])
    result = train_mod.train(args, progress=False)
    assert result["test_accuracy"] >= 0.99, result
    out = tmp_path / model_type
    rows = list(csv.DictReader(open(out / "metrics.csv", encoding="utf-8")))
    assert rows and float(rows[0]["test_accuracy"]) < result["test_accuracy"]
    saved = json.loads((out / "result.json").read_text(encoding="utf-8"))
    assert saved["test_accuracy"] == result["test_accuracy"]
    config = json.loads((out / "config.json").read_text(encoding="utf-8"))
    assert config["args"]["model_type"] == model_type and "torch" in config["environment"]


def test_cli_runs_a_few_steps_from_inside_part1(tmp_path):
    proc = run_script("train.py", "--model_type", "LSTM", "--input_length", "4", "--input_dim",
                      "10", "--train_steps", "20", "--eval_every", "10", "--test_size", "100",
                      "--eval_size", "100", "--out_dir", tmp_path / "x", cwd=ROOT / "part1")
    assert proc.returncode == 0, proc.stderr
    assert "held-out accuracy" in proc.stdout
    assert (tmp_path / "x" / "model.pt").exists() and (tmp_path / "x" / "checkpoint.pt").exists()


def test_resume_after_sigkill_equals_uninterrupted_run(tmp_path):
    flags = ["--model_type", "LSTM", "--input_length", "6", "--num_hidden", "16",
             "--train_steps", "400", "--eval_every", "20", "--checkpoint_every", "20",
             "--no_early_stop", "--test_size", "200", "--eval_size", "200", "--device", "cpu"]
    whole = run_train(tmp_path, *flags, name="whole")
    assert whole.returncode == 0, whole.stderr

    cmd = [sys.executable, "part1/train.py", "--out_dir", str(tmp_path / "cut"), "--quiet", *flags]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    metrics = tmp_path / "cut" / "metrics.csv"
    deadline = time.time() + 120
    while time.time() < deadline:  # kill once a few checkpoints exist, well before the end
        if metrics.exists() and len(metrics.read_text().splitlines()) > 5:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    step_at_kill = len(metrics.read_text().splitlines()) - 1
    assert step_at_kill < 20, "the run finished before it could be killed"
    resumed = run_train(tmp_path, *flags, "--resume", name="cut")
    assert resumed.returncode == 0, resumed.stderr

    a = torch.load(tmp_path / "whole" / "model.pt", weights_only=True)["model"]
    b = torch.load(tmp_path / "cut" / "model.pt", weights_only=True)["model"]
    for key in a:
        assert torch.equal(a[key], b[key]), key
    strip = lambda path: [{k: v for k, v in r.items() if k != "seconds"}
                          for r in csv.DictReader(open(path, encoding="utf-8"))]
    assert strip(tmp_path / "whole" / "metrics.csv") == strip(tmp_path / "cut" / "metrics.csv")


def test_sigterm_saves_a_checkpoint_and_exits_cleanly(tmp_path):
    cmd = [sys.executable, "part1/train.py", "--out_dir", str(tmp_path / "t"), "--quiet",
           "--input_length", "30", "--train_steps", "100000", "--checkpoint_every", "0",
           "--eval_every", "10", "--eval_size", "100", "--test_size", "100"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    metrics = tmp_path / "t" / "metrics.csv"
    deadline = time.time() + 60
    while not metrics.exists() and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "SIGTERM: saved" in err and "Traceback" not in err
    state = torch.load(tmp_path / "t" / "checkpoint.pt", weights_only=True)
    assert state["progress"]["step"] >= 10


BAD_FLAGS = [
    (["--model_type", "GRU"], "invalid choice"),
    (["--input_length", "1"], "at least 2"),
    (["--input_length", "0"], "positive integer"),
    (["--batch_size", "0"], "positive integer"),
    (["--batch_size", "-5"], "positive integer"),
    (["--learning_rate", "0"], "positive number"),
    (["--learning_rate=-1e-3"], "positive number"),
    (["--learning_rate", "abc"], "not a valid float"),
    (["--train_steps", "0"], "positive integer"),
    (["--num_hidden", "0"], "positive integer"),
    (["--max_norm", "-1"], "positive number"),
    (["--input_dim", "3"], "invalid choice"),
    (["--early_stop_accuracy", "1.5"], "(0, 1]"),
    (["--eval_size", "500", "--test_size", "100"], "cannot exceed"),
    (["--device", "cuda"] if not torch.cuda.is_available() else ["--device", "tpu"], "cuda"),
    (["--resume"], "no checkpoint"),
]


@pytest.mark.parametrize("flags,message", BAD_FLAGS, ids=[" ".join(f) for f, _ in BAD_FLAGS])
def test_bad_flags_give_one_line_error(tmp_path, flags, message):
    proc = run_train(tmp_path, "--train_steps", "5", *flags) if "--train_steps" not in flags \
        else run_train(tmp_path, *flags)
    assert_one_line_error(proc, message)


def test_existing_run_is_not_overwritten(tmp_path):
    flags = ["--input_length", "3", "--train_steps", "10", "--eval_every", "5",
             "--test_size", "50", "--eval_size", "50"]
    assert run_train(tmp_path, *flags).returncode == 0
    before = (tmp_path / "run" / "checkpoint.pt").read_bytes()
    proc = run_train(tmp_path, *flags)
    assert_one_line_error(proc, "--resume", "--overwrite")
    assert (tmp_path / "run" / "checkpoint.pt").read_bytes() == before


def test_corrupt_checkpoint_is_a_clear_error(tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "checkpoint.pt").write_bytes(b"PK\x03\x04 truncated")
    assert_one_line_error(run_train(tmp_path, "--resume"), "cannot be read")


def test_divergence_stops_with_advice(tmp_path):
    proc = run_train(tmp_path, "--optimizer", "sgd", "--learning_rate", "1e30", "--max_norm",
                     "1e30", "--train_steps", "50", "--eval_every", "5", "--input_length", "5")
    assert_one_line_error(proc, "diverged at step", "--learning_rate")


@pytest.mark.parametrize("every", [3, 1])
def test_divergence_names_the_first_bad_step_and_never_checkpoints_it(tmp_path, every):
    """The loss explodes at step 2; with checkpoints every 3 (or every) steps and evaluations every
    10, the error names a step <= 10 and no checkpoint on disk holds exploded weights."""
    proc = run_train(tmp_path, "--optimizer", "sgd", "--learning_rate", "1e30", "--max_norm", "1e30",
                     "--eval_every", "10", "--checkpoint_every", str(every), "--train_steps", "100",
                     "--eval_size", "100", "--test_size", "100")
    assert_one_line_error(proc, "diverged at step", "--learning_rate")
    step = int(re.search(r"diverged at step (\d+)", proc.stderr).group(1))
    assert 1 <= step <= 10, proc.stderr
    checkpoint = tmp_path / "run" / "checkpoint.pt"
    if checkpoint.exists():
        state = torch.load(checkpoint, weights_only=True)
        assert state["progress"]["step"] < step
        for name, value in state["model"].items():
            assert torch.isfinite(value).all() and value.abs().max() < 1e3, name
    else:
        assert "no checkpoint was written" in proc.stderr


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    """A finished 10-step run (8 hidden units, RMSprop, seed 0) to resume with other flags."""
    out = tmp_path_factory.mktemp("resume") / "run"
    proc = run_script("part1/train.py", "--out_dir", out, "--quiet", "--input_length", "4",
                      "--num_hidden", "8", "--train_steps", "10", "--eval_every", "5",
                      "--test_size", "50", "--eval_size", "50")
    assert proc.returncode == 0, proc.stderr
    return out


RESUME_MISMATCHES = [
    (["--num_hidden", "16"], ["--num_hidden 16", "8"]),
    (["--input_dim", "10"], ["--input_dim 10", "1"]),
    (["--optimizer", "adam"], ["--optimizer adam", "rmsprop"]),
    (["--learning_rate", "0.01"], ["--learning_rate 0.01", "0.001"]),
    (["--seed", "3"], ["--seed 3", "0"]),
    (["--num_h", "16"], ["--num_hidden 16"]),  # an abbreviated flag is recognised too
]


@pytest.mark.parametrize("flags,fragments", RESUME_MISMATCHES,
                         ids=[" ".join(f) for f, _ in RESUME_MISMATCHES])
def test_resume_with_changed_run_flags_is_refused(small_run, flags, fragments):
    before = {name: (small_run / name).read_bytes() for name in ("checkpoint.pt", "config.json")}
    proc = run_script("part1/train.py", "--out_dir", small_run, "--quiet", "--resume", *flags)
    assert_one_line_error(proc, *fragments, "differs from the resumed checkpoint")
    assert {name: (small_run / name).read_bytes() for name in before} == before


def test_resume_takes_the_run_flags_from_the_checkpoint(tmp_path, small_run):
    out = tmp_path / "copy"
    out.mkdir()
    (out / "checkpoint.pt").write_bytes((small_run / "checkpoint.pt").read_bytes())
    proc = run_script("part1/train.py", "--out_dir", out, "--resume", "--train_steps", "20",
                      "--learning_rate", "1e-3", "--eval_every", "4", "--device", "cpu")
    assert proc.returncode == 0, proc.stderr
    config = json.loads((out / "config.json").read_text(encoding="utf-8"))
    args = config["args"]
    assert (args["num_hidden"], args["input_length"], args["test_size"]) == (8, 4, 50)
    assert (args["train_steps"], args["eval_every"], args["device"]) == (20, 4, "cpu")
    assert "tqdm" in config["environment"] and "matplotlib" in config["environment"]
    assert json.loads((out / "result.json").read_text(encoding="utf-8"))["steps"] == 20


def foreign_checkpoints(folder):
    """A checkpoint written by part 2 and one in a format newer than this code's."""
    from common.checkpoint import atomic_save, save_checkpoint
    save_checkpoint({"model_state": {}, "args": {}}, folder / "part2.pt", "part2")
    atomic_save({"kind": train_mod.CHECKPOINT_KIND, "format_version": 99, "model": {}, "args": {}},
                folder / "newer.pt")
    return folder / "part2.pt", folder / "newer.pt"


def test_resume_from_another_part_or_a_newer_format_is_refused(tmp_path):
    part2, newer = foreign_checkpoints(tmp_path)
    for source, fragments in ((part2, ["written by part2", "not part1"]),
                              (newer, ["format version 99", "newer"])):
        out = tmp_path / source.stem
        out.mkdir()
        (out / "checkpoint.pt").write_bytes(source.read_bytes())
        proc = run_script("part1/train.py", "--out_dir", out, "--quiet", "--resume")
        assert_one_line_error(proc, *fragments)
        assert not (out / "config.json").exists()


@pytest.fixture(scope="module")
def source_model(tmp_path_factory):
    """The model.pt of a finished 5-step RNN run (8 hidden units, seed 1) to warm-start from."""
    out = tmp_path_factory.mktemp("init_from") / "source"
    proc = run_script("part1/train.py", "--out_dir", out, "--quiet", "--input_length", "4",
                      "--num_hidden", "8", "--seed", "1", "--train_steps", "5", "--eval_every", "5",
                      "--test_size", "50", "--eval_size", "50")
    assert proc.returncode == 0, proc.stderr
    return out / "model.pt"


def test_init_from_starts_from_the_saved_weights(tmp_path, source_model):
    """Another length and seed, one step of SGD with a vanishing learning rate: the final weights are
    the source's (a fresh initialisation of seed 0 would be far from them), and config.json says so."""
    source = torch.load(source_model, weights_only=True)["model"]
    args = train_mod.parse_args(["--init_from", str(source_model), "--input_length", "7",
                                 "--num_hidden", "8", "--seed", "0", "--optimizer", "sgd",
                                 "--learning_rate", "1e-12", "--train_steps", "1",
                                 "--test_size", "50", "--eval_size", "50",
                                 "--out_dir", str(tmp_path / "warm"), "--device", "cpu"])
    assert train_mod.read_init_from(args, "cpu").keys() == source.keys()
    fresh = train_mod.build_model(args, "cpu").state_dict()
    assert any(not torch.allclose(fresh[k], source[k]) for k in source)
    train_mod.train(args, progress=False)
    warm = torch.load(tmp_path / "warm" / "model.pt", weights_only=True)
    for name, value in source.items():
        assert torch.allclose(warm["model"][name], value, rtol=0, atol=1e-9), name
    config = json.loads((tmp_path / "warm" / "config.json").read_text(encoding="utf-8"))
    assert config["args"]["init_from"] == str(source_model)
    assert config["args"]["input_length"] == 7


def test_init_from_bad_sources_give_one_line_error(tmp_path, source_model):
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"PK\x03\x04 truncated")
    small = ["--num_hidden", "8", "--train_steps", "5", "--test_size", "50", "--eval_size", "50"]
    cases = [
        (["--init_from", tmp_path / "missing.pt", *small], ["--init_from", "does not exist"]),
        (["--init_from", corrupt, *small], ["--init_from", "cannot be read"]),
        (["--init_from", source_model.parent / "checkpoint.pt", *small],
         ["--init_from", "written by part1, not part1-model"]),
        (["--init_from", source_model, "--model_type", "LSTM", *small],
         ["--model_type RNN", "--model_type LSTM"]),
        (["--init_from", source_model, *small, "--num_hidden", "16"],
         ["--num_hidden 8", "--num_hidden 16"]),
        (["--init_from", source_model, *small, "--input_dim", "10"], ["--input_dim 1", "--input_dim 10"]),
    ]
    for number, (flags, fragments) in enumerate(cases):
        proc = run_train(tmp_path, *flags, name=f"run{number}")
        assert_one_line_error(proc, *fragments)
        assert not (tmp_path / f"run{number}").exists(), "a refused --init_from wrote a folder"


def test_init_from_with_resume_is_refused(tmp_path, source_model):
    proc = run_train(tmp_path, "--resume", "--init_from", source_model)
    assert_one_line_error(proc, "--init_from", "--resume")


def test_resume_keeps_init_from_of_the_checkpoint(tmp_path, source_model):
    flags = ["--init_from", source_model, "--input_length", "5", "--num_hidden", "8",
             "--train_steps", "4", "--eval_every", "2", "--test_size", "50", "--eval_size", "50"]
    assert run_train(tmp_path, *flags).returncode == 0
    proc = run_train(tmp_path, "--resume", "--train_steps", "6")
    assert proc.returncode == 0, proc.stderr
    config = json.loads((tmp_path / "run" / "config.json").read_text(encoding="utf-8"))
    assert config["args"]["init_from"] == str(source_model) and config["args"]["train_steps"] == 6
