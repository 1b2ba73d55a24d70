"""The training recipes of the length study (questions 1.3 and 1.6): flags of ``part1/train.py`` per
model and length. ``part1/length_study.py`` and ``reproduce.py`` both take their runs from here."""
from __future__ import annotations

FULL_LENGTHS = {"LSTM": [5, 10, 15, 20, 25, 30, 40, 50, 60, 70, 80, 90, 100],
                "RNN": [5, 10, 15, 20, 25, 30, 40, 50, 60, 70, 80, 90, 100]}
QUICK_LENGTHS = {"LSTM": [5, 10, 20], "RNN": [5, 10, 20]}
BASELINE_LENGTHS = {"LSTM": [5, 10, 15, 20, 30, 40, 50], "RNN": [5, 10, 15, 20, 30, 40, 50]}


def recipe(model_type: str, length: int, quick: bool = False, baseline: bool = False) -> dict:
    """The training flags for one length (recorded in every row of the results).

    Both models read one-hot digits (no ordering between digits is implied), use RMSprop as the
    assignment asks, and stop once 99.5% of the validation set is right twice in a row.
    LSTM: chrono initialisation (b_f ~ log U(1, T-1), b_i = -b_f) gives cells whose memory lasts as
    long as the sequence from the first step, and a learning rate of 1e-2 lets them lock onto the
    first digit within a few hundred steps. RNN: an orthogonal W_hh (singular values 1, so the
    state neither vanishes nor explodes at the start) and a small learning rate, 3e-4 up to T = 60
    and 1e-4 beyond: with 1e-3 it stayed near chance at T = 40, because large steps push W_hh away
    from orthogonality before the network has found the first digit.

    ``baseline``: :func:`baseline_recipe` instead.
    """
    if baseline:
        return baseline_recipe(model_type, length, quick)
    flags = {"input_dim": 10, "num_hidden": 128, "batch_size": 128, "optimizer": "rmsprop",
             "max_norm": 10.0, "init": "uniform", "early_stop_accuracy": 0.995,
             "early_stop_patience": 2, "eval_every": 50, "eval_size": 1000, "test_size": 10000}
    if model_type == "LSTM":
        flags.update(learning_rate=1e-2 if length > 10 else 3e-3, chrono=True,
                     train_steps=3000, time_limit=600.0)
    else:
        flags.update(learning_rate=3e-4 if length <= 60 else 1e-4, recurrent_init="orthogonal",
                     train_steps=6000, time_limit=600.0)
    if quick:
        flags.update(train_steps=1500, time_limit=60.0, test_size=2000)
    return flags


def baseline_recipe(model_type: str, length: int, quick: bool = False) -> dict:
    """The baseline series: the assignment's default training parameters, for comparison.

    The assignment trains with RMSprop at a learning rate of 1e-3 from PyTorch's default uniform
    initialisation, i.e. part1/train.py's own defaults: so the flags differ from :func:`recipe`
    only in ``learning_rate`` (1e-3), ``recurrent_init`` (RNN: ``same``, a uniform W_hh, not
    orthogonal), ``chrono`` (LSTM: off, so b_f is train.py's default forget bias 1) and
    ``train_steps`` (3000, 1000 with ``quick``). Input (one-hot, input_dim 10), width, batch,
    clipping, ``init`` and the evaluation, early-stop and time-limit settings are the tuned ones, so
    that only the training parameters separate the two series.
    """
    flags = recipe(model_type, length, quick)
    flags.update(learning_rate=1e-3, init="uniform", train_steps=1000 if quick else 3000)
    if model_type == "LSTM":
        flags.pop("chrono")
    else:
        flags.update(recurrent_init="same")
    return flags


def as_argv(flags: dict) -> list[str]:
    """``part1/train.py`` arguments for ``flags``: True is a bare switch, False and None are left out."""
    argv = []
    for key, value in flags.items():
        if value is True:
            argv.append(f"--{key}")
        elif value is not False and value is not None:
            argv += [f"--{key}", str(value)]
    return argv
