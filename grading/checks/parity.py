"""Parity of the part-1 models with PyTorch's ``nn.RNN`` / ``nn.LSTM``, outputs and gradients.

The student's parameters are mapped onto the assignment's (:mod:`.mapping`: by name, else by shape)
and fed to the built-in module (with ``bias_hh = 0``: the assignment has one bias per gate) in
float64, after a random re-initialisation that gives every term of the equations a weight. Outputs
that are log-probabilities (``log_softmax(p(T))``, for ``nn.NLLLoss``) are compared as such. When
nothing maps the check is skipped, or fails when most of the assignment's names are there. When the
outputs differ, the equations are re-run with common mistakes to name the one made.
"""
from __future__ import annotations

import torch
from torch import nn

from .common import CheckFailed, CheckSkipped, one_line, student_frame
from .mapping import NAMES, by_name, named_candidates, shape_candidates
from .recurrent import HIDDEN, NUM_CLASSES, first_variant, logits_of, randomise, sample_digits

TOLERANCE = {torch.float64: dict(rtol=1e-7, atol=1e-9), torch.float32: dict(rtol=1e-4, atol=1e-5)}
COMMON_MISTAKES = {"softmax": "a softmax on the output (return the logits p(T))",
                   "no b_p": "p(T) = W_ph h(T), without b_p",
                   "first step": "p computed from h(1), the first step, instead of h(T), the last"}
MISTAKES = {
    "rnn": {"sigmoid": "a sigmoid instead of tanh in h(t)",
            "identity": "no tanh in h(t)",
            "no recurrence": "no W_hh h(t-1) term", **COMMON_MISTAKES},
    "lstm": {"sigmoid candidate": "a sigmoid instead of tanh for the candidate g(t)",
             "no forget gate": "no forget gate: c(t) = g(t)*i(t) + c(t-1)",
             "no output gate": "no output gate: h(t) = tanh(c(t))",
             "no tanh on c": "h(t) = c(t)*o(t), without the tanh",
             "gates swapped": "the input and forget gates swapped", **COMMON_MISTAKES},
}


def builtin_logits(kind: str, W: dict, x: torch.Tensor) -> torch.Tensor:
    """p(T) from nn.RNN / nn.LSTM run with the weights ``W`` (out, in) on x ``(B, T, D)``."""
    def stack(prefix: str, suffix: str) -> torch.Tensor:  # PyTorch's gate order is i, f, g, o
        return torch.cat([W[f"{prefix}{gate}{suffix}"] for gate in "ifgo"])

    if kind == "rnn":
        module = nn.RNN(x.shape[-1], HIDDEN, batch_first=True, dtype=x.dtype)
        weights = dict(weight_ih_l0=W["W_hx"], weight_hh_l0=W["W_hh"], bias_ih_l0=W["b_h"])
    else:
        module = nn.LSTM(x.shape[-1], HIDDEN, batch_first=True, dtype=x.dtype)
        weights = dict(weight_ih_l0=stack("W_", "x"), weight_hh_l0=stack("W_", "h"), bias_ih_l0=stack("b_", ""))
    weights["bias_hh_l0"] = torch.zeros_like(weights["bias_ih_l0"])
    h0, c0 = initial_state(W, x)
    h0, c0 = h0[None].contiguous(), c0[None].contiguous()  # (layers, B, H)
    state = h0 if kind == "rnn" else (h0, c0)
    hidden = torch.func.functional_call(module, weights, (x, state))[0][:, -1]  # h(T), (B, H)
    return hidden @ W["W_ph"].t() + W["b_p"]


def initial_state(W: dict, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """h(0) and c(0), ``(B, H)``: zeros as in the assignment, or the student's learnable ones."""
    zeros = x.new_zeros(x.shape[0], HIDDEN)
    return tuple(W[name].expand_as(zeros) if name in W else zeros for name in ("h0", "c0"))


def _rnn_step(W, x_t, h, c, mistake):
    activation = {"sigmoid": torch.sigmoid, "identity": lambda a: a}.get(mistake, torch.tanh)
    recurrent = 0 if mistake == "no recurrence" else h @ W["W_hh"].t()
    return activation(x_t @ W["W_hx"].t() + recurrent + W["b_h"]), c


def _lstm_step(W, x_t, h, c, mistake):
    def gate(name, activation=torch.sigmoid):
        return activation(x_t @ W[f"W_{name}x"].t() + h @ W[f"W_{name}h"].t() + W[f"b_{name}"])

    g = gate("g", torch.sigmoid if mistake == "sigmoid candidate" else torch.tanh)
    i, f, o = gate("i"), gate("f"), gate("o")
    if mistake == "gates swapped":
        i, f = f, i
    c = g * i + (c if mistake == "no forget gate" else c * f)
    if mistake == "no output gate":
        return torch.tanh(c), c
    return (c if mistake == "no tanh on c" else torch.tanh(c)) * o, c


def equations(kind: str, W: dict, x: torch.Tensor, mistake: str) -> torch.Tensor:
    """p(T) of the assignment's equations made with one deliberate ``mistake`` (:data:`MISTAKES`)."""
    h, c = initial_state(W, x)
    step = _rnn_step if kind == "rnn" else _lstm_step
    for x_t in x.unbind(1)[:1] if mistake == "first step" else x.unbind(1):
        h, c = step(W, x_t, h, c, mistake)
    p = h @ W["W_ph"].t() + (0 if mistake == "no b_p" else W["b_p"])
    return p.softmax(-1) if mistake == "softmax" else p


def reference_input(digits: torch.Tensor, D: int, dtype) -> torch.Tensor:
    return (nn.functional.one_hot(digits, 10) if D == 10 else digits.unsqueeze(-1)).to(dtype)


def run_student(model, variant, digits, dtype):
    """The student's logits and the gradients of a fixed random linear function of them."""
    model.to(dtype)
    randomise(model)
    output = logits_of(model, variant, digits)
    weight = torch.randn(output.shape, generator=torch.Generator().manual_seed(3), dtype=dtype)
    params = dict(model.named_parameters())
    grads = torch.autograd.grad((output * weight).sum(), list(params.values()), allow_unused=True)
    return output.detach(), dict(zip(params, grads)), weight


def log_probabilities(output: torch.Tensor) -> bool:
    """Rows that are log-probabilities: ``log_softmax`` outputs, for ``nn.NLLLoss``."""
    sums = output.double().logsumexp(-1)
    return bool(torch.allclose(sums, torch.zeros_like(sums), atol=1e-5))


def _gradient_errors(params, leaves, reference, student, dtype) -> dict:
    """``{name: largest error}`` of the student's gradients against the reference's (0 when equal)."""
    _, grads, weight = student
    reference_grads = torch.autograd.grad((reference * weight).sum(), list(leaves.values()), allow_unused=True)
    errors = {}
    for name, ref in zip(params, reference_grads):
        if ref is None:  # a parameter the mapping does not use: not compared (the gradient check sees it)
            continue
        mine = grads[name]
        close = mine is not None and torch.allclose(mine, ref, **TOLERANCE[dtype])
        errors[name] = 0.0 if close else float("inf") if mine is None else (mine - ref).abs().max().item()
    return errors


def compare(kind, candidates, params, x, student, dtype, post):
    """For every candidate mapping: ``(candidate, weights, same output, largest output error,
    {name: gradient error} or None when the outputs differ)``; x is the reference's ``(B, T, D)``."""
    output = student[0]
    results = []
    for candidate in candidates:
        leaves = {n: p.detach().clone().requires_grad_() for n, p in params.items()}
        W = candidate.build(leaves)
        reference = post(builtin_logits(kind, W, x))
        same = torch.allclose(output, reference.detach(), **TOLERANCE[dtype])
        errors = _gradient_errors(params, leaves, reference, student, dtype) if same else None
        results.append((candidate, W, same, (output - reference.detach()).abs().max().item(), errors))
        if same and not any(errors.values()):
            break
    return results


def diagnose(kind, results, x, output, dtype, post):
    """``(what the outputs match, the result of the mapping they match with)``; the closest mapping
    when no common mistake explains them."""
    for result in results:
        W = {n: t.detach() for n, t in result[1].items()}
        for mistake, words in MISTAKES[kind].items():
            if torch.allclose(output, post(equations(kind, W, x, mistake)), **TOLERANCE[dtype]):
                return f"they match the equations with {words}", result
    return "compare the forward with the assignment's equations term by term", min(results, key=lambda r: r[3])


def candidates_for(kind: str, params: dict, D: int) -> list:
    """The ways the parameters map onto the assignment's; fails or skips when there is none."""
    sizes = (D, HIDDEN, NUM_CLASSES)
    candidates = named_candidates(kind, params, sizes) or shape_candidates(kind, params, sizes)
    if candidates:
        return candidates
    found = by_name(kind, params)
    listing = one_line(", ".join(f"{n} {tuple(p.shape)}" for n, p in params.items()), 160)
    if len(found) == len(NAMES[kind]):
        raise CheckFailed(f"the parameter shapes fit neither (out, in) nor (in, out) with D={D}, "
                          f"H={HIDDEN}, C={NUM_CLASSES}: {listing}")
    missing = ", ".join(n for n in NAMES[kind] if n not in found)
    if 2 * len(found) >= len(NAMES[kind]):
        raise CheckFailed(f"no parameter named {missing}, nor one of its shape, and the equations need it "
                          f"(found {listing})")
    raise CheckSkipped(f"the parameters ({listing}) match the assignment's neither by name ({missing} "
                       "missing) nor by shape: no comparison")


def _run(model, variant, digits):
    """``(student outcome, dtype, note)``: float64, or float32 when the forward fails in float64."""
    try:
        return run_student(model, variant, digits, torch.float64), torch.float64, ""
    except Exception as exc:  # typically a float32 tensor made inside forward: retry in float32
        where = student_frame(exc).split(": ", 1)[0]
        note = f" (compared in float32: in float64 the forward raised {type(exc).__name__}{where})"
        return run_student(model, variant, digits, torch.float32), torch.float32, note


def check_parity(ctx) -> str:
    variant, model = first_variant(ctx.kind)
    candidates = candidates_for(ctx.kind, dict(model.named_parameters()), variant.input_dim)
    builtin = "nn.RNN" if ctx.kind == "rnn" else "nn.LSTM"
    digits = sample_digits(seed=2)
    student, dtype, note = _run(model, variant, digits)
    params = dict(model.named_parameters())
    if log_probabilities(student[0]):
        post, note = (lambda p: p.log_softmax(-1)), f"; the outputs are log-probabilities log_softmax(p(T)){note}"
    else:
        post = lambda p: p  # noqa: E731
    x = reference_input(digits, variant.input_dim, dtype)
    results = compare(ctx.kind, candidates, params, x, student, dtype, post)
    for candidate, _, same_output, _, errors in results:
        if same_output and not any(errors.values()):
            return f"outputs and gradients equal {builtin}'s, {candidate.label}{note}"
    for candidate, _, same_output, _, errors in results:
        if same_output:
            wrong = ", ".join(f"{n} ({e:.2g})" for n, e in errors.items() if e)
            raise CheckFailed(f"the outputs equal {builtin}'s but the gradients of {wrong} differ "
                              f"(a hand-written backward, or a detach() in the recurrence?){note}")
    words, (candidate, _, _, error, _) = diagnose(ctx.kind, results, x, student[0], dtype, post)
    raise CheckFailed(f"the outputs differ from {builtin}'s by up to {error:.3g} ({candidate.label}); {words}{note}")
