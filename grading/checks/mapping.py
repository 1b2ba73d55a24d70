"""How a student's part-1 parameters map onto the assignment's ``W_hx W_hh b_h W_ph b_p`` (RNN) or
``W_gx W_gh ... b_o W_ph b_p`` (LSTM), each in the (out, in) layout of the equations.

A :class:`Candidate` builds those tensors from the student's parameters with differentiable
operations (transposes, slices, sums), so the reference's gradients come out in the student's own
shapes. The candidates, tried in this order:

* by the assignment's names: the last part of a dotted name counts, case and underscores are
  ignored and so is the order of the two letters after ``W`` (``W_xh`` is ``W_hx``); matrices
  stored (out, in) as in the equations or (in, out);
* else by shape, for parameters named otherwise: the gates fused in one ``(4H, D)`` and one
  ``(4H, H)`` matrix, or in one ``(4H, D + H)`` matrix on ``[x, h]`` or ``[h, x]``; a ParameterList
  counts as its pieces stacked; one bias per gate, or two summed (as ``nn.LSTMCell`` keeps); every
  gate order and both storage orders are tried.
"""
from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from typing import Callable

import torch

GATES = "gifo"
NAMES = {
    "rnn": ("W_hx", "W_hh", "b_h", "W_ph", "b_p"),
    "lstm": (*(f"W_{g}{s}" for g in GATES for s in "xh"), *(f"b_{g}" for g in GATES), "W_ph", "b_p"),
}
ORIENTATIONS = ("(out, in) as in the equations", "(in, out)")
CELL_LAYOUTS = ("separate", "[x, h]", "[h, x]")  # input and recurrent matrices apart, or one on [x, h]
ROLES = {"Wx": "the input weights", "Wh": "the recurrent weights", "b": "the gate bias", "Wp": "W_ph", "bp": "b_p"}
MAX_CANDIDATES = 400


@dataclass(frozen=True)
class Candidate:
    label: str                      # how the parameters were matched, for the report
    build: Callable[[dict], dict]   # the student's tensors by name -> the assignment's, (out, in)


def target_shape(name: str, D: int, H: int, C: int) -> tuple:
    if name.startswith("b_"):
        return (C,) if name == "b_p" else (H,)
    if name == "W_ph":
        return C, H
    return (H, D) if name.endswith("x") else (H, H)


def _orient(tensor: torch.Tensor, storage: tuple[bool, bool]) -> torch.Tensor:
    """The tensor as (out, in) under ``storage``: whether the matrices, and the square ones (W_hh,
    which a student may use the other way round from the rest), are stored (in, out)."""
    if tensor.dim() != 2:
        return tensor
    return tensor.t() if storage[tensor.shape[0] == tensor.shape[1]] else tensor


def storages(params: dict) -> list[tuple[bool, bool]]:
    """The storage orders to try: both alike first; mixed ones only when there is a square matrix."""
    square = any(p.dim() == 2 and p.shape[0] == p.shape[1] for p in params.values())
    return [(False, False), (True, True)] + ([(False, True), (True, False)] if square else [])


def storage_label(storage: tuple[bool, bool]) -> str:
    label = f"weights stored {ORIENTATIONS[storage[0]]}"
    return label if storage[0] == storage[1] else f"{label}, the square ones {ORIENTATIONS[storage[1]]}"


def _fits(shape: tuple, wanted: tuple) -> bool:
    """A matrix must have the wanted shape; a vector may also be a (n, 1) or (1, n) matrix."""
    if len(wanted) == 2:
        return tuple(shape) == wanted
    return len(shape) <= 2 and (len(shape) < 2 or 1 in shape) and torch.Size(shape).numel() == wanted[0]


def _keys(name: str) -> list[str]:
    """``W_hx`` -> ``["whx", "wxh"]``: the spellings a student's name may have."""
    short = re.sub(r"[^a-z0-9]", "", name.lower())
    return [short, short[0] + short[:0:-1]] if short.startswith("w") and len(short) == 3 else [short]


def by_name(kind: str, params: dict) -> dict:
    """``{assignment name: student's parameter name}`` for the names found."""
    short = {}
    for name in params:
        short.setdefault(_keys(name.rsplit(".", 1)[-1])[0], name)
    found = {}
    for name in NAMES[kind]:
        match = next((short[key] for key in _keys(name) if key in short), None)
        if match is not None:
            found[name] = match
    return found


def named_candidates(kind: str, params: dict, sizes: tuple) -> list[Candidate]:
    found = by_name(kind, params)
    if len(found) < len(NAMES[kind]):
        return []
    shapes = {name: target_shape(name, *sizes) for name in found}
    candidates = []
    for storage in storages(params):
        if all(_fits(_orient(params[source], storage).shape, shapes[name]) for name, source in found.items()):
            def build(P, storage=storage):
                return {name: _orient(P[source], storage).reshape(shapes[name]) for name, source in found.items()}
            candidates.append(Candidate(storage_label(storage), build))
    return candidates


def pieces(params: dict) -> list[list[str]]:
    """The parameters as pieces: one name each, or the names of a ParameterList of equal shapes
    (``Wx.0``, ``Wx.1``, ...) in index order."""
    groups: dict[str, list[str]] = {}
    for name in params:
        match = re.fullmatch(r"(.+)\.(\d+)", name)
        groups.setdefault(match[1] if match else name, []).append(name)
    result = []
    for names in groups.values():
        names = sorted(names, key=lambda n: int(n.rsplit(".", 1)[1])) if len(names) > 1 else names
        alike = len({tuple(params[n].shape) for n in names}) == 1
        result += [names] if alike else [[n] for n in names]
    return result


def _label(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{names[0].rsplit('.', 1)[0]}[0..{len(names) - 1}]"


def _piece(P: dict, names: list[str], storage: tuple[bool, bool]) -> torch.Tensor:
    parts = [_orient(P[name], storage) for name in names]
    return parts[0] if len(parts) == 1 else torch.cat(parts)


def _slots(kind: str, layout: str, D: int, H: int, C: int) -> list[tuple[str, tuple]]:
    G = 1 if kind == "rnn" else 4
    cell = [("Wx", (G * H, D)), ("Wh", (G * H, H))] if layout == "separate" else [("Wxh", (G * H, D + H))]
    return [*cell, ("b", (G * H,)), ("Wp", (C, H)), ("bp", (C,))]


def _assign(slots: list, shapes: list, used: frozenset = frozenset()):
    """Every way to give each slot fitting pieces (the cell bias one or two, summed), all pieces used."""
    if not slots:
        if len(used) == len(shapes):
            yield {}
        return
    (slot, wanted), rest = slots[0], slots[1:]
    fitting = [i for i, shape in enumerate(shapes) if i not in used and _fits(shape, wanted)]
    choices = [(i,) for i in fitting] + (list(itertools.combinations(fitting, 2)) if slot == "b" else [])
    for choice in choices:
        for tail in _assign(rest, shapes, used | set(choice)):
            yield {slot: choice, **tail}


def _shape_build(kind, groups, choice, layout, order, storage, sizes):
    D, H, C = sizes

    def build(P):
        def get(slot, vector=False):
            parts = [_piece(P, groups[i], storage) for i in choice[slot]]
            return sum(p.reshape(-1) for p in parts) if vector else parts[0]
        if layout == "separate":
            Wx, Wh = get("Wx"), get("Wh")
        else:
            Wxh = get("Wxh")
            Wx, Wh = (Wxh[:, :D], Wxh[:, D:]) if layout == "[x, h]" else (Wxh[:, H:], Wxh[:, :H])
        b, W = get("b", vector=True), {"W_ph": get("Wp"), "b_p": get("bp", vector=True)}
        for k, gate in enumerate(order):
            rows = slice(k * H, (k + 1) * H)
            W[f"W_{gate}x"], W[f"W_{gate}h"], W[f"b_{gate}"] = Wx[rows], Wh[rows], b[rows]
        return W
    return build


def shape_candidates(kind: str, params: dict, sizes: tuple) -> list[Candidate]:
    groups = pieces(params)
    orders = ["h"] if kind == "rnn" else ["".join(p) for p in itertools.permutations(GATES)]
    candidates = []
    for storage, layout in itertools.product(storages(params), CELL_LAYOUTS):
        shapes = [tuple(_piece(params, names, storage).shape) for names in groups]
        for choice in itertools.islice(_assign(_slots(kind, layout, *sizes), shapes), MAX_CANDIDATES):
            roles = {**ROLES, "Wxh": f"the weights on {layout}"}
            used = ", ".join(f"{'+'.join(_label(groups[i]) for i in choice[slot])} = {roles[slot]}" for slot in choice)
            for order in orders:
                gates = "" if kind == "rnn" else f"; gates in the order {', '.join(order)}"
                label = f"parameters matched by shape ({used}{gates}), {storage_label(storage)}"
                candidates.append(Candidate(label, _shape_build(kind, groups, choice, layout, order, storage, sizes)))
    return candidates[:MAX_CANDIDATES]
