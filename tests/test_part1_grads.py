"""grads_over_time.py: the gradients it reads are the right ones, and the script writes them (CSV,
JSON, figure) end to end."""
from __future__ import annotations

import pytest
import torch

from common.checkpoint import FORMAT_VERSION, atomic_save
from common.io import read_csv, read_json
from part1 import grads_over_time
from part1.grads_over_time import cell_gradient_norms, gradient_norms, recurrent_spectrum
from part1.lstm import LSTM
from part1.options import parse_args
from part1.training import CHECKPOINT_KIND, train
from part1.vanilla_rnn import VanillaRNN
from tests.conftest import assert_one_line_error
from tests.test_part1_train import one_thread, run_in_process  # noqa: F401 (fixture)


def grads(monkeypatch, capsys, *argv):
    """part1/grads_over_time.py, in process."""
    return run_in_process(monkeypatch, capsys, grads_over_time.main, *argv)


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


def test_script_writes_curves_and_shows_vanishing_gradients(tmp_path, monkeypatch, capsys):
    proc = grads(monkeypatch, capsys, "--input_length", "40", "--out_dir", tmp_path,
                 "--batch_size", "4")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "grads_over_time.png").stat().st_size > 10_000
    rows = read_csv(tmp_path / "grads_over_time.csv")
    assert len(rows) == 40 and [r["t"] for r in rows] == list(range(1, 41))
    first, last = rows[0], rows[-1]
    uniform = "RNN untrained (uniform W_hh)"
    # the uniform-init RNN forgets: the gradient at t=1 is orders of magnitude below that at t=T
    assert first[uniform] < 1e-4 * last[uniform]
    # orthogonal W_hh and chrono gates keep much more of it
    assert first["RNN untrained (orthogonal W_hh)"] > 100 * first[uniform]
    assert first["LSTM untrained (chrono)"] > first["LSTM untrained (b_f = 1)"]
    # the JSON holds the same curves: every norm, both ends and their ratio
    record = read_json(tmp_path / "grads_over_time.json")
    assert (record["input_length"], record["batch_size"], record["seed"]) == (40, 4, 0)
    assert list(record["curves"]) == [name for name in rows[0]
                                      if name != "t" and not name.endswith(", dL/dc")]
    for name, curve in record["curves"].items():
        assert [f"{v:.6e}" for v in curve["norms"]] == [f"{r[name]:.6e}" for r in rows]
        assert (curve["first"], curve["last"]) == (curve["norms"][0], curve["norms"][-1])
        assert curve["ratio"] == pytest.approx(curve["first"] / curve["last"])
        assert curve["trained"] is False and curve["held_out_accuracy"] is None
        if name.startswith("LSTM"):  # the cell-state gradient, in the JSON and as a CSV column
            assert len(curve["cell_norms"]) == 40 and "w_hh_singular_values" not in curve
            assert [f"{v:.6e}" for v in curve["cell_norms"]] == [
                f"{r[name + ', dL/dc']:.6e}" for r in rows]
        else:
            values = curve["w_hh_singular_values"]
            assert len(values) == 128 and values == sorted(values, reverse=True)
            assert 0 < curve["spectral_radius"] <= values[0] * (1 + 1e-9)
            assert "cell_norms" not in curve
    # an orthogonal W_hh keeps every direction's length; the uniform one shrinks the state on the whole
    orthogonal = record["curves"]["RNN untrained (orthogonal W_hh)"]
    assert orthogonal["spectral_radius"] == pytest.approx(1, abs=1e-5)
    assert record["curves"][uniform]["spectral_radius"] < 0.9
    assert f"ratio h(1)/h(T) = {record['curves'][uniform]['ratio']:.3e}" in proc.stdout


def test_quiet_prints_only_where_the_results_went(tmp_path, monkeypatch, capsys):
    proc = grads(monkeypatch, capsys, "--input_length", "5", "--out_dir", tmp_path, "--quiet")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines() == [
        f"wrote {tmp_path / 'grads_over_time.png'}, {tmp_path / 'grads_over_time.csv'} and "
        f"{tmp_path / 'grads_over_time.json'}"]


def test_trained_model_curves_and_bad_paths(tmp_path, monkeypatch, capsys):
    result = train(parse_args(["--input_length", "5", "--input_dim", "10", "--train_steps", "20",
                               "--eval_every", "10", "--test_size", "50", "--eval_size", "50",
                               "--num_hidden", "16", "--out_dir", str(tmp_path / "rnn"), "--quiet"]))
    model = tmp_path / "rnn" / "model.pt"
    proc = grads(monkeypatch, capsys, "--input_length", "10", "--out_dir", tmp_path, "--rnn_model",
                 model)
    assert proc.returncode == 0, proc.stderr
    curve = read_json(tmp_path / "grads_over_time.json")["curves"]["RNN trained"]
    assert curve["trained"] is True and curve["source"] == str(model)
    assert (curve["held_out_accuracy"], curve["held_out_size"]) == (result["test_accuracy"], 50)
    assert len(curve["norms"]) == 10
    weights = torch.load(model, weights_only=False)["model"]["W_hh"].double()
    torch.testing.assert_close(torch.tensor(curve["w_hh_singular_values"], dtype=torch.double),
                               torch.linalg.svdvals(weights))
    wrong = grads(monkeypatch, capsys, "--input_length", "10", "--out_dir", tmp_path,
                  "--lstm_model", model)
    assert_one_line_error(wrong, "not a LSTM")
    missing = grads(monkeypatch, capsys, "--rnn_model", tmp_path / "nope.pt", "--out_dir", tmp_path)
    assert_one_line_error(missing, "does not exist")
    assert_one_line_error(grads(monkeypatch, capsys, "--input_length", "1"), "at least 2")


def test_same_seed_gives_identical_numbers(tmp_path, monkeypatch, capsys):
    for name, seed in (("a", "3"), ("b", "3"), ("c", "4")):
        proc = grads(monkeypatch, capsys, "--input_length", "12", "--seed", seed,
                     "--out_dir", tmp_path / name)
        assert proc.returncode == 0, proc.stderr
    a = (tmp_path / "a" / "grads_over_time.csv").read_text()
    assert a == (tmp_path / "b" / "grads_over_time.csv").read_text()
    assert (tmp_path / "c" / "grads_over_time.csv").read_text() != a


def test_model_of_another_part_or_format_is_refused(tmp_path, monkeypatch, capsys):
    atomic_save({"kind": "part2", "format_version": FORMAT_VERSION, "model": {}, "args": {}},
                tmp_path / "part2.pt")
    atomic_save({"kind": "part1-model", "format_version": 1, "model": {}, "args": {}},
                tmp_path / "older.pt")  # a model.pt of the layout before format 2
    atomic_save({"kind": CHECKPOINT_KIND, "format_version": 99, "model": {}, "args": {}},
                tmp_path / "newer.pt")
    for flag in ("--rnn_model", "--lstm_model"):
        for name, fragments in (("part2", ["written by part2", f"not {CHECKPOINT_KIND}"]),
                                ("older", ["written by part1-model"]),
                                ("newer", ["format version 99", "version 2 only"])):
            proc = grads(monkeypatch, capsys, "--input_length", "5", "--out_dir", tmp_path, flag,
                         tmp_path / f"{name}.pt")
            assert_one_line_error(proc, *fragments)
    assert not (tmp_path / "grads_over_time.csv").exists()


def test_incomplete_model_file_is_refused_in_one_line(tmp_path, monkeypatch, capsys):
    atomic_save({"kind": CHECKPOINT_KIND, "format_version": FORMAT_VERSION,
                 "args": {"model_type": "RNN"}}, tmp_path / "no_weights.pt")
    proc = grads(monkeypatch, capsys, "--input_length", "5", "--out_dir", tmp_path, "--rnn_model",
                 tmp_path / "no_weights.pt")
    assert_one_line_error(proc, "not a complete part-1 model.pt")


def lstm_by_hand(model: LSTM, x: torch.Tensor, nudges: list) -> torch.Tensor:
    """The LSTM's logits from its equations, gate by gate, with ``nudges[t]`` added to c(t): the
    gradient of the loss with respect to a zero nudge is dL/dc(t)."""
    h = c = torch.zeros(x.shape[0], model.num_hidden, dtype=torch.double)
    for t, nudge in enumerate(nudges):
        x_t = x[:, t]
        g = torch.tanh(x_t @ model.W_gx.T + h @ model.W_gh.T + model.b_g)
        i = torch.sigmoid(x_t @ model.W_ix.T + h @ model.W_ih.T + model.b_i)
        f = torch.sigmoid(x_t @ model.W_fx.T + h @ model.W_fh.T + model.b_f)
        o = torch.sigmoid(x_t @ model.W_ox.T + h @ model.W_oh.T + model.b_o)
        c = g * i + c * f + nudge
        h = torch.tanh(c) * o
    return h @ model.W_ph.T + model.b_p


def test_cell_norms_are_the_gradient_with_respect_to_the_cell_state():
    torch.manual_seed(0)
    model = LSTM(6, 10, 5, 10, chrono=True).double()
    digits = torch.randint(0, 10, (3, 6)).double()
    targets = torch.tensor([2, 5, 9])
    norms = cell_gradient_norms(model, digits, targets, 10)
    nudges = [torch.zeros(3, 5, dtype=torch.double, requires_grad=True) for _ in range(6)]
    logits = lstm_by_hand(model, torch.nn.functional.one_hot(digits.long(), 10).double(), nudges)
    loss = torch.nn.functional.cross_entropy(logits, targets, reduction="sum")
    expected = torch.stack([g.norm(dim=1).mean() for g in torch.autograd.grad(loss, nudges)])
    torch.testing.assert_close(norms, expected)
    assert norms[0] != norms[-1]  # the six steps are told apart


def test_w_hh_spectrum_is_that_of_the_model():
    torch.manual_seed(0)
    uniform = VanillaRNN(5, 10, 16, 10, recurrent_init="same")
    spectrum = recurrent_spectrum(uniform)
    torch.testing.assert_close(torch.tensor(spectrum["w_hh_singular_values"]),
                               torch.linalg.svdvals(uniform.W_hh.detach()))
    assert spectrum["spectral_radius"] == pytest.approx(
        float(torch.linalg.eigvals(uniform.W_hh.detach()).abs().max()))
    orthogonal = recurrent_spectrum(VanillaRNN(5, 10, 16, 10, recurrent_init="orthogonal"))
    assert orthogonal["w_hh_singular_values"] == pytest.approx([1.0] * 16, abs=1e-5)
    assert orthogonal["spectral_radius"] == pytest.approx(1.0, abs=1e-5)
