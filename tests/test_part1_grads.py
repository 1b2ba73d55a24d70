"""grads_over_time.py: the gradients it reads are the right ones, and the script runs end to end."""
from __future__ import annotations

import csv

import torch

from part1.grads_over_time import gradient_norms
from part1.vanilla_rnn import VanillaRNN
from tests.conftest import assert_one_line_error, run_script


def test_last_step_gradient_matches_the_closed_form():
    """dL/dh(T) = W_ph^T (softmax(p) - onehot(y)) for the cross-entropy of the last prediction."""
    torch.manual_seed(0)
    model = VanillaRNN(8, 10, 6, 10).double()
    digits = torch.randint(0, 10, (3, 8)).double()
    targets = torch.tensor([1, 4, 7])
    norms = gradient_norms(model, digits, targets, 10)
    logits = model(torch.nn.functional.one_hot(digits.long(), 10).double())
    delta = torch.softmax(logits, 1) - torch.nn.functional.one_hot(targets, 10).double()
    expected = (delta @ model.W_ph).norm(dim=1).mean()
    torch.testing.assert_close(norms[-1], expected)
    # one step earlier: dL/dh(T-1) = W_hh^T [(1 - h(T)^2) * dL/dh(T)]
    _, hidden = model(torch.nn.functional.one_hot(digits.long(), 10).double(), return_hidden=True)
    earlier = ((delta @ model.W_ph) * (1 - hidden[-1] ** 2)) @ model.W_hh
    torch.testing.assert_close(norms[-2], earlier.norm(dim=1).mean())


def test_script_writes_curves_and_shows_vanishing_gradients(tmp_path):
    proc = run_script("part1/grads_over_time.py", "--input_length", "40", "--out_dir", tmp_path,
                      "--batch_size", "4")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "grads_over_time.png").stat().st_size > 10_000
    rows = list(csv.DictReader(open(tmp_path / "grads_over_time.csv", encoding="utf-8")))
    assert len(rows) == 40 and rows[0]["t"] == "1"
    first, last = rows[0], rows[-1]
    uniform = "RNN untrained (uniform W_hh)"
    # the uniform-init RNN forgets: the gradient at t=1 is orders of magnitude below that at t=T
    assert float(first[uniform]) < 1e-4 * float(last[uniform])
    # orthogonal W_hh and chrono gates keep much more of it
    assert float(first["RNN untrained (orthogonal W_hh)"]) > 100 * float(first[uniform])
    assert float(first["LSTM untrained (chrono)"]) > float(first["LSTM untrained (b_f = 1)"])


def test_trained_model_curves_and_bad_paths(tmp_path):
    train = run_script("part1/train.py", "--input_length", "5", "--input_dim", "10",
                       "--train_steps", "20", "--eval_every", "10", "--test_size", "50",
                       "--eval_size", "50", "--out_dir", tmp_path / "rnn", "--quiet")
    assert train.returncode == 0, train.stderr
    proc = run_script("part1/grads_over_time.py", "--input_length", "10", "--out_dir", tmp_path,
                      "--rnn_model", tmp_path / "rnn" / "model.pt")
    assert proc.returncode == 0, proc.stderr
    assert "RNN trained" in open(tmp_path / "grads_over_time.csv", encoding="utf-8").readline()
    wrong = run_script("part1/grads_over_time.py", "--input_length", "10", "--out_dir", tmp_path,
                       "--lstm_model", tmp_path / "rnn" / "model.pt")
    assert_one_line_error(wrong, "not a LSTM")
    missing = run_script("part1/grads_over_time.py", "--rnn_model", tmp_path / "nope.pt")
    assert_one_line_error(missing, "does not exist")
    assert_one_line_error(run_script("part1/grads_over_time.py", "--input_length", "1"), "at least 2")


def test_same_seed_gives_identical_numbers(tmp_path):
    for name in ("a", "b"):
        proc = run_script("part1/grads_over_time.py", "--input_length", "12", "--seed", "3",
                          "--out_dir", tmp_path / name)
        assert proc.returncode == 0, proc.stderr
    a = (tmp_path / "a" / "grads_over_time.csv").read_text()
    assert a == (tmp_path / "b" / "grads_over_time.csv").read_text()
    other = run_script("part1/grads_over_time.py", "--input_length", "12", "--seed", "4",
                       "--out_dir", tmp_path / "c")
    assert other.returncode == 0 and (tmp_path / "c" / "grads_over_time.csv").read_text() != a


def test_model_of_another_part_or_a_newer_format_is_refused(tmp_path):
    from common.checkpoint import atomic_save, save_checkpoint
    from part1.train import MODEL_KIND
    save_checkpoint({"model_state": {}, "args": {}}, tmp_path / "part2.pt", "part2")
    atomic_save({"kind": MODEL_KIND, "format_version": 99, "model": {}, "args": {}},
                tmp_path / "newer.pt")
    for flag in ("--rnn_model", "--lstm_model"):
        other = run_script("part1/grads_over_time.py", "--input_length", "5", "--out_dir", tmp_path,
                           flag, tmp_path / "part2.pt")
        assert_one_line_error(other, "written by part2", f"not {MODEL_KIND}")
        newer = run_script("part1/grads_over_time.py", "--input_length", "5", "--out_dir", tmp_path,
                           flag, tmp_path / "newer.pt")
        assert_one_line_error(newer, "format version 99", "newer")
    assert not (tmp_path / "grads_over_time.csv").exists()


def test_incomplete_model_file_is_refused_in_one_line(tmp_path):
    from common.checkpoint import save_checkpoint
    from part1.train import MODEL_KIND
    save_checkpoint({"args": {"model_type": "RNN"}}, tmp_path / "no_weights.pt", MODEL_KIND)
    proc = run_script("part1/grads_over_time.py", "--input_length", "5", "--out_dir", tmp_path,
                      "--rnn_model", tmp_path / "no_weights.pt")
    assert_one_line_error(proc, "not a complete part-1 model.pt")
