"""common/optim.py: one meaning per optimizer name (the parts' training scripts only pass names on)."""
from __future__ import annotations

import pytest
import torch

from common.optim import OPTIMIZERS, make_optimizer


def one_parameter():
    torch.manual_seed(0)
    return torch.nn.Parameter(torch.randn(5, dtype=torch.float64))


def steps(name, gradients, lr=0.1, **kwargs):
    """The parameter after one optimizer step per gradient in ``gradients``."""
    w = one_parameter()
    optimizer = make_optimizer(name, [w], lr, **kwargs)
    for g in gradients:
        w.grad = g.clone()
        optimizer.step()
    return w.detach()


GRADIENTS = [torch.tensor([1.0, -2.0, 0.5, 3.0, -0.25], dtype=torch.float64),
             torch.tensor([0.5, 1.0, -1.5, 2.0, 0.75], dtype=torch.float64)]


def test_sgd_is_w_minus_lr_times_g():
    w0 = one_parameter().detach()
    assert torch.equal(steps("sgd", GRADIENTS[:1]), w0 - 0.1 * GRADIENTS[0])
    assert torch.allclose(steps("sgd", GRADIENTS), w0 - 0.1 * (GRADIENTS[0] + GRADIENTS[1]), atol=1e-15)


def test_momentum_is_heavy_ball_with_0_9():
    """The first step equals SGD's (the buffer starts as the gradient); the second adds 0.9 of it."""
    w0 = one_parameter().detach()
    assert torch.equal(steps("momentum", GRADIENTS[:1]), steps("sgd", GRADIENTS[:1]))
    expected = w0 - 0.1 * GRADIENTS[0] - 0.1 * (0.9 * GRADIENTS[0] + GRADIENTS[1])
    assert torch.allclose(steps("momentum", GRADIENTS), expected, atol=1e-15)
    assert not torch.allclose(steps("momentum", GRADIENTS), steps("sgd", GRADIENTS))


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_every_name_builds_its_own_optimizer(name):
    kinds = {"sgd": torch.optim.SGD, "momentum": torch.optim.SGD, "rmsprop": torch.optim.RMSprop,
             "adam": torch.optim.Adam, "adamw": torch.optim.AdamW}
    optimizer = make_optimizer(name, [one_parameter()], 0.01)
    assert type(optimizer) is kinds[name] and optimizer.param_groups[0]["lr"] == 0.01
    after = {other: steps(other, GRADIENTS) for other in OPTIMIZERS}
    assert all(not torch.equal(after[name], after[other]) for other in OPTIMIZERS if other != name)
    assert not torch.equal(steps(name, GRADIENTS, weight_decay=0.5), steps(name, GRADIENTS, weight_decay=0.0))


def test_adamw_keeps_its_default_decay_and_an_unknown_name_is_refused():
    assert make_optimizer("adamw", [one_parameter()], 0.01).param_groups[0]["weight_decay"] == 0.01
    assert make_optimizer("adam", [one_parameter()], 0.01).param_groups[0]["weight_decay"] == 0
    with pytest.raises(ValueError, match="unknown optimizer 'adagrad'"):
        make_optimizer("adagrad", [one_parameter()], 0.01)
