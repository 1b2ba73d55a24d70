"""part1/train.py over part1/training.py: it learns T=5 and scores the whole held-out set, stops on
time, patience, divergence or a signal with a checkpoint that resumes bit for bit, offers every
optimizer with its own update rule, refuses changed run flags and foreign or old checkpoints, and
answers bad input in one line."""
from __future__ import annotations

import argparse
import math
import re
import signal
import sys
import types

import pytest
import torch

from common.checkpoint import FORMAT_VERSION, atomic_save, load_checkpoint
from common.io import read_csv, read_json
from common.runtime import UserError, run_main
from part1 import train as train_script
from part1 import training
from part1.dataset import PalindromeDataset, fixed_test_set, fixed_validation_set
from part1.options import parse_args
from tests.conftest import ROOT, assert_one_line_error, run_script


# One torch thread per test process (pytest-xdist runs a worker per core): on a busy machine a
# second thread makes the small matmuls of these runs wait on each other, up to 70x slower.
ONE_THREAD = {"OMP_NUM_THREADS": "1"}  # for subprocesses


@pytest.fixture(autouse=True)
def one_thread():
    torch.set_num_threads(1)  # conftest's restore_globals puts the count back afterwards


def run_in_process(monkeypatch, capsys, main, *argv):
    """A script's ``main`` run in this process as a user would run it (sys.argv, run_main): the
    same code path as a subprocess without its start-up time. Returns what run_script returns."""
    monkeypatch.setattr(sys, "argv", ["script", *map(str, argv)])
    with pytest.raises(SystemExit) as exit_info:
        run_main(main)
    out, err = capsys.readouterr()
    return types.SimpleNamespace(returncode=exit_info.value.code, stdout=out, stderr=err)


def cli(monkeypatch, capsys, *argv):
    """part1/train.py, in process."""
    return run_in_process(monkeypatch, capsys, train_script.main, *argv)


def weights(path) -> dict:
    return load_checkpoint(path, training.CHECKPOINT_KIND)["model"]


def metrics_without_seconds(folder) -> list[dict]:
    return [{k: v for k, v in row.items() if k != "seconds"} for row in read_csv(folder / "metrics.csv")]


def assert_same_run(a, b) -> None:
    """Two run folders hold bit-identical final weights and the same metrics (seconds aside)."""
    wa, wb = weights(a / "model.pt"), weights(b / "model.pt")
    assert wa.keys() == wb.keys()
    for key in wa:
        assert torch.equal(wa[key], wb[key]), key
    assert metrics_without_seconds(a) == metrics_without_seconds(b)


# A small LSTM run of 120 steps, evaluated and checkpointed every 20: the reference that the
# interrupted and resumed runs below must reproduce bit for bit.
SMALL = ["--model_type", "LSTM", "--input_length", "6", "--num_hidden", "16", "--train_steps", "120",
         "--eval_every", "20", "--checkpoint_every", "20", "--no_early_stop", "--test_size", "200",
         "--eval_size", "200", "--device", "cpu", "--quiet"]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """Built before the autouse one_thread of the first test that needs it: one thread here too,
    since bit-identical means the same reduction order, so the same thread count."""
    out = tmp_path_factory.mktemp("reference") / "whole"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        result = training.train(parse_args([*SMALL, "--out_dir", str(out)]))
    finally:
        torch.set_num_threads(threads)
    assert result["status"] == "max_steps" and result["steps"] == 120
    return out


@pytest.mark.parametrize("model_type", ["RNN", "LSTM"])
def test_learns_length_5_to_99_percent(tmp_path, model_type):
    """The assignment's sanity check: both models are near-perfect at T=5 with the defaults."""
    out = tmp_path / model_type
    result = training.train(parse_args(["--model_type", model_type, "--input_length", "5",
                                        "--out_dir", str(out), "--train_steps", "3000",
                                        "--test_size", "2000", "--quiet"]))
    assert result["test_accuracy"] >= 0.99, result
    assert set(result) == set(training.RESULT_KEYS) and read_json(out / "result.json") == result
    rows = read_csv(out / "metrics.csv")
    assert rows and rows[0]["val_accuracy"] < result["test_accuracy"]
    config = read_json(out / "config.json")
    assert config["args"]["model_type"] == model_type and "torch" in config["environment"]


def test_result_is_the_score_of_model_pt_on_the_whole_held_out_set(tmp_path):
    """After 10 steps (far from solved, so every subset scores differently) result.json holds the
    accuracy and loss of model.pt on all --test_size palindromes, not on the --eval_size ones."""
    result = training.train(parse_args(["--input_length", "5", "--input_dim", "10", "--num_hidden",
                                        "16", "--train_steps", "10", "--eval_every", "5",
                                        "--eval_size", "100", "--test_size", "1000", "--quiet",
                                        "--out_dir", str(tmp_path)]))
    saved = load_checkpoint(tmp_path / "model.pt", training.CHECKPOINT_KIND)
    assert saved["extras"]["result"] == result and saved["optimizer"] is None
    model = training.build_model(argparse.Namespace(**saved["args"]), "cpu")
    model.load_state_dict(saved["model"])
    digits, targets = fixed_test_set(6, 1000)
    with torch.no_grad():
        logits = model(torch.nn.functional.one_hot(digits.long(), 10).float())
    assert result["test_accuracy"] == (logits.argmax(dim=1) == targets).sum().item() / 1000
    loss = torch.nn.functional.cross_entropy(logits, targets).item()
    assert result["test_loss"] == pytest.approx(loss, rel=1e-5)
    assert 0.1 < result["test_accuracy"] < 0.9  # the premise: an unsolved task


def test_cli_runs_a_few_steps_from_inside_part1(tmp_path):
    proc = run_script("train.py", "--model_type", "LSTM", "--input_length", "4", "--input_dim",
                      "10", "--train_steps", "20", "--eval_every", "10", "--test_size", "100",
                      "--eval_size", "100", "--out_dir", tmp_path / "x", cwd=ROOT / "part1",
                      env=ONE_THREAD)
    assert proc.returncode == 0, proc.stderr
    assert "test accuracy" in proc.stdout
    assert (tmp_path / "x" / "model.pt").exists() and (tmp_path / "x" / "checkpoint.pt").exists()


def test_sigkill_then_resume_equals_the_uninterrupted_run(tmp_path, reference):
    """Killed at step 70 (SIGNAL_AT_STEP): the checkpoint of step 60 survives, and resuming from
    it ends exactly where the uninterrupted run ended."""
    cut = tmp_path / "cut"
    proc = run_script("part1/train.py", *SMALL, "--out_dir", cut,
                      env={**ONE_THREAD, "SIGNAL_AT_STEP": "70:SIGKILL"})
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert load_checkpoint(cut / "checkpoint.pt", training.CHECKPOINT_KIND)["step"] == 60
    assert not (cut / "model.pt").exists()
    training.train(parse_args([*SMALL, "--out_dir", str(cut), "--resume"]))
    assert_same_run(reference, cut)


def test_sigterm_saves_at_that_step_and_resume_equals_the_uninterrupted_run(tmp_path, reference):
    cut = tmp_path / "cut"
    proc = run_script("part1/train.py", *SMALL, "--out_dir", cut,
                      env={**ONE_THREAD, "SIGNAL_AT_STEP": "50:SIGTERM"})
    assert proc.returncode == 130, proc.stderr
    assert "SIGTERM: saved" in proc.stderr and "Traceback" not in proc.stderr
    assert load_checkpoint(cut / "checkpoint.pt", training.CHECKPOINT_KIND)["step"] == 50
    training.train(parse_args([*SMALL, "--out_dir", str(cut), "--resume"]))
    assert_same_run(reference, cut)


class TickingClock:
    """A clock that advances one second each time it is read: --time_limit without real time."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 1.0
        return self.now


def test_time_limit_stops_with_a_checkpoint_that_resumes(tmp_path, reference):
    out = tmp_path / "timed"
    first = training.train(parse_args([*SMALL, "--out_dir", str(out), "--time_limit", "5"]),
                           clock=TickingClock())
    assert first["status"] == "time_limit" and 0 < first["steps"] < 120, first
    assert first["steps"] % 20 == 0  # the limit is checked at evaluations
    saved = load_checkpoint(out / "checkpoint.pt", training.CHECKPOINT_KIND)
    assert saved["step"] == first["steps"] and saved["extras"]["elapsed"] >= 5
    # the limit counts the seconds of every session: resumed under the same limit, the run stops
    # at its next evaluation
    again = training.train(parse_args([*SMALL, "--out_dir", str(out), "--resume", "--time_limit", "5"]),
                           clock=TickingClock())
    assert again["status"] == "time_limit" and again["steps"] == first["steps"] + 20, again
    # a larger limit lets it finish, exactly as the run that was never stopped
    last = training.train(parse_args([*SMALL, "--out_dir", str(out), "--resume",
                                      "--time_limit", "1000"]), clock=TickingClock())
    assert last["status"] == "max_steps" and last["steps"] == 120
    assert_same_run(reference, out)


def test_resume_from_a_path_continues_that_run_in_another_folder(tmp_path, reference):
    first = tmp_path / "first"
    training.train(parse_args([*SMALL, "--out_dir", str(first), "--train_steps", "40"]))
    before = (first / "checkpoint.pt").read_bytes()
    branch = tmp_path / "branch"
    training.train(parse_args([*SMALL, "--out_dir", str(branch), "--resume",
                               str(first / "checkpoint.pt")]))
    assert_same_run(reference, branch)
    assert (first / "checkpoint.pt").read_bytes() == before
    # without --out_dir the run continues in the folder of its checkpoint
    assert parse_args(["--resume", str(first / "checkpoint.pt")]).out_dir == str(first)
    # and it never continues over another run
    with pytest.raises(UserError, match="already holds another run"):
        training.train(parse_args([*SMALL, "--out_dir", str(branch), "--resume",
                                   str(first / "checkpoint.pt")]))


def test_checkpoint_round_trip_restores_the_whole_run(tmp_path):
    """save_run then load_run into another run: every field, the optimizer's state and the batch
    generator come back, so the next step is the same step."""
    flags = ["--input_length", "4", "--num_hidden", "8", "--batch_size", "16", "--out_dir",
             str(tmp_path)]
    run = training.new_run(parse_args(flags), "cpu", tmp_path)
    dataset = PalindromeDataset(5, seed=0)
    for _ in range(3):
        training.train_step(run, dataset, "cpu")
    run.history, run.streak, run.elapsed = [{"step": 3, "val_accuracy": 0.5}], 2, 12.5
    training.save_run(run, tmp_path / "saved.pt")
    other = training.new_run(parse_args([*flags, "--seed", "7"]), "cpu", tmp_path)
    training.load_run(other, load_checkpoint(tmp_path / "saved.pt", training.CHECKPOINT_KIND))
    assert (other.step, other.history, other.streak, other.elapsed) == (3, run.history, 2, 12.5)
    for key, value in run.model.state_dict().items():
        assert torch.equal(other.model.state_dict()[key], value), key
    losses = [training.train_step(r, dataset, "cpu")[0] for r in (run, other)]
    assert torch.equal(*losses)
    for a, b in zip(run.model.parameters(), other.model.parameters()):
        assert torch.equal(a, b)


def test_train_step_clips_the_gradient_norm_to_max_norm(tmp_path):
    """The step returns the norm before clipping and applies the gradient rescaled to --max_norm."""
    run = training.new_run(parse_args(["--input_length", "4", "--num_hidden", "8", "--max_norm",
                                       "0.01", "--out_dir", str(tmp_path)]), "cpu", tmp_path)
    _, norm = training.train_step(run, PalindromeDataset(5), "cpu")
    clipped = torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in run.model.parameters()]))
    assert norm > 0.1 and clipped.item() == pytest.approx(0.01, rel=1e-4)


class ScriptedEvaluation:
    """Stands in for training.evaluate: the periodic evaluations (``eval_size`` palindromes) score
    the given accuracies in turn; any other evaluation (the final score) scores 0."""

    def __init__(self, accuracies, eval_size: int) -> None:
        self.accuracies, self.eval_size, self.calls = list(accuracies), eval_size, 0

    def __call__(self, model, digits, targets, input_dim, device, chunk=2500):
        if len(targets) != self.eval_size:
            return math.log(10), 0.0
        self.calls += 1
        return 1.0, self.accuracies[self.calls - 1]


@pytest.mark.parametrize("patience,accuracies,evaluations", [
    (3, [0.95, 0.9, 0.5, 0.95, 0.9, 1.0, 1.0, 1.0], 6),  # 0.9 is "at least 0.9"; 0.5 resets
    (1, [0.2, 0.91, 1.0], 2),
    (2, [0.95, 0.1, 0.95, 0.3, 0.95, 0.95, 1.0], 6),
])
def test_early_stop_after_exactly_patience_consecutive_evaluations(tmp_path, monkeypatch, patience,
                                                                   accuracies, evaluations):
    monkeypatch.setattr(training, "evaluate", ScriptedEvaluation(accuracies, eval_size=50))
    result = training.train(parse_args([
        "--input_length", "3", "--num_hidden", "4", "--batch_size", "8", "--train_steps", "40",
        "--eval_every", "2", "--eval_size", "50", "--test_size", "100", "--checkpoint_every", "0",
        "--early_stop_accuracy", "0.9", "--early_stop_patience", str(patience), "--quiet",
        "--out_dir", str(tmp_path)]))
    assert result["status"] == "early_stop" and result["steps"] == 2 * evaluations
    assert len(read_csv(tmp_path / "metrics.csv")) == evaluations


def test_early_stopping_scores_the_validation_set_and_the_final_score_the_test_set(tmp_path,
                                                                                   monkeypatch):
    seen = []

    def record(model, digits, targets, input_dim, device, chunk=2500):
        seen.append(digits.clone())
        return 1.0, 1.0

    monkeypatch.setattr(training, "evaluate", record)
    training.train(parse_args([
        "--input_length", "20", "--num_hidden", "4", "--batch_size", "8", "--train_steps", "4",
        "--eval_every", "2", "--eval_size", "50", "--test_size", "100", "--checkpoint_every", "0",
        "--quiet", "--out_dir", str(tmp_path)]))
    validation, test = fixed_validation_set(21, 50)[0], fixed_test_set(21, 100)[0]
    assert all(torch.equal(d, validation) for d in seen[:-1]) and torch.equal(seen[-1], test)
    # at T = 20 the two sets share no palindrome: the test score is on palindromes the run never chose by
    assert not {tuple(r.tolist()) for r in validation} & {tuple(r.tolist()) for r in test}


def test_no_early_stop_runs_every_step(tmp_path, monkeypatch):
    monkeypatch.setattr(training, "evaluate", ScriptedEvaluation([1.0] * 20, eval_size=50))
    result = training.train(parse_args([
        "--input_length", "3", "--num_hidden", "4", "--batch_size", "8", "--train_steps", "20",
        "--eval_every", "2", "--eval_size", "50", "--test_size", "100", "--early_stop_patience",
        "1", "--no_early_stop", "--quiet", "--out_dir", str(tmp_path)]))
    assert result["status"] == "max_steps" and result["steps"] == 20


class ShiftedGuess(torch.nn.Module):
    """Reads one-hot digits and answers the first one when it is even, the next digit up when it
    is odd; its logits are 0 except 20 on the answer."""

    def forward(self, x):  # x: (B, T, 10)
        first = x[:, 0].argmax(dim=1)
        return 20 * torch.nn.functional.one_hot((first + first % 2) % 10, 10).float()  # (B, 10)


def test_evaluate_scores_every_chunk_of_the_held_out_set():
    digits, targets = fixed_test_set(8, 1003)
    loss, accuracy = training.evaluate(ShiftedGuess(), digits, targets, 10, "cpu", chunk=100)
    assert accuracy == (targets % 2 == 0).sum().item() / 1003
    wrong = (targets % 2 == 1).sum().item()  # each wrong answer costs ~20 nats, a right one ~0
    assert loss == pytest.approx(20 * wrong / 1003, rel=1e-4)
    assert training.evaluate(ShiftedGuess(), digits, targets, 10, "cpu") == pytest.approx(
        (loss, accuracy))  # the default chunk of 2,500 holds the whole set at once


def one_weight_vector():
    module = torch.nn.Module()
    module.w = torch.nn.Parameter(torch.tensor([1.0, -2.0, 3.0], dtype=torch.float64))
    return module


GRADIENTS = [torch.tensor([0.5, -1.0, 2.0], dtype=torch.float64),
             torch.tensor([-1.5, 0.25, 1.0], dtype=torch.float64)]


def steps_of(name: str, lr: float = 0.1, extra=()) -> list[torch.Tensor]:
    """The weights after each of two steps of ``--optimizer name`` with the gradients above."""
    module = one_weight_vector()
    optimizer = training.build_optimizer(parse_args(["--optimizer", name, "--learning_rate",
                                                     str(lr), *extra]), module)
    seen = []
    for grad in GRADIENTS:
        module.w.grad = grad.clone()
        optimizer.step()
        seen.append(module.w.detach().clone())
    return seen


def reference_steps(cls, lr: float = 0.1, **hyper) -> list[torch.Tensor]:
    w = one_weight_vector().w
    optimizer = cls([w], lr=lr, **hyper)
    seen = []
    for grad in GRADIENTS:
        w.grad = grad.clone()
        optimizer.step()
        seen.append(w.detach().clone())
    return seen


def test_sgd_steps_against_the_gradient():
    """w - lr g, to the last bit of float64 (torch may fuse the multiply and the add)."""
    w0 = one_weight_vector().w.detach()
    first, second = steps_of("sgd")
    torch.testing.assert_close(first, w0 - 0.1 * GRADIENTS[0], rtol=0, atol=1e-15)
    torch.testing.assert_close(second, first - 0.1 * GRADIENTS[1], rtol=0, atol=1e-15)


def test_momentum_carries_nine_tenths_of_the_last_step():
    w0 = one_weight_vector().w.detach()
    first, second = steps_of("momentum")
    torch.testing.assert_close(first, w0 - 0.1 * GRADIENTS[0], rtol=0, atol=1e-15)
    velocity = 0.9 * GRADIENTS[0] + GRADIENTS[1]
    torch.testing.assert_close(second, first - 0.1 * velocity, rtol=0, atol=1e-15)


@pytest.mark.parametrize("name,cls", [("rmsprop", torch.optim.RMSprop), ("adam", torch.optim.Adam),
                                      ("adamw", torch.optim.AdamW)])
def test_adaptive_optimizers_follow_torch_optim(name, cls):
    w0 = one_weight_vector().w.detach()
    ours = steps_of(name)
    assert not torch.equal(ours[0], w0)
    for a, b in zip(ours, reference_steps(cls)):
        assert torch.equal(a, b)
    for a, b in zip(steps_of(name, extra=["--weight_decay", "0.3"]),
                    reference_steps(cls, weight_decay=0.3)):
        assert torch.equal(a, b)


def test_adamw_decays_the_weights_apart_from_the_gradient():
    """AdamW (decay 0.01 by default) = Adam's step minus lr * 0.01 * w; Adam with the same decay
    adds it to the gradient instead, which Adam's normalisation turns into another step."""
    w0 = one_weight_vector().w.detach()
    adam, adamw = steps_of("adam")[0], steps_of("adamw")[0]
    torch.testing.assert_close(adamw, adam - 0.1 * 0.01 * w0, rtol=0, atol=1e-12)
    coupled = steps_of("adam", extra=["--weight_decay", "0.01"])[0]
    assert (coupled - adamw).abs().max() > 1e-4


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
    (["--optimizer", "lbfgs"], "invalid choice"),
    (["--weight_decay", "-1"], ">= 0"),
    (["--time_limit", "0"], "positive number"),
    (["--early_stop_accuracy", "1.5"], "(0, 1]"),
    (["--device", "cuda"] if not torch.cuda.is_available() else ["--device", "tpu"], "cuda"),
    (["--resume"], "no checkpoint"),
    (["--resume", "--overwrite"], "exclude each other"),
]


@pytest.mark.parametrize("flags,message", BAD_FLAGS, ids=[" ".join(f) for f, _ in BAD_FLAGS])
def test_bad_flags_give_one_line_error(tmp_path, monkeypatch, capsys, flags, message):
    proc = cli(monkeypatch, capsys, "--out_dir", tmp_path / "run", "--train_steps", "5", *flags)
    assert_one_line_error(proc, message)
    assert not (tmp_path / "run" / "config.json").exists()


SHORT = ["--input_length", "3", "--train_steps", "10", "--eval_every", "5", "--test_size", "50",
         "--eval_size", "50", "--num_hidden", "8", "--quiet"]


def test_existing_run_is_not_overwritten(tmp_path, monkeypatch, capsys):
    assert cli(monkeypatch, capsys, *SHORT, "--out_dir", tmp_path).returncode == 0
    before = (tmp_path / "checkpoint.pt").read_bytes()
    assert_one_line_error(cli(monkeypatch, capsys, *SHORT, "--out_dir", tmp_path),
                          "--resume", "--overwrite")
    assert (tmp_path / "checkpoint.pt").read_bytes() == before


def test_corrupt_checkpoint_is_a_clear_error(tmp_path):
    (tmp_path / "checkpoint.pt").write_bytes(b"PK\x03\x04 truncated")
    assert_one_line_error(run_script("part1/train.py", "--out_dir", tmp_path, "--resume"),
                          "cannot be read")


def test_divergence_stops_with_advice(tmp_path, monkeypatch, capsys):
    proc = cli(monkeypatch, capsys, "--optimizer", "sgd", "--learning_rate", "1e30", "--max_norm",
               "1e30", "--train_steps", "50", "--eval_every", "5", "--input_length", "5",
               "--out_dir", tmp_path)
    assert_one_line_error(proc, "diverged at step", "--learning_rate")


@pytest.mark.parametrize("every", [3, 1])
def test_divergence_names_the_first_bad_step_and_never_checkpoints_it(tmp_path, monkeypatch, capsys,
                                                                      every):
    """The loss explodes at step 2; with checkpoints every 3 (or every) steps and evaluations every
    10, the error names a step <= 10 and no checkpoint on disk holds exploded weights."""
    proc = cli(monkeypatch, capsys, "--optimizer", "sgd", "--learning_rate", "1e30", "--max_norm",
               "1e30", "--eval_every", "10", "--checkpoint_every", every, "--train_steps", "100",
               "--eval_size", "100", "--test_size", "100", "--out_dir", tmp_path)
    assert_one_line_error(proc, "diverged at step", "--learning_rate")
    step = int(re.search(r"diverged at step (\d+)", proc.stderr).group(1))
    assert 1 <= step <= 10, proc.stderr
    checkpoint = tmp_path / "checkpoint.pt"
    if checkpoint.exists():
        state = load_checkpoint(checkpoint, training.CHECKPOINT_KIND)
        assert state["step"] < step
        for name, value in state["model"].items():
            assert torch.isfinite(value).all() and value.abs().max() < 1e3, name
    else:
        assert "no checkpoint was written" in proc.stderr


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    """A finished 10-step run (8 hidden units, RMSprop, seed 0) to resume with other flags."""
    out = tmp_path_factory.mktemp("resume") / "run"
    training.train(parse_args(["--out_dir", str(out), "--input_length", "4", "--num_hidden", "8",
                               "--train_steps", "10", "--eval_every", "5", "--test_size", "50",
                               "--eval_size", "50", "--quiet"]))
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
def test_resume_with_changed_run_flags_is_refused(small_run, monkeypatch, capsys, flags, fragments):
    before = {name: (small_run / name).read_bytes() for name in ("checkpoint.pt", "config.json")}
    proc = cli(monkeypatch, capsys, "--out_dir", small_run, "--quiet", "--resume", *flags)
    assert_one_line_error(proc, *fragments, "differs from the resumed checkpoint")
    assert {name: (small_run / name).read_bytes() for name in before} == before


def test_resume_takes_the_run_flags_from_the_checkpoint(tmp_path, monkeypatch, capsys, small_run):
    (tmp_path / "checkpoint.pt").write_bytes((small_run / "checkpoint.pt").read_bytes())
    proc = cli(monkeypatch, capsys, "--out_dir", tmp_path, "--resume", "--train_steps", "20",
               "--learning_rate", "1e-3", "--eval_every", "4", "--device", "cpu", "--quiet")
    assert proc.returncode == 0, proc.stderr
    config = read_json(tmp_path / "config.json")
    args = config["args"]
    assert (args["num_hidden"], args["input_length"], args["test_size"]) == (8, 4, 50)
    assert (args["train_steps"], args["eval_every"], args["device"]) == (20, 4, "cpu")
    assert "tqdm" in config["environment"] and "matplotlib" in config["environment"]
    assert read_json(tmp_path / "result.json")["steps"] == 20


def test_resume_from_a_model_file_is_refused(tmp_path, monkeypatch, capsys, small_run):
    proc = cli(monkeypatch, capsys, "--out_dir", tmp_path / "new", "--resume", small_run / "model.pt")
    assert_one_line_error(proc, "lacks the training state")


def foreign_checkpoints(folder):
    """A checkpoint written by part 2, one in a format newer than this code's, and one in the
    format of part 1 before the common layout (version 1, its state under "progress")."""
    atomic_save({"kind": "part2", "format_version": FORMAT_VERSION, "model": {}, "args": {}},
                folder / "part2.pt")
    atomic_save({"kind": training.CHECKPOINT_KIND, "format_version": 99, "model": {}, "args": {}},
                folder / "newer.pt")
    atomic_save({"kind": training.CHECKPOINT_KIND, "format_version": 1, "model": {}, "args": {},
                 "progress": {"step": 10}}, folder / "older.pt")
    return {"part2": ["written by part2", "not part1"], "newer": ["format version 99", "version 2"],
            "older": ["format version 1", "train it again"]}


def test_resume_from_another_part_or_format_is_refused(tmp_path, monkeypatch, capsys):
    for stem, fragments in foreign_checkpoints(tmp_path).items():
        out = tmp_path / stem
        out.mkdir()
        (out / "checkpoint.pt").write_bytes((tmp_path / f"{stem}.pt").read_bytes())
        assert_one_line_error(cli(monkeypatch, capsys, "--out_dir", out, "--quiet", "--resume"),
                              *fragments)
        assert not (out / "config.json").exists()


@pytest.fixture(scope="module")
def source_model(tmp_path_factory):
    """The model.pt of a finished 5-step RNN run (8 hidden units, seed 1) to warm-start from."""
    out = tmp_path_factory.mktemp("init_from") / "source"
    training.train(parse_args(["--out_dir", str(out), "--input_length", "4", "--num_hidden", "8",
                               "--seed", "1", "--train_steps", "5", "--eval_every", "5",
                               "--test_size", "50", "--eval_size", "50", "--quiet"]))
    return out / "model.pt"


def test_init_from_starts_from_the_saved_weights(tmp_path, source_model):
    """Another length and seed, one step of SGD with a vanishing learning rate: the final weights are
    the source's (a fresh initialisation of seed 0 would be far from them), and config.json says so."""
    source = weights(source_model)
    args = parse_args(["--init_from", str(source_model), "--input_length", "7", "--num_hidden", "8",
                       "--seed", "0", "--optimizer", "sgd", "--learning_rate", "1e-12",
                       "--train_steps", "1", "--test_size", "50", "--eval_size", "50",
                       "--out_dir", str(tmp_path / "warm"), "--device", "cpu", "--quiet"])
    assert training.read_init_from(args, "cpu").keys() == source.keys()
    fresh = training.build_model(args, "cpu").state_dict()
    assert any(not torch.allclose(fresh[k], source[k]) for k in source)
    training.train(args)
    warm = weights(tmp_path / "warm" / "model.pt")
    for name, value in source.items():
        assert torch.allclose(warm[name], value, rtol=0, atol=1e-9), name
    config = read_json(tmp_path / "warm" / "config.json")
    assert config["args"]["init_from"] == str(source_model)
    assert config["args"]["input_length"] == 7


def test_init_from_bad_sources_give_one_line_error(tmp_path, monkeypatch, capsys, source_model):
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"PK\x03\x04 truncated")
    foreign_checkpoints(tmp_path)
    small = ["--num_hidden", "8", "--train_steps", "5", "--test_size", "50", "--eval_size", "50"]
    cases = [
        (["--init_from", tmp_path / "missing.pt", *small], ["--init_from", "does not exist"]),
        (["--init_from", corrupt, *small], ["--init_from", "cannot be read"]),
        (["--init_from", tmp_path / "part2.pt", *small], ["--init_from", "written by part2"]),
        (["--init_from", tmp_path / "older.pt", *small], ["--init_from", "format version 1"]),
        (["--init_from", source_model, "--model_type", "LSTM", *small],
         ["--model_type RNN", "--model_type LSTM"]),
        (["--init_from", source_model, *small, "--num_hidden", "16"],
         ["--num_hidden 8", "--num_hidden 16"]),
        (["--init_from", source_model, *small, "--input_dim", "10"], ["--input_dim 1", "--input_dim 10"]),
    ]
    for number, (flags, fragments) in enumerate(cases):
        proc = cli(monkeypatch, capsys, *flags, "--out_dir", tmp_path / f"run{number}")
        assert_one_line_error(proc, *fragments)
        assert not (tmp_path / f"run{number}").exists(), "a refused --init_from wrote a folder"


def test_init_from_with_resume_is_refused(tmp_path, monkeypatch, capsys, source_model):
    proc = cli(monkeypatch, capsys, "--resume", "--init_from", source_model, "--out_dir", tmp_path)
    assert_one_line_error(proc, "--init_from", "--resume")


def test_resume_keeps_init_from_of_the_checkpoint(tmp_path, monkeypatch, capsys, source_model):
    flags = ["--init_from", source_model, "--input_length", "5", "--num_hidden", "8",
             "--train_steps", "4", "--eval_every", "2", "--test_size", "50", "--eval_size", "50",
             "--out_dir", tmp_path, "--quiet"]
    assert cli(monkeypatch, capsys, *flags).returncode == 0
    proc = cli(monkeypatch, capsys, "--resume", "--train_steps", "6", "--out_dir", tmp_path)
    assert proc.returncode == 0, proc.stderr
    config = read_json(tmp_path / "config.json")
    assert config["args"]["init_from"] == str(source_model) and config["args"]["train_steps"] == 6
