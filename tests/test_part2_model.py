"""part2/model.py: shapes, the one-character step, dropout, the skeleton's signature; and the weight
drop of experiments/part2_best.py."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from experiments.part2_best import WeightDropLSTM
from part2.model import TextGenerationModel


@pytest.mark.parametrize("embedding_dim", [0, 8])
@pytest.mark.parametrize("batch, steps", [(1, 1), (3, 7)])
def test_shapes_and_state(embedding_dim, batch, steps):
    model = TextGenerationModel(batch, steps, 11, 16, 2, "cpu", embedding_dim=embedding_dim)
    x = torch.randint(0, 11, (batch, steps))
    logits, (h, c) = model(x)
    assert logits.shape == (batch, steps, 11) and h.shape == c.shape == (2, batch, 16)


def test_one_step_at_a_time_equals_one_forward():
    torch.manual_seed(0)
    model = TextGenerationModel(2, 9, 13, 16, 3, "cpu").eval()
    x = torch.randint(0, 13, (2, 9))
    whole, (h, c) = model(x)
    state, rows = None, []
    for t in range(9):
        logits, state = model.step(x[:, t], state)
        rows.append(logits)
    assert torch.allclose(torch.stack(rows, 1), whole, atol=1e-5)
    assert torch.allclose(state[0], h, atol=1e-5) and torch.allclose(state[1], c, atol=1e-5)


def test_dropout_follows_the_keep_probability_and_is_off_in_eval():
    model = TextGenerationModel(1, 1, 5, 8, 2, "cpu", dropout_keep_prob=0.7)
    assert model.dropout.p == pytest.approx(0.3) and model.lstm.dropout == pytest.approx(0.3)
    x = torch.randint(0, 5, (4, 6))
    model.eval()
    assert torch.equal(model(x)[0], model(x)[0])


def test_the_skeleton_signature_without_a_device_runs():
    model = TextGenerationModel(64, 30, 20, 32, 2)
    assert model.device.type in ("cpu", "cuda")
    assert model(torch.zeros(2, 3, dtype=torch.long, device=model.device))[0].shape == (2, 3, 20)


def test_weight_drop_equals_an_lstm_with_the_dropped_matrices():
    torch.manual_seed(0)
    model = WeightDropLSTM(1, 1, 7, 8, 2, "cpu", embedding_dim=0, weight_drop=0.5)
    x = torch.randint(0, 7, (3, 5))
    torch.manual_seed(1)
    logits, _ = model(x)
    reference = nn.LSTM(7, 8, 2, batch_first=True)
    reference.load_state_dict(model.lstm.state_dict())
    torch.manual_seed(1)
    for k in range(2):
        w = getattr(reference, f"weight_hh_l{k}")
        w.data = nn.functional.dropout(w.data, 0.5)
    hidden, _ = reference(nn.functional.one_hot(x, 7).float())
    assert torch.allclose(logits, model.output(hidden), atol=1e-6)
    logits.sum().backward()
    dropped = reference.weight_hh_l0 == 0
    assert dropped.any() and (model.lstm.weight_hh_l0.grad[dropped] == 0).all()
    model.eval()  # off in eval: the plain model
    assert torch.allclose(model(x)[0], TextGenerationModel.forward(model, x)[0])
