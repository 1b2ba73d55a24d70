"""Checks of the part-2 ``TextGenerationModel``: the layout of its inputs and outputs, and that it
learns from a small text with the grader's own training loop.

Students feed ``(B, T)`` index batches or time-major ``(T, B)`` ones (or either one-hot encoded)
and return ``(B, T, V)``, ``(T, B, V)`` or ``(B, V, T)`` logits (the layout ``nn.CrossEntropyLoss``
takes), sometimes in a tuple with the LSTM state, first or second.
The layout is found from the shapes and confirmed by causality: changing the input of sequence b at
step t may change only the outputs of sequence b at steps >= t, which tells the time axis from the
batch axis. Sampling feeds one sequence, one character at a time: a batch of one must work too.
"""
from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

import torch
from torch.nn import functional as F

from .common import (SOFTMAX_HINT, CheckFailed, construct, describe, given_note, looks_like_softmax, pick_output,
                     position_note, student_class)
from .text import TEXT

SHAPE = dict(batch=4, steps=7, vocab=13, hidden=16, layers=2)  # batch != steps: the axes tell apart
# The grader's training run stops once the mean of the last 10 losses is `margin` below the text's
# character entropy (3.19 nats, what a model that ignores its inputs reaches). Measured over seeds
# 0-4 of TRAINING: the nn.Embedding models of tests/grading_fixtures get there in 35-41 steps, a
# one-hot nn.LSTM in 117-129, with dropout 0.5 between its layers in 126-144 (a third of the budget);
# a model that ignores its inputs stays at 3.2, one with a softmax on its output above 3.4 (its floor
# for 78 characters).
TRAINING = dict(hidden=64, layers=2, batch=32, steps=30, lr=1e-2, updates=400, margin=0.5, seed=0)


@dataclass(frozen=True)
class Layout:
    label: str
    time_major: bool  # feed (T, B) instead of (B, T)
    one_hot: bool = False  # feed one-hot float vectors instead of indices


LAYOUTS = (Layout("(B, T) indices", False), Layout("time-major (T, B) indices", True),
           Layout("one-hot (B, T, V)", False, True), Layout("time-major one-hot (T, B, V)", True, True))


def build(vocab: int, hidden: int, layers: int, batch: int, steps: int):
    cls = student_class("part2", "model", "TextGenerationModel")
    return construct(cls, dict(batch_size=batch, seq_length=steps, vocabulary_size=vocab,
                               lstm_num_hidden=hidden, lstm_num_layers=layers, device="cpu"), part="part2")


def logits(model, layout: Layout, x: torch.Tensor, vocab: int):
    """The model's logits for x ``(B, T)`` as ``(B, T, V)``, and how they came out (of a tuple, the
    element shaped like logits)."""
    B, T = x.shape
    shapes = {}  # the first label of a shape wins (B = T = 1 when sampling)
    for shape, label in (((B, T, vocab), "(B, T, V)"), ((T, B, vocab), "time-major (T, B, V)"),
                         ((B * T, vocab), "flattened"), ((B, vocab, T), "(B, V, T), as nn.CrossEntropyLoss takes")):
        shapes.setdefault(shape, label)
    fed = x.t() if layout.time_major else x
    if layout.one_hot:
        fed = F.one_hot(fed, vocab).to(next((p.dtype for p in model.parameters() if p.is_floating_point()),
                                            torch.float32))
    raw = model(fed)
    output = pick_output(raw, lambda t: tuple(t.shape) in shapes)
    label = shapes.get(tuple(output.shape))
    if label is None:
        raise CheckFailed(f"output {tuple(output.shape)} for input {tuple(fed.shape)}; expected (B, T, V) = "
                          f"{(B, T, vocab)}, (T, B, V), (B, V, T) or flattened (B*T, V)")
    position = position_note(raw, lambda t: tuple(t.shape) in shapes)
    if label == "flattened":  # for the loss, in the order of the input
        if layout.time_major:
            return output.reshape(T, B, vocab).transpose(0, 1), f"time-major (T*B, V), flattened{position}"
        return output.reshape(B, T, vocab), f"(B*T, V), flattened{position}"
    if label.startswith("(B, V, T)"):
        return output.transpose(1, 2), label + position
    return (output.transpose(0, 1) if label.startswith("time-major") else output), label + position


def causal(model, layout: Layout, x: torch.Tensor, vocab: int) -> str:
    """What is wrong when sequence 1 is changed at step 3 (only its own outputs from step 3 on may
    move, and the one at step 3 must), or "" when nothing is."""
    changed = x.clone()
    changed[1, 3] = (x[1, 3] + 1) % vocab
    with torch.no_grad():
        torch.manual_seed(0)  # the same random numbers in both runs: a dropout left on in eval mode
        before, _ = logits(model, layout, x, vocab)
        torch.manual_seed(0)
        after, _ = logits(model, layout, changed, vocab)
    moved = (after - before).abs().amax(-1) > 1e-6  # (B, T)
    allowed = torch.zeros_like(moved)
    allowed[1, 3:] = True
    if (moved & ~allowed).any():
        return "a change at one step moves outputs of earlier steps or of other sequences " \
               "(batch and time axes mixed up, or a bidirectional LSTM?)"
    if not moved[1, 3]:
        return "a change of the input changes no output at its step: is the input fed to the LSTM?"
    return ""


def find_layout(model, vocab: int, batch: int, steps: int):
    """``(layout, output label)`` of the first input layout that gives causal logits."""
    model.eval()  # dropout off: the causality test compares two runs
    x = torch.randint(0, vocab, (batch, steps), generator=torch.Generator().manual_seed(0))
    reasons = []  # (the model gave an output, why the layout is wrong)
    for layout in LAYOUTS:
        try:
            _, label = logits(model, layout, x, vocab)
            problem = causal(model, layout, x, vocab)
            if not problem:
                return layout, label
            reasons.append((True, f"{layout.label}: {problem}"))
        except CheckFailed as exc:
            reasons.append((True, f"{layout.label}: {exc}"))
        except Exception as exc:
            reasons.append((False, f"{layout.label}: {describe(exc)}"))
    ran = [reason for gave_output, reason in reasons if gave_output]  # the layouts the model takes
    raise CheckFailed("; ".join(ran or [reason for _, reason in reasons]))


def sampling_problem(model, layout: Layout, vocab: int, steps: int) -> str:
    """What fails on a batch of one sequence, of ``steps`` characters and of one (as sampling
    feeds), or "" when nothing does."""
    for shape in ((1, steps), (1, 1)):
        x = torch.randint(0, vocab, shape, generator=torch.Generator().manual_seed(2))
        try:
            with torch.no_grad():
                logits(model, layout, x, vocab)
        except CheckFailed as exc:
            return f"{exc}"
        except Exception as exc:
            return f"{describe(exc)} for input {tuple(x.shape)} ({layout.label})"
    return ""


def check_shapes(ctx) -> str:
    s = SHAPE
    model = build(s["vocab"], s["hidden"], s["layers"], s["batch"], s["steps"])
    layout, label = find_layout(model, s["vocab"], s["batch"], s["steps"])
    x = torch.randint(0, s["vocab"], (s["batch"], s["steps"]), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        output, _ = logits(model, layout, x, s["vocab"])
    note = f"; note: {SOFTMAX_HINT}" if looks_like_softmax(output) else ""
    problem = sampling_problem(model, layout, s["vocab"], s["steps"])
    if problem:  # a model built around its batch size may still sample when built with batch_size=1
        if sampling_problem(build(s["vocab"], s["hidden"], s["layers"], 1, s["steps"]).eval(), layout,
                            s["vocab"], s["steps"]):
            raise CheckFailed(f"a batch of one sequence, as sampling feeds, fails: {problem}")
        note += "; a batch of one sequence works only with a model built with batch_size=1"
    return f"input {layout.label} -> logits {label}, causal in time, also for a batch of one{note}{given_note()}"


def entropy(text: str) -> float:
    """The text's character entropy in nats: the loss of a model that ignores its inputs."""
    counts = Counter(text)
    return -sum(n / len(text) * math.log(n / len(text)) for n in counts.values())


def check_loss_falls(ctx) -> str:
    s = TRAINING
    vocab = sorted(set(TEXT))
    data = torch.tensor([vocab.index(ch) for ch in TEXT])
    torch.manual_seed(s["seed"])
    model = build(len(vocab), s["hidden"], s["layers"], s["batch"], s["steps"])
    layout, _ = find_layout(model, len(vocab), s["batch"], s["steps"])
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=s["lr"])
    generator, losses = torch.Generator().manual_seed(s["seed"]), []
    goal = entropy(TEXT) - s["margin"]
    while len(losses) < s["updates"] and not (len(losses) >= 10 and sum(losses[-10:]) / 10 < goal):
        starts = torch.randint(0, len(data) - s["steps"] - 1, (s["batch"],), generator=generator)
        windows = data[starts[:, None] + torch.arange(s["steps"] + 1)]  # (B, T + 1)
        output, _ = logits(model, layout, windows[:, :-1], len(vocab))
        loss = F.cross_entropy(output.reshape(-1, len(vocab)), windows[:, 1:].reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    start, end = losses[0], sum(losses[-10:]) / 10
    recipe = f"{len(losses)} Adam steps, lr {s['lr']:g}, batch {s['batch']}x{s['steps']}, {s['hidden']} hidden"
    if end < goal:
        return f"loss {start:.2f} -> {end:.2f} nats, below {goal:.2f} (entropy - {s['margin']:g}; {recipe})"
    hint = SOFTMAX_HINT if looks_like_softmax(output) else \
        "are the inputs fed to the LSTM and the outputs aligned with the targets?"
    raise CheckFailed(f"loss {start:.2f} -> {end:.2f} nats ({recipe}); a model that ignores its inputs reaches "
                      f"the text's entropy {entropy(TEXT):.2f}, expected below {goal:.2f}: {hint}")
