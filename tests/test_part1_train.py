"""part1/train.py: it learns T=5 and scores the fixed test set, clips after the backward, stops early, on
time or on a signal with a checkpoint that resumes to exactly the weights of a run never stopped, and
answers bad flags and checkpoints in one line with exit code 2."""
from __future__ import annotations

import json
import math
import os
import signal

import pytest
import torch

from common.io import read_csv
from part1 import train as train_py
from part1.dataset import encode_input, fixed_test_set
from part1.train import MODELS, parse_args, train
from tests.conftest import ROOT, run_script

ONE_THREAD = {"OMP_NUM_THREADS": "1"}  # for subprocesses
# A small LSTM run of 120 steps, evaluated and checkpointed every 20, never stopped early: the
# reference that interrupted and resumed runs must reproduce bit for bit.
SMALL = ["--model_type", "LSTM", "--input_length", "6", "--num_hidden", "16", "--train_steps", "120",
         "--eval_every", "20", "--checkpoint_every", "20", "--early_stop_patience", "0",
         "--test_size", "200", "--eval_size", "200", "--device", "cpu", "--quiet"]


@pytest.fixture(autouse=True)
def one_thread():
    torch.set_num_threads(1)  # bit-identical runs need the same reduction order; conftest restores it


def weights(path):
    return torch.load(path, weights_only=True)["model"]


def assert_same_run(a, b):
    """Two run folders hold bit-identical final weights and the same metrics (seconds aside)."""
    wa, wb = weights(a / "model.pt"), weights(b / "model.pt")
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)
    strip = lambda rows: [{k: v for k, v in r.items() if k != "seconds"} for r in rows]  # noqa: E731
    assert strip(read_csv(a / "metrics.csv")) == strip(read_csv(b / "metrics.csv"))


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("reference") / "whole"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        result = train(parse_args([*SMALL, "--out_dir", str(out)]))
    finally:
        torch.set_num_threads(threads)
    assert result["status"] == "max_steps" and result["steps"] == 120
    return out


def signalling(at_call, signum=signal.SIGTERM):
    """A registry whose LSTM sends ``signum`` to this process during its ``at_call``-th training forward."""
    class Signalling(MODELS["LSTM"]):
        calls = 0

        def forward(self, x, return_states=False):
            if self.training:
                Signalling.calls += 1
                if Signalling.calls == at_call:
                    os.kill(os.getpid(), signum)
            return super().forward(x, return_states)
    return {**MODELS, "LSTM": Signalling}


def test_gru_learns_length_5(tmp_path):
    """The assignment's sanity check, on the cell added through the registry: near-perfect at T=5."""
    result = train(parse_args(["--model_type", "GRU", "--input_length", "5", "--input_dim", "10",
                               "--train_steps", "1500", "--eval_every", "50", "--test_size", "2000",
                               "--out_dir", str(tmp_path), "--quiet"]))
    assert result["test_accuracy"] >= 0.99, result
    assert json.loads((tmp_path / "result.json").read_text()) == result
    rows = read_csv(tmp_path / "metrics.csv")
    assert list(rows[0]) == train_py.METRICS and rows[0]["val_accuracy"] < result["test_accuracy"]
    assert json.loads((tmp_path / "config.json").read_text())["args"]["model_type"] == "GRU"


def test_result_is_the_score_of_model_pt_on_the_whole_test_set(tmp_path):
    """After 10 steps (far from solved) result.json holds model.pt's accuracy and loss on all
    --test_size test palindromes, not on the --eval_size validation ones."""
    result = train(parse_args(["--input_length", "5", "--input_dim", "10", "--num_hidden", "16",
                               "--train_steps", "10", "--eval_every", "5", "--eval_size", "100",
                               "--test_size", "1000", "--quiet", "--out_dir", str(tmp_path)]))
    saved = torch.load(tmp_path / "model.pt", weights_only=True)
    assert saved["result"] == result and "optimizer" not in saved
    model = MODELS["RNN"](5, 10, 16, 10)
    model.load_state_dict(saved["model"])
    digits, targets = fixed_test_set(6, 1000)
    with torch.no_grad():
        logits = model(encode_input(digits, 10))
    assert result["test_accuracy"] == (logits.argmax(1) == targets).sum().item() / 1000
    assert result["test_loss"] == pytest.approx(torch.nn.functional.cross_entropy(logits, targets).item(), rel=1e-5)
    assert 0.1 < result["test_accuracy"] < 0.9  # the premise: an unsolved task


def test_gru_trains_from_the_command_line_inside_part1(tmp_path):
    proc = run_script("train.py", "--model_type", "GRU", "--input_length", "10", "--train_steps", "20",
                      "--eval_every", "10", "--test_size", "100", "--eval_size", "100",
                      "--out_dir", tmp_path / "x", cwd=ROOT / "part1", env=ONE_THREAD)
    assert proc.returncode == 0, proc.stderr
    assert "GRU T=10: test accuracy" in proc.stdout
    assert (tmp_path / "x" / "model.pt").exists() and (tmp_path / "x" / "checkpoint.pt").exists()


def test_help_shows_the_defaults(capsys):
    with pytest.raises(SystemExit) as exit_info:
        train_py.main(["--help"])
    out = capsys.readouterr().out
    assert exit_info.value.code == 0
    for text in ("--model_type {RNN,LSTM,GRU}", "(default: 128)", "--max_norm", "(default: 0.001)"):
        assert text in out, text


def test_sigterm_saves_that_step_and_resume_equals_the_uninterrupted_run(tmp_path, reference, capsys):
    cut = tmp_path / "cut"
    code = train_py.main([*SMALL, "--out_dir", str(cut)], models=signalling(50))
    err = capsys.readouterr().err
    assert code == 130 and err.strip() == (f"interrupted at step 50; checkpoint saved to "
                                           f"{cut / 'checkpoint.pt'}; continue with --resume")
    assert torch.load(cut / "checkpoint.pt", weights_only=True)["step"] == 50
    assert not (cut / "model.pt").exists()
    assert train(parse_args([*SMALL, "--out_dir", str(cut), "--resume"]))["steps"] == 120
    assert_same_run(reference, cut)


def test_a_run_killed_after_a_checkpoint_resumes_from_it(tmp_path, reference):
    """What survives a kill is the last checkpoint (step 60 here); resuming it ends as the whole run."""
    cut = tmp_path / "cut"
    argv = [a if a != "120" else "60" for a in SMALL]
    train(parse_args([*argv, "--out_dir", str(cut)]))
    train(parse_args([*SMALL, "--out_dir", str(cut), "--resume"]))
    assert_same_run(reference, cut)


class TickingClock:
    """A clock that advances one second each time it is read: --time_limit without real time."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        self.now += 1.0
        return self.now


def test_time_limit_counts_this_process_only_and_the_run_resumes(tmp_path, reference):
    """The clock ticks a second per reading: a limit of 1 s stops at the first evaluation; resumed
    with 2.5 s the run gets a fresh budget and passes that evaluation (had the limit counted the first
    session's seconds too, it would have stopped at step 40)."""
    out = tmp_path / "timed"
    first = train(parse_args([*SMALL, "--out_dir", str(out), "--time_limit", "1"]), clock=TickingClock())
    assert first["status"] == "time_limit" and first["steps"] == 20, first  # checked at evaluations
    again = train(parse_args([*SMALL, "--out_dir", str(out), "--resume", "--time_limit", "2.5"]),
                  clock=TickingClock())
    assert again["status"] == "time_limit" and 40 < again["steps"] < 120, again
    last = train(parse_args([*SMALL, "--out_dir", str(out), "--resume"]), clock=TickingClock())
    assert last["status"] == "max_steps" and last["train_seconds"] > again["train_seconds"]
    assert_same_run(reference, out)


def test_early_stop_after_patience_evaluations_in_a_row(tmp_path):
    result = train(parse_args(["--model_type", "GRU", "--input_length", "3", "--num_hidden", "8",
                               "--eval_every", "5", "--early_stop_accuracy", "0", "--early_stop_patience",
                               "2", "--test_size", "100", "--eval_size", "100", "--quiet",
                               "--out_dir", str(tmp_path)]))
    assert result["status"] == "early_stop" and result["steps"] == 10


def test_the_gradient_is_clipped_after_the_backward(tmp_path):
    """One SGD step of learning rate 1 with --max_norm 0.001 moves the weights by exactly 0.001."""
    flags = ["--input_length", "4", "--num_hidden", "8", "--optimizer", "sgd", "--learning_rate", "1",
             "--max_norm", "0.001", "--train_steps", "1", "--quiet", "--test_size", "10", "--eval_size",
             "10", "--out_dir", str(tmp_path)]
    train(parse_args(flags))
    torch.manual_seed(0)
    start = MODELS["RNN"](4, 1, 8, 10).state_dict()
    moved = weights(tmp_path / "model.pt")
    step = torch.linalg.vector_norm(torch.stack([(moved[k] - start[k]).norm() for k in start]))
    assert step.item() == pytest.approx(0.001, rel=1e-3)


@pytest.mark.parametrize("name, cls, momentum", [("sgd", torch.optim.SGD, 0), ("momentum", torch.optim.SGD, 0.9),
                                                 ("rmsprop", torch.optim.RMSprop, 0), ("adam", torch.optim.Adam, None)])
def test_optimizers(name, cls, momentum):
    optimizer = train_py.OPTIMIZERS[name]([torch.nn.Parameter(torch.zeros(2))], 0.1)
    assert type(optimizer) is cls and optimizer.defaults["lr"] == 0.1
    assert momentum is None or optimizer.defaults["momentum"] == momentum


def test_divergence_is_a_one_line_error(tmp_path, capsys):
    class Diverging(MODELS["RNN"]):
        def forward(self, x, return_states=False):
            return super().forward(x) * math.nan
    code = train_py.main(["--input_length", "4", "--num_hidden", "8", "--eval_every", "5", "--quiet",
                          "--out_dir", str(tmp_path)], models={"RNN": Diverging})
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith("error: training diverged by step 5") and "\n" not in err


@pytest.mark.parametrize("flags, message", [
    (["--input_length", "1"], "--input_length must be at least 2"),
    (["--model_type", "CNN"], "invalid choice"),
    (["--learning_rate", "0"], "must be positive"),
    (["--device", "tpu"], "--device tpu"),
])
def test_bad_flags_give_one_line_error(tmp_path, capsys, flags, message):
    with pytest.raises(SystemExit) as exit_info:
        train_py.main([*flags, "--out_dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and message in err.strip().splitlines()[-1]
    assert not any(tmp_path.iterdir())


def test_cli_errors_for_checkpoints(tmp_path, capsys):
    """No checkpoint, another architecture, a foreign or corrupt file, an existing run: exit 2 and
    one line saying what to do."""
    out = tmp_path / "run"
    base = ["--input_length", "4", "--num_hidden", "8", "--train_steps", "5", "--eval_every", "5",
            "--test_size", "10", "--eval_size", "10", "--quiet", "--out_dir", str(out)]

    def error(*argv):
        code = train_py.main([*base, *argv])
        lines = capsys.readouterr().err.strip().splitlines()
        assert code == 2 and len(lines) == 1 and lines[0].startswith("error: "), lines
        return lines[0]
    assert "no checkpoint at" in error("--resume")
    assert train_py.main(base) == 0
    assert "already holds a run; pass --resume" in error()
    assert "--num_hidden 8, not 16" in error("--num_hidden", "16", "--resume")
    torch.save({"model": {}, "config": {"txt_file": "book.txt"}}, out / "checkpoint.pt")
    assert "not a checkpoint of part1/train.py" in error("--resume")
    (out / "checkpoint.pt").write_bytes(b"not a checkpoint")
    assert "cannot read" in error("--resume")
    assert train_py.main([*base, "--overwrite"]) == 0  # starts afresh
