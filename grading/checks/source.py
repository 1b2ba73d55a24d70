"""Part 1 asks for the recurrences written from their equations: no built-in recurrent or linear
layer. The source is read with ``ast`` (comments and docstrings cannot trigger it), import aliases
are resolved (``from torch import nn``, ``import torch.nn as tnn``, ``from torch.nn import LSTM as L``)
and the local modules the model file imports are read too; the built model's submodules are checked
as well.

Forbidden: the modules ``nn.RNN``, ``nn.LSTM``, ``nn.GRU``, their ``...Cell`` versions and base
classes, ``nn.Linear`` (with ``LazyLinear`` and ``Bilinear``), and the fused functions behind them
(``torch.lstm``, ``torch.lstm_cell``, ``torch.rnn_tanh``, ..., ``torch._VF.*``).
Allowed: ``torch.nn.functional.linear`` (``F.linear``): it is one affine map, exactly
``x @ W.T + b``, with parameters the student declared and named, and the equations stay visible.
"""
from __future__ import annotations

import ast
from pathlib import Path

from torch import nn

from .common import CheckFailed, describe
from .recurrent import CLASSES, build, model_class

FORBIDDEN_LAYERS = {"RNN", "LSTM", "GRU", "RNNCell", "LSTMCell", "GRUCell", "RNNBase", "RNNCellBase",
                    "Linear", "LazyLinear", "Bilinear"}
FORBIDDEN_FUNCTIONS = {"rnn_tanh", "rnn_relu", "lstm", "gru", "rnn_tanh_cell", "rnn_relu_cell",
                       "lstm_cell", "gru_cell"}
FORBIDDEN_TYPES = (nn.RNNBase, nn.RNNCellBase, nn.Linear, nn.Bilinear)


def forbidden(dotted: str) -> bool:
    """Whether a fully resolved name such as ``torch.nn.modules.rnn.LSTM`` is one of the forbidden."""
    parts = dotted.split(".")
    if parts[0] != "torch":
        return False
    if parts[1:2] == ["_VF"]:
        return len(parts) > 2
    if parts[1:2] == ["nn"]:
        return parts[-1] in FORBIDDEN_LAYERS and "functional" not in parts and "init" not in parts
    return len(parts) == 2 and parts[1] in FORBIDDEN_FUNCTIONS


def aliases(tree: ast.AST) -> dict[str, str]:
    """Local name -> what it stands for, from the module's imports (``nn`` -> ``torch.nn``)."""
    names = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                top = alias.name.split(".")[0]
                names[alias.asname or top] = alias.name if alias.asname else top
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                if alias.name == "*":  # a star import brings the forbidden names in bare
                    names.update({n: f"{node.module}.{n}" for n in FORBIDDEN_LAYERS | FORBIDDEN_FUNCTIONS})
                else:
                    names[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return names


def dotted_name(node: ast.AST) -> str | None:
    """``nn.modules.rnn.LSTM`` for an attribute chain on a plain name, else None."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    return ".".join([node.id, *reversed(parts)])


def forbidden_uses(tree: ast.AST) -> list[tuple[int, str]]:
    """``(line, name as written)`` for every reference to a forbidden name, aliases resolved."""
    names = aliases(tree)
    found = set()
    for node in ast.walk(tree):
        written = dotted_name(node)
        if written is None:
            continue
        head, _, rest = written.partition(".")
        if forbidden(".".join(filter(None, [names.get(head, head), rest]))):
            found.add((node.lineno, written))
    return sorted(found)


def uses(path: Path, root: Path) -> list[str]:
    """``part1/lstm.py:12 nn.LSTM`` for every forbidden name the file refers to."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    return [f"{path.relative_to(root)}:{line} {written}" for line, written in forbidden_uses(tree)]


def local_imports(path: Path, root: Path) -> set[Path]:
    """The submission's own files that ``path`` imports (``part1.bptt``, ``bptt``, ``.bptt``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    wanted = []  # (folder to search from, dotted module)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            wanted += [(base, a.name) for a in node.names for base in (root, path.parent)]
        elif isinstance(node, ast.ImportFrom):
            bases = [path.parents[node.level - 1]] if node.level else [root, path.parent]
            modules = [node.module] if node.module else []
            modules += [f"{node.module}.{a.name}" if node.module else a.name for a in node.names]
            wanted += [(base, module) for base in bases for module in modules]
    files = set()
    for base, module in wanted:
        stem = base.joinpath(*module.split("."))
        for candidate in (stem.with_suffix(".py"), stem / "__init__.py"):
            if candidate.is_file() and candidate.resolve().is_relative_to(root):
                files.add(candidate.resolve())
    return files


def scan(start: Path, root: Path) -> tuple[list[str], int]:
    """Forbidden uses in ``start`` and the local modules it imports, and how many files were read."""
    todo, seen, found = [start.resolve()], set(), []
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        found += uses(path, root)
        todo += sorted(local_imports(path, root) - seen)
    return found, len(seen)


def check_no_builtin(ctx) -> str:
    cls = model_class(ctx.kind)  # only a module that imports and builds can earn this check
    model = build(cls, 1)
    path = Path("part1") / f"{CLASSES[ctx.kind][0]}.py"
    try:
        found, files = scan(path, ctx.root.resolve())
    except (SyntaxError, UnicodeDecodeError) as exc:
        raise CheckFailed(f"cannot read the source: {describe(exc)}") from None
    found += [f"the model contains {type(m).__name__} ({name or 'itself'})" for name, m in model.named_modules()
              if isinstance(m, FORBIDDEN_TYPES)]
    if found:
        raise CheckFailed("part 1 asks for the equations written out, but found: " + "; ".join(found[:6]))
    others = f" and the {files - 1} local module(s) it imports" if files > 1 else ""
    return f"no built-in recurrent or linear layer in {path}{others} nor in the built model"
