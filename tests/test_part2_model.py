"""part2/model.py: shapes, stepping with a carried state, dropout, learning a short text."""
from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from common.runtime import UserError
from part2.model import TextGenerationModel
from tests.test_part2_support import single_thread  # noqa: F401

pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.mark.parametrize("embedding_dim", [16, 0])
@pytest.mark.parametrize("batch", [1, 7])
def test_output_shapes(batch, embedding_dim):
    model = TextGenerationModel(batch, 9, 13, lstm_num_hidden=20, lstm_num_layers=3, device="cpu",
                                embedding_dim=embedding_dim)
    x = torch.randint(0, 13, (batch, 9))
    logits, (h, c) = model(x)
    assert logits.shape == (batch, 9, 13)
    assert h.shape == c.shape == (3, batch, 20)
    logits2, _ = model(x[:, :4], (h, c))
    assert logits2.shape == (batch, 4, 13)


@pytest.mark.parametrize("embedding_dim", [16, 0])
def test_one_step_at_a_time_equals_one_forward(embedding_dim):
    torch.manual_seed(0)
    model = TextGenerationModel(3, 15, 11, lstm_num_hidden=32, lstm_num_layers=2, device="cpu",
                                embedding_dim=embedding_dim).eval()
    x = torch.randint(0, 11, (3, 15))
    with torch.no_grad():
        full, (h_full, c_full) = model(x)
        state, fwd_steps = None, []
        for t in range(15):                      # nn.LSTM path with T = 1
            out, state = model(x[:, t:t + 1], state)
            fwd_steps.append(out[:, 0])
        state2, cell_steps = None, []
        for t in range(15):                      # the torch.lstm_cell fast path used by sampling
            out, state2 = model.step(x[:, t], state2)
            cell_steps.append(out)
    assert torch.allclose(torch.stack(fwd_steps, 1), full, atol=1e-5)
    assert torch.allclose(torch.stack(cell_steps, 1), full, atol=1e-5)
    assert torch.allclose(state2[0], h_full, atol=1e-5) and torch.allclose(state2[1], c_full, atol=1e-5)


def test_dropout_follows_keep_prob():
    x = torch.randint(0, 10, (4, 8))
    model = TextGenerationModel(4, 8, 10, 32, 2, device="cpu", dropout_keep_prob=0.5).train()
    assert not torch.equal(model(x)[0], model(x)[0])
    model.eval()
    assert torch.equal(model(x)[0], model(x)[0])
    assert model.lstm.dropout == pytest.approx(0.5)
    kept = TextGenerationModel(4, 8, 10, 32, 2, device="cpu", dropout_keep_prob=1.0).train()
    assert torch.equal(kept(x)[0], kept(x)[0])


def test_bad_arguments_are_user_errors():
    with pytest.raises(UserError):
        TextGenerationModel(1, 1, 10, 8, 1, device="cpu", dropout_keep_prob=0.0)
    with pytest.raises(UserError):
        TextGenerationModel(1, 1, 10, 0, 1, device="cpu")
    if not torch.cuda.is_available():
        with pytest.raises(UserError, match="CUDA is not available"):
            TextGenerationModel(1, 1, 10, 8, 1, device="cuda:0")


def test_model_built_without_a_device_runs_where_it_is():
    """The skeleton's positional arguments and no device: CUDA when present, else the CPU."""
    model = TextGenerationModel(2, 5, 10)
    assert model.device.type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert model.lstm_num_hidden == 256 and model.lstm_num_layers == 2
    logits, _ = model(torch.randint(0, 10, (2, 5), device=model.device))
    assert logits.shape == (2, 5, 10)


def test_small_model_overfits_a_short_text():
    torch.manual_seed(0)
    text = "the quick brown fox, the lazy dog. "
    chars = sorted(set(text))
    ids = torch.tensor([chars.index(ch) for ch in text * 2])
    x, y = ids[:-1][None], ids[1:][None]           # (1, N-1) each
    model = TextGenerationModel(1, x.shape[1], len(chars), 48, 1, device="cpu")
    optimizer = torch.optim.Adam(model.parameters(), lr=0.03)
    first = None
    for _ in range(100):
        logits, _ = model(x)
        loss = F.cross_entropy(logits.reshape(-1, len(chars)), y.reshape(-1))
        first = first if first is not None else loss.item()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert first > 2.5
    assert loss.item() < 0.15
    assert (model(x)[0].argmax(-1) == y).float().mean() > 0.97


def test_validation_scores_windows_from_zero_and_stretches_with_a_carried_state():
    """evaluate: the mean cross-entropy of zero-state windows, whatever the chunking; evaluate_stream:
    chunking with a carried state equals one forward over each whole stretch, and it differs from
    scoring zero-state windows (the context is really carried)."""
    from part2.training import evaluate, evaluate_stream

    torch.manual_seed(3)
    model = TextGenerationModel(2, 10, 9, lstm_num_hidden=16, lstm_num_layers=2, device="cpu")
    ids = torch.randint(0, 9, (2 * 50 + 1,))
    loss, acc = evaluate_stream(model, ids, streams=2, chunk=7)
    x, y = ids[:100].view(2, 50), ids[1:101].view(2, 50)
    with torch.no_grad():
        logits, _ = model.eval()(x)                                            # (2, 50, 9)
    expected = F.cross_entropy(logits.reshape(-1, 9), y.reshape(-1)).item()
    assert loss == pytest.approx(expected, rel=1e-6)
    assert acc == pytest.approx((logits.argmax(-1) == y).float().mean().item())
    wx, wy = ids[:100].view(10, 10), ids[1:101].view(10, 10)
    windows, windows_acc = evaluate(model, wx, wy, chunk=3)                    # chunks of 3, 3, 3, 1
    with torch.no_grad():
        logits, _ = model(wx)                                                  # (10, 10, 9), zero states
    assert windows == pytest.approx(F.cross_entropy(logits.reshape(-1, 9), wy.reshape(-1)).item(), rel=1e-6)
    assert windows_acc == pytest.approx((logits.argmax(-1) == wy).float().mean().item())
    assert abs(windows - loss) > 1e-6
    too_short = evaluate_stream(model, ids[:2], streams=2)  # fewer characters than stretches
    assert all(v != v for v in too_short)  # NaN, as evaluate() gives for an empty set


def test_weight_drop_masks_w_hh_once_per_batch_and_only_while_training():
    """Training with --weight_drop equals an nn.LSTM whose W_hh are the dropped copies (the same mask
    at every time step), dropped entries get no gradient, and evaluation uses the full weights."""
    torch.manual_seed(0)
    model = TextGenerationModel(3, 9, 7, lstm_num_hidden=6, device="cpu", embedding_dim=4, weight_drop=0.5)
    x = torch.randint(0, 7, (3, 9))
    model.train()
    torch.manual_seed(1)
    logits, _ = model(x)                                                          # (3, 9, 7)
    torch.manual_seed(1)                                                          # the same masks again
    dropped = [F.dropout(getattr(model.lstm, f"weight_hh_l{layer}"), 0.5) for layer in range(2)]
    reference = torch.nn.LSTM(4, 6, 2, batch_first=True)
    reference.load_state_dict(model.lstm.state_dict())
    with torch.no_grad():
        reference.weight_hh_l0.copy_(dropped[0])
        reference.weight_hh_l1.copy_(dropped[1])
        expected = model.output(reference(model.embedding(x))[0])
    assert torch.allclose(logits, expected, atol=1e-6)
    assert 0.3 < (dropped[0] == 0).float().mean() < 0.7
    logits.square().sum().backward()
    grad = model.lstm.weight_hh_l0.grad
    assert torch.all(grad[dropped[0] == 0] == 0) and grad[dropped[0] != 0].abs().sum() > 0
    model.eval()
    full, _ = model(x)
    model.weight_drop = 0.0
    assert torch.equal(full, model(x)[0])
    with pytest.raises(UserError, match="weight_drop"):
        TextGenerationModel(3, 9, 7, device="cpu", weight_drop=1.0)
