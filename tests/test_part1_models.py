"""The hand-written cells against PyTorch's own nn.RNN / nn.LSTM, gradients, and the rules of the code."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest
import torch

from part1.bptt import LSTMSequence, RNNSequence
from part1.lstm import LSTM
from part1.vanilla_rnn import VanillaRNN

ROOT = Path(__file__).resolve().parents[1]
N_HIDDEN, N_CLASSES, T = 7, 10, 6


def copy_into_nn_rnn(model: VanillaRNN) -> torch.nn.RNN:
    ref = torch.nn.RNN(model.input_dim, model.num_hidden, nonlinearity="tanh", batch_first=True)
    ref = ref.double()
    with torch.no_grad():
        ref.weight_ih_l0.copy_(model.W_hx)
        ref.weight_hh_l0.copy_(model.W_hh)
        ref.bias_ih_l0.copy_(model.b_h)
        ref.bias_hh_l0.zero_()
    return ref


def copy_into_nn_lstm(model: LSTM) -> torch.nn.LSTM:
    ref = torch.nn.LSTM(model.input_dim, model.num_hidden, batch_first=True).double()
    with torch.no_grad():  # PyTorch stacks the gates in the order i, f, g, o
        ref.weight_ih_l0.copy_(torch.cat([model.W_ix, model.W_fx, model.W_gx, model.W_ox]))
        ref.weight_hh_l0.copy_(torch.cat([model.W_ih, model.W_fh, model.W_gh, model.W_oh]))
        ref.bias_ih_l0.copy_(torch.cat([model.b_i, model.b_f, model.b_g, model.b_o]))
        ref.bias_hh_l0.zero_()
    return ref


def randomise(model: torch.nn.Module) -> torch.nn.Module:
    """Non-trivial values everywhere, biases included, so that every term of the equations counts."""
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.5)
    return model


@pytest.mark.parametrize("batch", [1, 5])
@pytest.mark.parametrize("input_dim", [1, 10])
@pytest.mark.parametrize("kind", ["RNN", "LSTM"])
def test_cell_agrees_with_pytorch(kind, input_dim, batch):
    torch.manual_seed(batch * 100 + input_dim)
    cls, copy = (VanillaRNN, copy_into_nn_rnn) if kind == "RNN" else (LSTM, copy_into_nn_lstm)
    model = randomise(cls(T, input_dim, N_HIDDEN, N_CLASSES).double())
    ref = copy(model)
    x = torch.randn(batch, T, input_dim, dtype=torch.float64)
    logits, hidden = model(x, return_hidden=True)
    ref_out, _ = ref(x)  # (B, T, n)
    for t in range(T):
        torch.testing.assert_close(hidden[t], ref_out[:, t], atol=1e-6, rtol=0)
    expected = ref_out[:, -1] @ model.W_ph.T + model.b_p
    torch.testing.assert_close(logits, expected, atol=1e-6, rtol=0)
    assert logits.shape == (batch, N_CLASSES)


@pytest.mark.parametrize("kind", ["RNN", "LSTM"])
def test_scalar_input_may_drop_the_last_axis(kind):
    cls = VanillaRNN if kind == "RNN" else LSTM
    model = randomise(cls(T, 1, N_HIDDEN, N_CLASSES).double())
    x = torch.randn(3, T, dtype=torch.float64)
    torch.testing.assert_close(model(x), model(x.unsqueeze(-1)))
    with pytest.raises(ValueError, match="expected input of shape"):
        model(torch.randn(3, T, 4, dtype=torch.float64))


@pytest.mark.parametrize("bptt", ["manual", "autograd"])
@pytest.mark.parametrize("kind", ["RNN", "LSTM"])
def test_gradcheck(kind, bptt):
    torch.manual_seed(0)
    cls = VanillaRNN if kind == "RNN" else LSTM
    model = randomise(cls(4, 3, 5, 4, bptt=bptt).double())
    x = torch.randn(2, 4, 3, dtype=torch.float64, requires_grad=True)
    names = [name for name, _ in model.named_parameters()]

    def f(x, *params):
        out = torch.func.functional_call(model, dict(zip(names, params)), (x,))
        return out

    assert torch.autograd.gradcheck(f, (x, *model.parameters()), eps=1e-6, atol=1e-5)


@pytest.mark.parametrize("function", [RNNSequence, LSTMSequence])
def test_hand_written_bptt_passes_gradcheck(function):
    """The Functions alone: every input and weight gradient against finite differences."""
    torch.manual_seed(1)
    T, B, d, n = 5, 2, 3, 4
    rows = n if function is RNNSequence else 4 * n
    x = torch.randn(T, B, d, dtype=torch.float64, requires_grad=True)  # time-major
    W_x = (0.5 * torch.randn(rows, d, dtype=torch.float64)).requires_grad_()
    W_h = (0.5 * torch.randn(rows, n, dtype=torch.float64)).requires_grad_()
    b = (0.5 * torch.randn(rows, dtype=torch.float64)).requires_grad_()
    assert torch.autograd.gradcheck(function.apply, (x, W_x, W_h, b), eps=1e-6, atol=1e-6)


@pytest.mark.parametrize("batch", [1, 5])
@pytest.mark.parametrize("input_dim", [1, 10])
@pytest.mark.parametrize("kind", ["RNN", "LSTM"])
def test_fast_path_agrees_with_pytorch(kind, input_dim, batch):
    """The default training path (hand-written forward and backward) against nn.RNN / nn.LSTM:
    the logits and every weight gradient, mapped through the gate order i, f, g, o."""
    torch.manual_seed(batch * 10 + input_dim)
    cls, copy = (VanillaRNN, copy_into_nn_rnn) if kind == "RNN" else (LSTM, copy_into_nn_lstm)
    model = randomise(cls(T, input_dim, N_HIDDEN, N_CLASSES, bptt="manual").double())
    ref = copy(model)
    x = torch.randn(batch, T, input_dim, dtype=torch.float64)
    logits = model(x)
    ref_out, _ = ref(x)  # (B, T, n)
    torch.testing.assert_close(logits, ref_out[:, -1] @ model.W_ph.T + model.b_p, atol=1e-6, rtol=0)
    grad_out = torch.randn_like(logits)
    logits.backward(grad_out)
    (ref_out[:, -1] @ model.W_ph.T).backward(grad_out)
    n = N_HIDDEN
    if kind == "RNN":
        pairs = {"W_hx": ref.weight_ih_l0.grad, "W_hh": ref.weight_hh_l0.grad,
                 "b_h": ref.bias_ih_l0.grad}
    else:
        order = {"i": 0, "f": 1, "g": 2, "o": 3}  # PyTorch's gate blocks
        pairs = {}
        for gate, k in order.items():
            block = slice(k * n, (k + 1) * n)
            pairs[f"W_{gate}x"] = ref.weight_ih_l0.grad[block]
            pairs[f"W_{gate}h"] = ref.weight_hh_l0.grad[block]
            pairs[f"b_{gate}"] = ref.bias_ih_l0.grad[block]
    for name, expected in pairs.items():
        torch.testing.assert_close(getattr(model, name).grad, expected, atol=1e-6, rtol=0, msg=name)


@pytest.mark.parametrize("kind", ["RNN", "LSTM"])
def test_manual_bptt_equals_autograd_through_the_loop(kind):
    torch.manual_seed(2)
    cls = VanillaRNN if kind == "RNN" else LSTM
    manual = randomise(cls(30, 10, 16, 10, bptt="manual").double())
    recorded = cls(30, 10, 16, 10, bptt="autograd").double()
    recorded.load_state_dict(manual.state_dict())
    x = torch.randn(8, 30, 10, dtype=torch.float64)
    y = torch.randint(0, 10, (8,))
    for model in (manual, recorded):
        torch.nn.functional.cross_entropy(model(x), y).backward()
    for (name, a), b in zip(manual.named_parameters(), recorded.parameters()):
        torch.testing.assert_close(a.grad, b.grad, atol=1e-10, rtol=1e-8, msg=name)
    torch.testing.assert_close(manual(x), recorded(x))


@pytest.mark.parametrize("T", [1, 10, 100])
@pytest.mark.parametrize("kind", ["RNN", "LSTM"])
def test_float32_fast_path_matches_the_step_functions_under_autograd(kind, T):
    """The training path (float32, tanh as 2 sigmoid(2a) - 1, in-place buffers, hand-written BPTT)
    against the readable rnn_step / lstm_step recorded by autograd, in float32 too: the logits and
    every parameter gradient. Tolerance: 1e-5 of the largest entry of each tensor (rtol 0). Float32
    has eps 1.2e-7; the two paths round differently (the tanh identity, and one (TB)-term matmul for
    each weight gradient instead of T small ones), and over 20 seeds per case the largest
    difference measured was 1.2e-6 of the largest entry, so the bound leaves an 8x margin while
    any wrong term of the backward (a change of order 1) still fails it."""
    torch.manual_seed(T)
    cls = VanillaRNN if kind == "RNN" else LSTM
    fast = cls(T, 10, 32, 10, bptt="manual")  # the initialisation training starts from ...
    with torch.no_grad():
        for p in fast.parameters():
            if p.dim() == 1:
                p.normal_(0, 0.5)  # ... with non-zero biases, so that every bias term counts
    recorded = cls(T, 10, 32, 10, bptt="autograd")
    recorded.load_state_dict(fast.state_dict())
    x = torch.nn.functional.one_hot(torch.randint(0, 10, (16, T)), 10).float()  # (B, T, d)
    y = torch.randint(0, 10, (16,))
    logits = {}
    for name, model in (("fast", fast), ("recorded", recorded)):
        logits[name] = model(x)
        torch.nn.functional.cross_entropy(logits[name], y).backward()
    assert logits["fast"].dtype == torch.float32
    scale = logits["recorded"].abs().max().item()
    torch.testing.assert_close(logits["fast"], logits["recorded"], rtol=0, atol=1e-5 * scale)
    for (name, a), b in zip(fast.named_parameters(), recorded.parameters()):
        scale = b.grad.abs().max().item()  # 0 for the recurrent weights at T = 1: h(0) = 0
        torch.testing.assert_close(a.grad, b.grad, rtol=0, atol=1e-5 * scale, msg=name)


FORBIDDEN = {"RNN", "LSTM", "GRU", "RNNCell", "LSTMCell", "GRUCell", "Linear", "linear", "Bilinear"}


@pytest.mark.parametrize("filename", ["vanilla_rnn.py", "lstm.py", "bptt.py"])
def test_no_builtin_recurrent_or_linear_module(filename):
    tree = ast.parse((ROOT / "part1" / filename).read_text(encoding="utf-8"))
    used = {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)}
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
                for alias in node.names}
    assert not (used | imported) & FORBIDDEN, (used | imported) & FORBIDDEN


@pytest.mark.parametrize("d,n,K", [(1, 128, 10), (10, 128, 10), (10, 7, 3)])
def test_lstm_parameter_count(d, n, K):
    model = LSTM(5, d, n, K)
    count = sum(p.numel() for p in model.parameters())
    assert count == 4 * (d * n + n * n + n) + (K * n + K)


def test_parameters_are_named_and_shaped_as_the_equations():
    d, n, K = 10, 6, 10
    rnn = VanillaRNN(5, d, n, K)
    assert {k: tuple(v.shape) for k, v in rnn.named_parameters()} == {
        "W_hx": (n, d), "W_hh": (n, n), "b_h": (n,), "W_ph": (K, n), "b_p": (K,)}
    lstm = LSTM(5, d, n, K)
    shapes = {k: tuple(v.shape) for k, v in lstm.named_parameters()}
    for gate in "gifo":
        assert shapes[f"W_{gate}x"] == (n, d) and shapes[f"W_{gate}h"] == (n, n)
        assert shapes[f"b_{gate}"] == (n,)
    assert shapes["W_ph"] == (K, n) and shapes["b_p"] == (K,)


def assert_fills_uniform(weight: torch.Tensor, bound: float, name: str) -> None:
    """Every entry within +-bound, and the extremes near both ends: with m >= 640 draws of
    U(-b, b), P(max < 0.95 b) = 0.975^m < 1e-7, so a wrong bound or a shifted range fails."""
    assert weight.abs().max() <= bound, name
    assert weight.max() >= 0.95 * bound and weight.min() <= -0.95 * bound, name


@pytest.mark.parametrize("kind", ["RNN", "LSTM"])
def test_uniform_initialisation_fills_every_matrix_and_zeroes_the_biases(kind):
    torch.manual_seed(0)
    n, d, K = 64, 10, 10
    model = (VanillaRNN(20, d, n, K, recurrent_init="same") if kind == "RNN"
             else LSTM(20, d, n, K, forget_bias=2.5))
    for name, p in model.named_parameters():
        if name.startswith("W_"):
            assert_fills_uniform(p, 1 / n ** 0.5, name)
        elif name == "b_f":
            assert torch.all(p == 2.5), name  # --forget_bias, whatever its value
        else:
            assert torch.all(p == 0), name


def test_glorot_initialisation_uses_fan_in_and_fan_out():
    torch.manual_seed(0)
    n, d, K = 64, 10, 10
    model = VanillaRNN(20, d, n, K, init="glorot", recurrent_init="same")
    for name, (fan_out, fan_in) in {"W_hx": (n, d), "W_hh": (n, n), "W_ph": (K, n)}.items():
        assert_fills_uniform(getattr(model, name), (6 / (fan_in + fan_out)) ** 0.5, name)


def test_orthogonal_recurrent_matrix():
    torch.manual_seed(0)
    n = 64
    rnn = VanillaRNN(20, 10, n, 10, recurrent_init="orthogonal")
    torch.testing.assert_close(rnn.W_hh @ rnn.W_hh.T, torch.eye(n), atol=1e-5, rtol=0)
    assert_fills_uniform(rnn.W_hx, 1 / n ** 0.5, "W_hx")  # the other matrices keep --init
    same = VanillaRNN(20, 10, n, 10, recurrent_init="same")
    assert not torch.allclose(same.W_hh @ same.W_hh.T, torch.eye(n), atol=1e-2)


@pytest.mark.parametrize("T", [20, 100])
def test_chrono_initialisation_spreads_forget_biases_up_to_the_length(T):
    """exp(b_f) ~ U(1, T-1) and b_i = -b_f. With n = 512 draws, U(1, T-1) has standard deviation
    (T-2)/sqrt(12) and its sample mean one of (T-2)/sqrt(12 * 512) (0.23 at T = 20, 1.25 at
    T = 100); a tolerance of 0.02 (T - 2) is 4.5 of those (flake below 1e-5), and the extremes
    reach within 2% of both ends (P(miss) = 2 * 0.98^512 < 1e-4)."""
    torch.manual_seed(0)
    lstm = LSTM(T, 10, 512, 10, chrono=True)
    spread = lstm.b_f.exp()
    assert spread.min() >= 1 - 1e-5 and spread.max() <= (T - 1) * (1 + 1e-5)
    assert abs(spread.mean().item() - T / 2) < 0.02 * (T - 2)
    assert spread.min() < 1 + 0.02 * (T - 2) and spread.max() > T - 1 - 0.02 * (T - 2)
    torch.testing.assert_close(lstm.b_i, -lstm.b_f)
    assert torch.all(lstm.b_g == 0) and torch.all(lstm.b_o == 0)


@pytest.mark.parametrize("kind", ["RNN", "LSTM"])
def test_hidden_states_carry_gradients(kind):
    """dL/dh(t) is readable for every t from the states the model hands out."""
    cls = VanillaRNN if kind == "RNN" else LSTM
    model = cls(12, 10, 8, 10)
    x = torch.nn.functional.one_hot(torch.randint(0, 10, (2, 12)), 10).float()
    logits, hidden = model(x, return_hidden=True)
    assert len(hidden) == 12
    loss = torch.nn.functional.cross_entropy(logits, torch.tensor([1, 2]))
    grads = torch.autograd.grad(loss, hidden)
    assert all(g.shape == (2, 8) for g in grads)
    assert grads[-1].abs().sum() > 0 and grads[0].abs().sum() > 0
