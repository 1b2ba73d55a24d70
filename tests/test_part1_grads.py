"""part1/grads_over_time.py (question 1.7): the gradients it reads are the right ones, and the script
writes them (CSV, JSON, figure) for every model of MODELS and for trained model.pt files."""
from __future__ import annotations

import pytest
import torch

from common.io import read_csv, read_json
from part1.grads_over_time import curve, main
from part1.train import MODELS, parse_args, train


@pytest.fixture(autouse=True)
def one_thread():
    torch.set_num_threads(1)


def test_last_step_gradient_matches_the_closed_form():
    """dL/dh(T) = W_ph^T (softmax(p) - onehot(y)) for the cross-entropy of the last prediction, and
    one step earlier dL/dh(T-1) = W_hh^T [(1 - h(T)^2) * dL/dh(T)]."""
    torch.manual_seed(0)
    model = MODELS["RNN"](8, 10, 6, 10).double()
    digits, targets = torch.randint(0, 10, (3, 8)).double(), torch.tensor([1, 4, 7])
    norms = curve(model, digits, targets, 10)["norms"]
    x = torch.nn.functional.one_hot(digits.long(), 10).double()
    logits, states = model(x, return_states=True)
    delta = (torch.softmax(logits, 1) - torch.nn.functional.one_hot(targets, 10).double()) @ model.W_ph
    assert norms[-1] == pytest.approx(delta.norm(dim=1).mean().item())
    earlier = (delta * (1 - states["h"][-1] ** 2)) @ model.W_hh
    assert norms[-2] == pytest.approx(earlier.norm(dim=1).mean().item())


def test_cell_norms_are_the_gradient_with_respect_to_the_cell_state():
    """At the last step, h(T) = tanh(c(T)) o(T) gives dL/dc(T) = dL/dh(T) * o(T) * (1 - tanh(c(T))^2)."""
    torch.manual_seed(0)
    model = MODELS["LSTM"](6, 10, 5, 10, chrono=True).double()
    digits, targets = torch.randint(0, 10, (1, 6)).double(), torch.tensor([2])
    record = curve(model, digits, targets, 10)
    assert len(record["cell_norms"]) == 6 and record["cell_norms"][0] != record["cell_norms"][-1]
    x = torch.nn.functional.one_hot(digits.long(), 10).double()
    logits, states = model(x, return_states=True)
    dh = (torch.softmax(logits, 1) - torch.nn.functional.one_hot(targets, 10).double()) @ model.W_ph
    o = torch.sigmoid(x[:, -1] @ model.W_ox.T + states["h"][-2] @ model.W_oh.T + model.b_o)
    dc = dh * o * (1 - torch.tanh(states["c"][-1]) ** 2)
    assert record["cell_norms"][-1] == pytest.approx(dc.norm().item())


def test_w_hh_spectrum_is_that_of_the_model():
    torch.manual_seed(0)
    digits, targets = torch.randint(0, 10, (1, 5)).double(), torch.tensor([3])
    uniform = MODELS["RNN"](5, 10, 16, 10, recurrent_init="uniform")
    W = uniform.W_hh.detach().double()
    record = curve(uniform, digits, targets, 10)
    assert record["w_hh_singular_values"] == pytest.approx(torch.linalg.svdvals(W).tolist())
    assert record["spectral_radius"] == pytest.approx(float(torch.linalg.eigvals(W).abs().max()))
    orthogonal = curve(MODELS["RNN"](5, 10, 16, 10), digits, targets, 10)
    assert orthogonal["w_hh_singular_values"] == pytest.approx([1.0] * 16, abs=1e-5)


def test_script_writes_curves_for_every_model_and_shows_vanishing_gradients(tmp_path, capsys):
    assert main(["--input_length", "40", "--batch_size", "4", "--out_dir", str(tmp_path)]) == 0
    assert (tmp_path / "grads_over_time.png").stat().st_size > 10_000
    rows = read_csv(tmp_path / "grads_over_time.csv")
    assert len(rows) == 40 and [r["t"] for r in rows] == list(range(1, 41))
    first, last = rows[0], rows[-1]
    uniform = "RNN untrained (uniform W_hh)"
    assert first[uniform] < 1e-4 * last[uniform]  # the uniform-init RNN forgets
    assert first["RNN untrained (orthogonal W_hh)"] > 100 * first[uniform]
    assert first["LSTM untrained (chrono)"] > first["LSTM untrained (b_f = 1)"]
    record = read_json(tmp_path / "grads_over_time.json")
    assert list(record["curves"]) == [uniform, "RNN untrained (orthogonal W_hh)", "LSTM untrained (b_f = 1)",
                                      "LSTM untrained (chrono)", "GRU untrained"]
    for name, c in record["curves"].items():
        assert c["norms"] == pytest.approx([r[name] for r in rows], rel=1e-5)
        assert c["ratio"] == pytest.approx(c["first"] / c["last"]) and not c["trained"]
    assert "GRU untrained" in capsys.readouterr().out
    # the same seed gives the same numbers
    assert main(["--input_length", "40", "--batch_size", "4", "--out_dir", str(tmp_path / "b"), "--quiet"]) == 0
    assert read_json(tmp_path / "b" / "grads_over_time.json") == record


def test_trained_models_and_bad_paths(tmp_path, capsys):
    run = tmp_path / "gru"
    train(parse_args(["--model_type", "GRU", "--input_length", "6", "--input_dim", "10", "--num_hidden",
                      "8", "--train_steps", "5", "--eval_every", "5", "--test_size", "50", "--eval_size",
                      "50", "--quiet", "--out_dir", str(run)]))
    assert main(["--input_length", "12", "--models", "RNN", "--trained", str(run / "model.pt"),
                 "--out_dir", str(tmp_path / "out"), "--quiet"]) == 0
    curves = read_json(tmp_path / "out" / "grads_over_time.json")["curves"]
    assert list(curves) == ["RNN untrained (uniform W_hh)", "RNN untrained (orthogonal W_hh)", "GRU trained"]
    trained = curves["GRU trained"]
    assert trained["trained"] and trained["held_out_size"] == 50 and len(trained["norms"]) == 12
    assert trained["held_out_accuracy"] == read_json(run / "result.json")["test_accuracy"]
    torch.save({"model": {}, "config": {"txt_file": "a.txt"}}, tmp_path / "part2.pt")
    (tmp_path / "junk.pt").write_bytes(b"junk")
    for path, message in ((tmp_path / "none.pt", "no model at"), (tmp_path / "part2.pt", "not a model.pt"),
                          (tmp_path / "junk.pt", "cannot read")):
        with pytest.raises(Exception, match=message):
            main(["--input_length", "5", "--models", "RNN", "--trained", str(path), "--out_dir",
                  str(tmp_path / "bad")])
