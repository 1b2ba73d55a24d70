"""The hand-written cells of part1/train.py's MODELS against nn.RNN / nn.LSTM / nn.GRU given the same
weights (float64, forward and gradients), gradcheck, their initialisation and the rules of the code."""
from __future__ import annotations

import ast
import math
from pathlib import Path

import pytest
import torch

from part1.train import MODELS

ROOT = Path(__file__).resolve().parents[1]
N_HIDDEN, N_CLASSES, T = 7, 10, 6
# The cells' parameters in the order nn.RNN / nn.LSTM / nn.GRU stack them: (input, recurrent, bias).
TORCH_LAYOUT = {"RNN": (torch.nn.RNN, [("W_hx", "W_hh", "b_h")]),
                "LSTM": (torch.nn.LSTM, [(f"W_{g}x", f"W_{g}h", f"b_{g}") for g in "ifgo"]),
                "GRU": (torch.nn.GRU, [(f"W_{g}x", f"W_{g}h", f"b_{g}") for g in "rzg"])}


def randomise(model):
    """Non-trivial values everywhere, biases included, so that every term of the equations counts."""
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.5)
    return model


def reference(kind, model):
    """PyTorch's own layer holding the cell's weights; its recurrent biases are 0 (the cells have one
    bias per equation, which nn.GRU adds to W_gh h inside r * (...): 0 there too)."""
    cls, layout = TORCH_LAYOUT[kind]
    ref = cls(model.input_dim, model.num_hidden, batch_first=True).double()
    with torch.no_grad():
        for k, name in enumerate(("weight_ih_l0", "weight_hh_l0", "bias_ih_l0")):
            getattr(ref, name).copy_(torch.cat([getattr(model, group[k]) for group in layout]))
        ref.bias_hh_l0.zero_()
    return ref


@pytest.mark.parametrize("input_dim", [1, 10])
@pytest.mark.parametrize("kind", list(MODELS))
def test_cell_agrees_with_pytorch_forward_and_gradients(kind, input_dim):
    torch.manual_seed(input_dim)
    model = randomise(MODELS[kind](T, input_dim, N_HIDDEN, N_CLASSES).double())
    ref = reference(kind, model)
    x = torch.randn(5, T, input_dim, dtype=torch.float64)
    logits, states = model(x, return_states=True)
    out, _ = ref(x)  # (B, T, n)
    for t in range(T):
        torch.testing.assert_close(states["h"][t], out[:, t], atol=1e-12, rtol=0)
    expected = out[:, -1] @ model.W_ph.T + model.b_p
    torch.testing.assert_close(logits, expected, atol=1e-12, rtol=0)
    # gradients of one loss through both: every stacked block of nn.*'s weights is the cell's own
    weights = torch.randn_like(logits)
    grads = torch.autograd.grad((logits * weights).sum(), list(model.parameters()))
    ref_grads = torch.autograd.grad((expected * weights).sum(),
                                    [ref.weight_ih_l0, ref.weight_hh_l0, ref.bias_ih_l0])
    by_name = dict(zip([n for n, _ in model.named_parameters()], grads))
    for k, ref_grad in enumerate(ref_grads):
        ours = torch.cat([by_name[group[k]] for group in TORCH_LAYOUT[kind][1]])
        torch.testing.assert_close(ours, ref_grad, atol=1e-10, rtol=0)


@pytest.mark.parametrize("kind", list(MODELS))
def test_gradcheck(kind):
    torch.manual_seed(0)
    model = randomise(MODELS[kind](4, 3, 5, 4).double())
    x = torch.randn(2, 4, 3, dtype=torch.float64, requires_grad=True)
    names = [name for name, _ in model.named_parameters()]

    def f(x, *params):
        return torch.func.functional_call(model, dict(zip(names, params)), (x,))

    assert torch.autograd.gradcheck(f, (x, *model.parameters()), eps=1e-6, atol=1e-5)


@pytest.mark.parametrize("kind", list(MODELS))
def test_scalar_input_may_drop_the_last_axis(kind):
    model = randomise(MODELS[kind](T, 1, N_HIDDEN, N_CLASSES).double())
    x = torch.randn(3, T, dtype=torch.float64)
    torch.testing.assert_close(model(x), model(x.unsqueeze(-1)))


@pytest.mark.parametrize("filename", ["vanilla_rnn.py", "lstm.py", "gru.py", "bptt.py"])
def test_no_builtin_recurrent_or_linear_module(filename):
    tree = ast.parse((ROOT / "part1" / filename).read_text(encoding="utf-8"))
    used = {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)}
    assert not used & {"RNN", "RNNCell", "LSTM", "LSTMCell", "GRU", "GRUCell", "Linear"}


@pytest.mark.parametrize("kind, cell_params", [("RNN", 1), ("LSTM", 4), ("GRU", 3)])
@pytest.mark.parametrize("d", [1, 10])
def test_parameters_are_named_shaped_and_counted_as_the_equations(kind, cell_params, d):
    n, K = 128, 10
    model = MODELS[kind](10, d, n, K)
    shapes = {name: tuple(p.shape) for name, p in model.named_parameters()}
    assert shapes.pop("W_ph") == (K, n) and shapes.pop("b_p") == (K,)
    assert len(shapes) == 3 * cell_params
    for name, shape in shapes.items():
        assert shape == ((n,) if name.startswith("b_") else (n, d) if name.endswith("x") else (n, n)), name
    assert sum(p.numel() for p in model.parameters()) == cell_params * (n * d + n * n + n) + K * n + K


@pytest.mark.parametrize("kind", list(MODELS))
def test_matrices_start_uniform_and_biases_at_zero(kind):
    torch.manual_seed(0)
    n = 64
    model = MODELS[kind](10, 10, n, 10, **({"recurrent_init": "uniform"} if kind == "RNN" else {}))
    for name, p in model.named_parameters():
        if name.startswith("W_"):
            assert p.abs().max() <= 1 / math.sqrt(n) and p.abs().max() > 0.9 / math.sqrt(n), name
        elif name != "b_f":
            assert torch.all(p == 0), name


def test_orthogonal_recurrent_matrix_is_the_rnn_default():
    W = MODELS["RNN"](10, 1, 32, 10).W_hh.detach()
    torch.testing.assert_close(W @ W.T, torch.eye(32), atol=1e-5, rtol=0)


@pytest.mark.parametrize("length", [5, 40])
def test_chrono_and_forget_bias(length):
    torch.manual_seed(0)
    lstm = MODELS["LSTM"](length, 1, 500, 10, chrono=True)
    b_f = lstm.b_f.detach()
    assert b_f.min() >= 0 and b_f.max() <= math.log(length - 1) + 1e-6
    assert b_f.max() > math.log(length - 1) - 0.2  # spread up to the length
    assert torch.equal(lstm.b_i.detach(), -b_f)
    assert torch.all(MODELS["LSTM"](length, 1, 8, 10, forget_bias=2.5).b_f == 2.5)


@pytest.mark.parametrize("kind", list(MODELS))
def test_every_hidden_state_carries_the_gradient(kind):
    model = randomise(MODELS[kind](5, 2, 4, 3).double())
    logits, states = model(torch.randn(2, 5, 2, dtype=torch.float64), return_states=True)
    grads = torch.autograd.grad(logits.sum(), states["h"])
    assert len(grads) == 5 and all(g.abs().sum() > 0 for g in grads)
