"""How a student's part-1 parameters map onto the assignment's ``W_hx W_hh b_h W_ph b_p`` (RNN) or
``W_gx W_gh ... b_o W_ph b_p`` (LSTM), each in the (out, in) layout of the equations.

A :class:`Candidate` builds those tensors from the student's parameters with differentiable
operations (transposes, slices, sums), so the reference's gradients come out in the student's own
shapes. The candidates, tried in this order:

* by the assignment's names: the last part of a dotted name counts, case and underscores are
  ignored and so is the order of the two letters after ``W`` (``W_xh`` is ``W_hx``); each matrix
  stored (out, in) as in the equations or (in, out), as its shape tells (a square one, which its
  shape cannot tell, is tried both ways: ``h @ W_hh`` beside ``x @ W_hx.T`` is common); a readout
  named otherwise (``W_out``, ``b_y``) is the one parameter left of its shape;
* else by shape, for parameters named otherwise: the gates fused in one ``(4H, D)`` and one
  ``(4H, H)`` matrix, or in one ``(4H, D + H)`` matrix on ``[x, h]`` or ``[h, x]``; a ParameterList
  counts as its pieces stacked; one bias per gate, or two summed (as ``nn.LSTMCell`` keeps); every
  gate order is tried, and each matrix as stored or transposed, as its place needs.

Either way a learnable initial state (``h_init``, ``h0``, ``c_0``: a vector of H numbers named like
one) becomes the reference's h(0) (and c(0)), so its gradient is compared too.
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
# h_init, h0, c_0, init_hidden, h_start, hidden_state, cell: a learnt initial state, by its name
STATE_NAME = re.compile(r"init|start|first|zero|^(h|c|s|hx|cx|hidden|cell|state|memory)(_?state)?_?0?$", re.IGNORECASE)


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


def initial_states(kind: str, params: dict, H: int) -> list[str]:
    """The student's learnable initial states (``h_init``, ``h0``, ``c_0``, ``init_hidden``): vectors
    of H numbers named like one and not like the assignment's parameters; one for the RNN, up to two
    (h and c) for the LSTM."""
    assigned = set(by_name(kind, params).values())
    states = [name for name, p in params.items() if name not in assigned and p.numel() == H
              and max(p.shape, default=1) == H and STATE_NAME.search(name.rsplit(".", 1)[-1])]
    return states if len(states) <= (1 if kind == "rnn" else 2) else []


def _state_roles(kind: str, states: list[str]) -> list[dict]:
    """``[{"h0": name, "c0": name}, ...]``: the ways the initial states may be h(0) and c(0), the one
    their names suggest first."""
    if kind == "rnn":
        return [{"h0": states[0]}]
    roles = [dict(zip(order, states)) for order in (("h0", "c0"), ("c0", "h0"))]
    guess = [re.sub(r"init(ial)?|start|[_0]", "", n.rsplit(".", 1)[-1].lower())[:1] for n in states]
    return sorted(roles, key=lambda r: sum(guess[states.index(n)] != role[0] for role, n in r.items()))


def with_initial_states(kind: str, candidates: list[Candidate], states: list[str]) -> list[Candidate]:
    """Each candidate also mapping the learnable initial states onto the reference's h(0) (and c(0))."""
    if not states:
        return candidates
    result = []
    for roles in _state_roles(kind, states):
        note = "; " + ", ".join(f"the learnable {roles[role]} as {role[0]}(0)"
                                for role in ("h0", "c0") if role in roles)
        for candidate in candidates:
            def build(P, candidate=candidate, roles=roles):
                return {**candidate.build(P), **{role: P[name].reshape(-1) for role, name in roles.items()}}
            result.append(Candidate(candidate.label + note, build))
    return result


def _orientations(tensor: torch.Tensor, wanted: tuple) -> list[bool]:
    """Whether ``tensor`` is the wanted (out, in) matrix as stored (False) or transposed (True): by
    shape, both for a square matrix; a vector only as it is."""
    if len(wanted) == 1 or tensor.dim() != 2:
        return [False] if _fits(tensor.shape, wanted) else []
    return [t for t in (False, True) if tuple((tensor.t() if t else tensor).shape) == wanted]


def _orientation_label(transposed: dict, found: dict, square: list) -> str:
    """``weights stored (out, in) as in the equations`` with the matrices stored otherwise named
    (``the square ones`` when they are exactly those)."""
    usual = sum(transposed.values()) * 2 > len(transposed)
    others = [name for name, t in transposed.items() if t != usual]
    label = f"weights stored {ORIENTATIONS[usual]}"
    if not others:
        return label
    which = "the square ones" if sorted(others) == sorted(square) else ", ".join(found[n] for n in others)
    return f"{label}, {which} {ORIENTATIONS[not usual]}"


def _readout_by_shape(kind: str, params: dict, sizes: tuple) -> dict:
    """``W_ph`` and ``b_p`` under other names (``W_out``, ``b_y``) beside the cell's named as in the
    assignment: the one parameter left of each shape."""
    found = by_name(kind, params)
    if set(NAMES[kind]) - set(found) - {"W_ph", "b_p"}:
        return {}
    D, H, C = sizes
    left = {n: p for n, p in params.items() if n not in found.values() and n not in initial_states(kind, params, H)}
    fits = {"W_ph": [n for n, p in left.items() if tuple(p.shape) in ((C, H), (H, C))],
            "b_p": [n for n, p in left.items() if p.numel() == C and max(p.shape, default=1) == C]}
    return {name: fits[name][0] for name in ("W_ph", "b_p") if name not in found and len(fits[name]) == 1}


def named_candidates(kind: str, params: dict, sizes: tuple) -> list[Candidate]:
    """By the assignment's names; each matrix stored (out, in) or (in, out), which its shape tells
    except for a square one (``h @ W_hh`` beside ``x @ W_hx.T``): those are tried alike, then in
    every combination."""
    readout = _readout_by_shape(kind, params, sizes)
    found = {**by_name(kind, params), **readout}
    if len(found) < len(NAMES[kind]):
        return []
    by_shape = f"; {', '.join(f'{source} = {name}' for name, source in readout.items())} by shape" if readout else ""
    shapes = {name: target_shape(name, *sizes) for name in found}
    options = {name: _orientations(params[source], shapes[name]) for name, source in found.items()}
    if not all(options.values()):
        return []
    matrices = [name for name in found if len(shapes[name]) == 2]
    fixed = {name: options[name][0] for name in matrices if len(options[name]) == 1}
    square = [name for name in matrices if len(options[name]) == 2]
    usual = sum(fixed.values()) * 2 > len(fixed)
    combos = [(usual,) * len(square), (not usual,) * len(square), *itertools.product((False, True), repeat=len(square))]
    candidates = []
    for combo in dict.fromkeys(combos):
        transposed = {**fixed, **dict(zip(square, combo))}

        def build(P, transposed=transposed):
            return {name: (P[source].t() if transposed.get(name) else P[source]).reshape(shapes[name])
                    for name, source in found.items()}
        candidates.append(Candidate(_orientation_label(transposed, found, square) + by_shape, build))
    return with_initial_states(kind, candidates, initial_states(kind, params, sizes[1]))


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


def _piece(P: dict, names: list[str], transposed: bool) -> torch.Tensor:
    parts = [P[name].t() if transposed and P[name].dim() == 2 else P[name] for name in names]
    return parts[0] if len(parts) == 1 else torch.cat(parts)


def _slots(kind: str, layout: str, D: int, H: int, C: int) -> list[tuple[str, tuple]]:
    G = 1 if kind == "rnn" else 4
    cell = [("Wx", (G * H, D)), ("Wh", (G * H, H))] if layout == "separate" else [("Wxh", (G * H, D + H))]
    return [*cell, ("b", (G * H,)), ("Wp", (C, H)), ("bp", (C,))]


def _assign(slots: list, shapes: list, used: frozenset = frozenset()):
    """Every way to give each slot fitting pieces, each as stored or transposed (``shapes[i]`` maps
    the two to the piece's shape); the cell bias one or two pieces, summed; all pieces used."""
    if not slots:
        if len(used) == len(shapes):
            yield {}
        return
    (slot, wanted), rest = slots[0], slots[1:]
    if len(wanted) == 1:
        fitting = [(i, False) for i, shape in enumerate(shapes) if i not in used and _fits(shape[False], wanted)]
    else:
        fitting = [(i, t) for i, shape in enumerate(shapes) for t in (False, True)
                   if i not in used and t in shape and _fits(shape[t], wanted)]
    choices = [(f,) for f in fitting] + (list(itertools.combinations(fitting, 2)) if slot == "b" else [])
    for choice in choices:
        for tail in _assign(rest, shapes, used | {i for i, _ in choice}):
            yield {slot: choice, **tail}


def _shape_build(kind, groups, choice, layout, order, sizes):
    D, H, C = sizes

    def build(P):
        def get(slot, vector=False):
            parts = [_piece(P, groups[i], transposed) for i, transposed in choice[slot]]
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
    """By shape; each matrix as stored or transposed, whichever fits its place (a square one both
    ways), the assignments with every matrix stored alike first."""
    states = initial_states(kind, params, sizes[1])
    params = {name: p for name, p in params.items() if name not in states}
    groups = pieces(params)
    shapes = [{t: tuple(_piece(params, names, t).shape) for t in ((False, True) if params[names[0]].dim() == 2
                                                                   else (False,))} for names in groups]
    orders = ["h"] if kind == "rnn" else ["".join(p) for p in itertools.permutations(GATES)]
    found = []
    for layout in CELL_LAYOUTS:
        found += [(layout, c) for c in itertools.islice(_assign(_slots(kind, layout, *sizes), shapes), MAX_CANDIDATES)]

    def mixed(item) -> int:  # how many matrices are stored unlike the others
        flags = [t for slot, choice in item[1].items() if slot not in ("b", "bp") for _, t in choice]
        return min(flags.count(True), flags.count(False))

    candidates = []
    for layout, choice in sorted(found, key=mixed):
        roles = {**ROLES, "Wxh": f"the weights on {layout}"}
        used = ", ".join(f"{'+'.join(_label(groups[i]) for i, _ in choice[slot])} = {roles[slot]}" for slot in choice)
        matrices = [(i, t) for slot in choice if slot not in ("b", "bp") for i, t in choice[slot]]
        transposed = {_label(groups[i]): t for i, t in matrices}
        square = [_label(groups[i]) for i, _ in matrices if shapes[i][False] == shapes[i].get(True)]
        storage = _orientation_label(transposed, {n: n for n in transposed}, square)
        for order in orders:
            gates = "" if kind == "rnn" else f"; gates in the order {', '.join(order)}"
            label = f"parameters matched by shape ({used}{gates}), {storage}"
            candidates.append(Candidate(label, _shape_build(kind, groups, choice, layout, order, sizes)))
    return with_initial_states(kind, candidates[:MAX_CANDIDATES], states)
