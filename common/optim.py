"""The optimizers every part offers, by one name each."""
from __future__ import annotations

import torch

# sgd is plain SGD (w <- w - lr * g); momentum is SGD with heavy-ball momentum 0.9.
OPTIMIZERS = ("sgd", "momentum", "rmsprop", "adam", "adamw")


def make_optimizer(name: str, params, lr: float, weight_decay: float | None = None) -> torch.optim.Optimizer:
    """The optimizer called ``name`` (one of :data:`OPTIMIZERS`); ``weight_decay`` None keeps each
    optimizer's own default (0, or 0.01 for AdamW)."""
    extra = {} if weight_decay is None else {"weight_decay": weight_decay}
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, **extra)
    if name == "momentum":
        return torch.optim.SGD(params, lr=lr, momentum=0.9, **extra)
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, **extra)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, **extra)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, **extra)
    raise ValueError(f"unknown optimizer '{name}'; choose from {', '.join(OPTIMIZERS)}")
