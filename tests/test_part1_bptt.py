"""part1/bptt.py, the hand-written backward through time (question 1.1): it passes gradcheck, its
cells equal the autograd-differentiated cells of part1/train.py, and train.py never imports it."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest
import torch

from part1.bptt import FAST, LSTMSequence, RNNSequence
from part1.train import MODELS

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("function", [RNNSequence, LSTMSequence])
def test_hand_written_backward_passes_gradcheck(function):
    """The Functions alone: every input and weight gradient against finite differences."""
    torch.manual_seed(1)
    T, B, d, n = 5, 2, 3, 4
    rows = n if function is RNNSequence else 4 * n
    x = torch.randn(T, B, d, dtype=torch.float64, requires_grad=True)  # time-major
    W_x = (0.5 * torch.randn(rows, d, dtype=torch.float64)).requires_grad_()
    W_h = (0.5 * torch.randn(rows, n, dtype=torch.float64)).requires_grad_()
    b = (0.5 * torch.randn(rows, dtype=torch.float64)).requires_grad_()
    assert torch.autograd.gradcheck(function.apply, (x, W_x, W_h, b), eps=1e-6, atol=1e-6)


@pytest.mark.parametrize("dtype, tol", [(torch.float64, 1e-12), (torch.float32, 2e-5)])
@pytest.mark.parametrize("T", [1, 10, 60])
@pytest.mark.parametrize("kind", list(FAST))
def test_hand_written_backward_equals_autograd(kind, T, dtype, tol):
    """Same weights, same batch: the logits and every parameter's gradient of the cross-entropy."""
    torch.manual_seed(T)
    readable = MODELS[kind](T, 10, 16, 10).to(dtype)
    fast = FAST[kind](T, 10, 16, 10).to(dtype)
    fast.load_state_dict(readable.state_dict())
    x = torch.nn.functional.one_hot(torch.randint(0, 10, (8, T)), 10).to(dtype)
    y = torch.randint(0, 10, (8,))
    grads = []
    for model in (readable, fast):
        logits = model(x)
        loss = torch.nn.functional.cross_entropy(logits, y)
        grads.append((logits, torch.autograd.grad(loss, list(model.parameters()))))
    torch.testing.assert_close(grads[1][0], grads[0][0], atol=tol, rtol=tol)
    for a, b in zip(grads[0][1], grads[1][1]):
        torch.testing.assert_close(b, a, atol=tol, rtol=tol)


def test_train_py_does_not_use_the_hand_written_backward():
    tree = ast.parse((ROOT / "part1" / "train.py").read_text(encoding="utf-8"))
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert "part1.bptt" not in imported and "part1.dataset" in imported
