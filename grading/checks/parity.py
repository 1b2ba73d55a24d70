"""Parity of the part-1 models with PyTorch's ``nn.RNN`` / ``nn.LSTM``, outputs and gradients.

The student's parameters, found by the assignment's names, are copied into the built-in module
(with ``bias_hh = 0``: the assignment has one bias per gate) in float64, after a random
re-initialisation that gives every term of the equations a weight. Matrices may be stored
``(out, in)`` as in the equations or ``(in, out)``; both are tried. Without the names the check is
skipped. When the outputs differ, the equations are re-run with common mistakes to name the one made.
"""
from __future__ import annotations

import torch
from torch import nn

from .common import CheckFailed, CheckSkipped, describe, first_output
from .recurrent import HIDDEN, NUM_CLASSES, first_variant, randomise, sample_digits

GATES = "gifo"
NAMES = {
    "rnn": ("W_hx", "W_hh", "b_h", "W_ph", "b_p"),
    "lstm": (*(f"W_{g}{s}" for g in GATES for s in "xh"), *(f"b_{g}" for g in GATES), "W_ph", "b_p"),
}
ORIENTATIONS = ("(out, in) as in the equations", "(in, out)")
TOLERANCE = {torch.float64: dict(rtol=1e-7, atol=1e-9), torch.float32: dict(rtol=1e-4, atol=1e-5)}
MISTAKES = {
    "rnn": {"softmax": "a softmax on the output (return the logits p(T))",
            "sigmoid": "a sigmoid instead of tanh in h(t)",
            "identity": "no tanh in h(t)",
            "no recurrence": "no W_hh h(t-1) term"},
    "lstm": {"sigmoid candidate": "a sigmoid instead of tanh for the candidate g(t)",
             "no forget gate": "no forget gate: c(t) = g(t)*i(t) + c(t-1)",
             "no tanh on c": "h(t) = c(t)*o(t), without the tanh",
             "gates swapped": "the input and forget gates swapped",
             "softmax": "a softmax on the output (return the logits p(T))"},
}


def assignment_parameters(model: nn.Module, kind: str) -> dict:
    """The parameters called as in the assignment (the last part of a dotted name counts)."""
    found = {}
    for name, parameter in model.named_parameters():
        found.setdefault(name.rsplit(".", 1)[-1], parameter)
    missing = [name for name in NAMES[kind] if name not in found]
    if missing:
        raise CheckSkipped(f"no parameters named {', '.join(missing)} (found {', '.join(found)}): "
                           "the comparison needs the assignment's names")
    return {name: found[name] for name in NAMES[kind]}


def _shape(name: str, D: int) -> tuple:
    """The (out, in) shape of a parameter of the equations."""
    if name.startswith("b_"):
        return (NUM_CLASSES,) if name == "b_p" else (HIDDEN,)
    if name == "W_ph":
        return NUM_CLASSES, HIDDEN
    return (HIDDEN, D) if name.endswith("x") else (HIDDEN, HIDDEN)


def oriented(tensors: dict, flipped: bool, D: int) -> dict | None:
    """The tensors in (out, in) layout, or None when their shapes do not fit that orientation."""
    result = {}
    for name, tensor in tensors.items():
        shape = _shape(name, D)
        if len(shape) == 1 and tensor.numel() == shape[0]:
            result[name] = tensor.reshape(shape)
        elif len(shape) == 2 and tensor.dim() == 2 and tuple((tensor.t() if flipped else tensor).shape) == shape:
            result[name] = tensor.t() if flipped else tensor
        else:
            return None
    return result


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
    hidden = torch.func.functional_call(module, weights, (x,))[0][:, -1]  # h(T), (B, H)
    return hidden @ W["W_ph"].t() + W["b_p"]


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
    return (c if mistake == "no tanh on c" else torch.tanh(c)) * o, c


def equations(kind: str, W: dict, x: torch.Tensor, mistake: str) -> torch.Tensor:
    """p(T) of the assignment's equations made with one deliberate ``mistake`` (:data:`MISTAKES`)."""
    h = c = x.new_zeros(x.shape[0], HIDDEN)
    step = _rnn_step if kind == "rnn" else _lstm_step
    for x_t in x.unbind(1):
        h, c = step(W, x_t, h, c, mistake)
    p = h @ W["W_ph"].t() + W["b_p"]
    return p.softmax(-1) if mistake == "softmax" else p


def reference_input(digits: torch.Tensor, D: int, dtype) -> torch.Tensor:
    return (nn.functional.one_hot(digits, 10) if D == 10 else digits.unsqueeze(-1)).to(dtype)


def run_student(model, params, variant, digits, dtype):
    """The student's logits and the gradients of a fixed random linear function of them."""
    model.to(dtype)
    randomise(model)
    x = variant.encode(digits)
    output = first_output(model(x.to(dtype) if x.is_floating_point() else x))
    weight = torch.randn(output.shape, generator=torch.Generator().manual_seed(3), dtype=dtype)
    grads = torch.autograd.grad((output * weight).sum(), list(params.values()), allow_unused=True)
    return output.detach(), dict(zip(params, grads)), weight


def compare(kind, params, x, student, dtype):
    """For every orientation the shapes fit: ``(flipped, weights, same output, largest output error,
    {name: gradient error})``; x is the reference's ``(B, T, D)`` input."""
    output, grads, weight = student
    results = []
    for flipped in (False, True):
        W = oriented({n: p.detach().clone().requires_grad_() for n, p in params.items()}, flipped, x.shape[-1])
        if W is None:
            continue
        reference = builtin_logits(kind, W, x)
        reference_grads = torch.autograd.grad((reference * weight).sum(), [W[n] for n in params])
        errors = {}
        for (name, parameter), ref in zip(params.items(), reference_grads):
            ref = (ref.t() if flipped and ref.dim() == 2 else ref).reshape(parameter.shape)
            close = grads[name] is not None and torch.allclose(grads[name], ref, **TOLERANCE[dtype])
            errors[name] = 0.0 if close else float("inf") if grads[name] is None else \
                (grads[name] - ref).abs().max().item()
        results.append((flipped, W, torch.allclose(output, reference.detach(), **TOLERANCE[dtype]),
                        (output - reference.detach()).abs().max().item(), errors))
    return results


def diagnose(kind, results, x, output, dtype) -> str:
    for flipped, W, *_ in results:
        W = {n: t.detach() for n, t in W.items()}
        for mistake, words in MISTAKES[kind].items():
            if torch.allclose(output, equations(kind, W, x, mistake), **TOLERANCE[dtype]):
                return f"they match the equations with {words}"
    return "compare the forward with the assignment's equations term by term"


def check_parity(ctx) -> str:
    variant, model = first_variant(ctx.kind)
    params = assignment_parameters(model, ctx.kind)
    builtin = "nn.RNN" if ctx.kind == "rnn" else "nn.LSTM"
    digits, dtype, note = sample_digits(seed=2), torch.float64, ""
    try:
        student = run_student(model, params, variant, digits, dtype)
    except Exception as exc:  # typically a float32 tensor made inside forward: retry in float32
        dtype, note = torch.float32, f" (in float32: in float64 the forward raised {describe(exc)})"
        student = run_student(model, params, variant, digits, dtype)
    x = reference_input(digits, variant.input_dim, dtype)
    results = compare(ctx.kind, params, x, student, dtype)
    if not results:
        shapes = ", ".join(f"{n} {tuple(p.shape)}" for n, p in params.items())
        raise CheckFailed(f"the parameter shapes fit neither (out, in) nor (in, out) with D={variant.input_dim}, "
                          f"H={HIDDEN}, C={NUM_CLASSES}: {shapes}")
    for flipped, _, same_output, _, errors in results:
        if same_output and not any(errors.values()):
            return f"outputs and gradients equal {builtin}'s, weights stored {ORIENTATIONS[flipped]}{note}"
    for flipped, _, same_output, _, errors in results:
        if same_output:
            wrong = ", ".join(f"{n} ({e:.2g})" for n, e in errors.items() if e)
            raise CheckFailed(f"the outputs equal {builtin}'s but the gradients of {wrong} differ "
                              f"(a hand-written backward, or a detach() in the recurrence?){note}")
    error = min(r[3] for r in results)
    raise CheckFailed(f"the outputs differ from {builtin}'s by up to {error:.3g} (weights tried as "
                      f"{' and '.join(ORIENTATIONS[r[0]] for r in results)}); "
                      f"{diagnose(ctx.kind, results, x, student[0], dtype)}{note}")
