"""The pieces of part 2's training loop: the run's mutable state, the training step, evaluation, the
time budget. ``part2/train.py`` strings them together; ``bench/bench_part2_train.py`` times
:meth:`Trainer.step`, exactly what one step of training runs.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch.nn import functional as F

from part2.dataset import TextDataset, TextStreams

# Offsets of the seeds of a run's two generators from --seed: any fixed values would do, but changing
# them changes every run of a given seed.
BATCH_SEED_STRIDE, SAMPLE_SEED_OFFSET = 7919, 1


@dataclass
class RunState:
    """Everything about a run that changes while it trains, besides weights, optimizer and schedule.

    :func:`part2.checkpoints.save_run` writes it into a checkpoint and
    :func:`part2.checkpoints.restore_run` reads it back, together with torch's global RNG (which
    dropout draws from); nothing else of a run needs saving.
    """
    batch_gen: torch.Generator    # draws the training windows (this process's own)
    sample_gen: torch.Generator   # draws the samples written during training
    sums: torch.Tensor            # (2,) float64 on the device: [loss, accuracy] summed since the last print
    first_bad: torch.Tensor       # () long on the device: first step whose loss was not finite or exploded, -1
    step: int = 0                 # optimizer steps taken
    best_val_loss: float = math.inf
    best_step: int = 0
    best_val_stream_loss: float = math.nan   # carried-state validation loss at best_step
    last_val_loss: float = math.nan
    elapsed_s: float = 0.0        # training time of all sessions, as of the last checkpoint
    carried: tuple | None = None  # (h, c), each (L, B, H): the state carried between batches (--carry_state)

    @classmethod
    def start(cls, seed: int, rank: int, device) -> "RunState":
        return cls(batch_gen=torch.Generator().manual_seed(seed + BATCH_SEED_STRIDE * rank),
                   sample_gen=torch.Generator().manual_seed(seed + SAMPLE_SEED_OFFSET),
                   sums=torch.zeros(2, dtype=torch.float64, device=device),
                   first_bad=torch.full((), -1, dtype=torch.long, device=device))


# The scalar fields of RunState that a checkpoint keeps under extras["progress"].
PROGRESS = ("best_val_loss", "best_step", "best_val_stream_loss", "last_val_loss", "elapsed_s")


class WindowBatches:
    """Random ``seq_length`` windows of the training text, each read from a zero state."""
    carries_state = False

    def __init__(self, dataset: TextDataset, batch_size: int):
        self.dataset, self.batch_size = dataset, batch_size

    def next(self, run: RunState):
        x, y = self.dataset.sample_batch(self.batch_size, run.batch_gen)      # (B, T) each
        return x, y, None


class StreamBatches:
    """``--carry_state``: consecutive chunks of this process's streams, each starting from the state
    the previous batch ended with (zeros at the start of every pass over the text)."""
    carries_state = True

    def __init__(self, streams: TextStreams):
        self.streams = streams

    def next(self, run: RunState):
        x, y, new_pass = self.streams.batch(run.step)                          # (B, T) each
        return x, y, None if new_pass else run.carried


def make_batches(dataset: TextDataset, carry_state: bool, batch_size: int, local_batch: int, rank: int):
    """The batch source of one process: ``local_batch`` of the total ``batch_size`` sequences."""
    if not carry_state:
        return WindowBatches(dataset, local_batch)
    rows = slice(rank * local_batch, (rank + 1) * local_batch)  # this process's share of the streams
    return StreamBatches(TextStreams(dataset.train_data, batch_size, dataset.seq_length, rows))


def explode_limit(vocab_size: int) -> float:
    """A loss above this (twice that of a uniform guess, plus one) means training diverged."""
    return 2.0 * math.log(max(vocab_size, 2)) + 1.0


@dataclass
class Trainer:
    """What a training step needs besides the run's state. ``net`` is what the step calls (``model``
    itself, or ``model`` wrapped by DistributedDataParallel)."""
    model: torch.nn.Module
    net: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    batches: WindowBatches | StreamBatches
    max_norm: float
    explode_limit: float

    @property
    def learning_rate(self) -> float:
        return self.optimizer.param_groups[0]["lr"]

    def step(self, run: RunState) -> None:
        """One update: draw a batch, minimise equation 13 (the mean cross-entropy over every time step
        and sequence), clip, step optimizer and schedule; add loss and accuracy to ``run.sums`` and
        remember the first bad loss in ``run.first_bad``. No value is copied to the host."""
        run.step += 1
        device = run.sums.device
        x, y, state = self.batches.next(run)
        x, y = x.to(device), y.to(device)                                           # (B, T) each
        self.net.train()
        logits, state = self.net(x, state)                                # (B, T, V); h, c: (L, B, H)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))  # mean over B*T
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.max_norm)
        self.optimizer.step()
        self.scheduler.step()
        if self.batches.carries_state:  # carried into the next batch, its gradient cut here
            run.carried = tuple(t.detach() for t in state)                          # (L, B, H) each
        with torch.no_grad():
            accuracy = (logits.argmax(dim=-1) == y).float().mean()
            loss = loss.detach()
            run.sums += torch.stack([loss.double(), accuracy.double()])
            bad = ~torch.isfinite(loss) | (loss > self.explode_limit)
            run.first_bad = torch.where(bad & (run.first_bad < 0), run.step, run.first_bad)


@torch.no_grad()
def evaluate(model, x, y, chunk: int = 512):
    """Mean cross-entropy (nats/char) and accuracy over ``(W, T)`` windows, each from a zero state."""
    if x.numel() == 0:
        return float("nan"), float("nan")
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    total = torch.zeros(2, dtype=torch.float64, device=device)                 # [loss, correct]
    for start in range(0, x.shape[0], chunk):
        xb, yb = x[start:start + chunk].to(device), y[start:start + chunk].to(device)  # (w, T)
        logits, _ = model(xb)                                                          # (w, T, V)
        total += _summed(logits, yb)
    model.train(was_training)
    loss, correct = (total / x.numel()).tolist()
    return loss, correct


@torch.no_grad()
def evaluate_stream(model, ids: torch.Tensor, streams: int = 16, chunk: int = 256):
    """Mean cross-entropy (nats/char) and accuracy of the held-out text ``ids`` ``(N,)`` read the way
    a language model reads a text: cut into ``streams`` consecutive stretches, each run from its start
    with the LSTM state carried from chunk to chunk, so every character is predicted from all the text
    before it in its stretch (only the first character of a stretch starts from a zero state)."""
    length = (ids.numel() - 1) // streams
    if length < 1:
        return float("nan"), float("nan")
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    x = ids[: streams * length].view(streams, length).to(device)                   # (S, L)
    y = ids[1: streams * length + 1].view(streams, length).to(device)              # (S, L)
    total = torch.zeros(2, dtype=torch.float64, device=device)                     # [loss, correct]
    state = None
    for start in range(0, length, chunk):
        logits, state = model(x[:, start:start + chunk], state)                    # (S, c, V)
        total += _summed(logits, y[:, start:start + chunk])
    model.train(was_training)
    loss, correct = (total / y.numel()).tolist()
    return loss, correct


def _summed(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``[summed cross-entropy, number correct]`` of ``(w, T, V)`` logits against ``(w, T)`` targets."""
    loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1), reduction="sum")
    return torch.stack([loss.double(), (logits.argmax(-1) == y).sum().double()])


def now() -> float:
    """The training clock. Tests replace it (``monkeypatch.setattr(part2.training, "now", ...)``) to
    make ``--time_limit`` stop a run at a step they can predict."""
    return time.perf_counter()


class Budget:
    """``--time_limit`` and the run's training time: ``elapsed()`` counts earlier sessions too, the
    limit applies to this session only (a resumed run gets the full budget again)."""

    def __init__(self, seconds: float | None, elapsed_before: float = 0.0):
        self.seconds, self.before, self.t0 = seconds, elapsed_before, now()

    def session(self) -> float:
        return now() - self.t0

    def elapsed(self) -> float:
        return self.before + self.session()

    def expired(self) -> str | None:
        """``"time_limit"`` once this session has trained longer than the limit, else None."""
        return "time_limit" if self.seconds is not None and self.session() > self.seconds else None


class Throughput:
    """Training characters per second between two calls of :meth:`tick` (the CSV's chars_per_s)."""

    def __init__(self, step: int, chars_per_step: int):
        self.step, self.t, self.chars_per_step = step, now(), chars_per_step

    def tick(self, step: int) -> float:
        t = now()
        rate = (step - self.step) * self.chars_per_step / max(t - self.t, 1e-9)
        self.step, self.t = step, t
        return rate


class Due(NamedTuple):
    """What a step has to do after its update."""
    print: bool
    validate: bool
    sample: bool
    checkpoint: bool

    @classmethod
    def at(cls, step: int, args, stopped) -> "Due":
        last = step == args.train_steps
        return cls(print=step % args.print_every == 0,
                   validate=bool(args.val_every and step % args.val_every == 0) or last or bool(stopped),
                   sample=bool(args.sample_every and step % args.sample_every == 0),
                   checkpoint=step % args.checkpoint_every == 0 or last or bool(stopped))


def validate(model, dataset: TextDataset, run: RunState):
    """Score the held-out tail both ways (zero-state windows, carried state) and keep the best in
    ``run``; returns ``(loss, accuracy)`` of each and whether the windows loss is a new best."""
    windows = evaluate(model, *dataset.val_windows())
    stream = evaluate_stream(model, dataset.val_data)
    run.last_val_loss = windows[0]
    improved = windows[0] < run.best_val_loss
    if improved:
        run.best_val_loss, run.best_step, run.best_val_stream_loss = windows[0], run.step, stream[0]
    return windows, stream, improved


def agreed_stop(ddp, wanted: str | None, print_due: bool) -> str | None:
    """Why the run stops after this step, or None. Under torchrun the processes agree at print steps
    only (a collective call), so they all stop after the same step."""
    if not ddp.active:
        return wanted
    if print_due and ddp.any(bool(wanted)):
        return wanted or "a stop request to another process"
    return None


def progress_postfix(loss: float, accuracy: float, val_loss: float) -> dict:
    """The progress bar's figures; the validation loss only once there is one."""
    shown = {"loss": f"{loss:.3f}", "acc": f"{accuracy:.3f}"}
    if not math.isnan(val_loss):
        shown["val"] = f"{val_loss:.3f}"
    return shown
