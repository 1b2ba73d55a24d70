"""Where a reproduction run keeps its outputs, and the small writers every collector shares.

A run writes into one folder ``out``: ``figures/`` (PNG), ``tables/`` (Markdown, some CSV) inlined by
``{{table:NAME}}``, ``values.json`` (numbers already formatted, keys ``piece.name``) inlined by
``{{value:KEY}}``, the rendered ``REPORT.md``, and ``.cache/<piece>/`` with the scripts' raw outputs.
"""
from __future__ import annotations

import math
import shutil
from dataclasses import dataclass
from pathlib import Path

from common.io import atomic_write_text, read_json, write_json

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Context:
    """One run: its output folder, mode and that mode's budgets (``report.pieces.MODES``)."""
    out: Path
    mode: str
    cfg: dict
    workers: int = 1
    txt_file: Path | None = None  # part 2's book when the user chose one; else the shipped book
    commit: str = "unknown"  # the code the pieces run in this invocation (``provenance.commit``)

    @property
    def figures(self) -> Path:
        return self.out / "figures"

    @property
    def tables(self) -> Path:
        return self.out / "tables"

    @property
    def values_path(self) -> Path:
        return self.out / "values.json"

    def cache(self, piece: str) -> Path:
        return self.out / ".cache" / piece


def need(path: Path) -> Path:
    """``path``, or a one-line error naming the script output that is missing."""
    if not path.exists():
        raise FileNotFoundError(f"expected output '{path}' is missing")
    return path


def put_figure(ctx: Context, source: Path, name: str) -> None:
    shutil.copyfile(need(source), ctx.figures / name)


def put_file(ctx: Context, source: Path, name: str) -> None:
    """Copy a script's table file (CSV) as it is into ``tables/``."""
    shutil.copyfile(need(source), ctx.tables / name)


def put_table(ctx: Context, name: str, text: str) -> None:
    atomic_write_text(ctx.tables / name, text)


def load_values(ctx: Context) -> dict:
    return read_json(ctx.values_path) if ctx.values_path.exists() else {}


def put_values(ctx: Context, values: dict) -> None:
    """Merge ``values`` (keys ``piece.name``, values formatted strings) into values.json."""
    stored = load_values(ctx)
    stored.update(values)
    write_json(ctx.values_path, dict(sorted(stored.items())))


def fixed(x, digits: int, bounds=(0.0, 1.0)) -> str:
    """``x`` with ``digits`` decimals, and more (up to six) where rounding would print a bound it
    does not reach: 0.99995 is "0.99995", never "1.000", and 0.00004 never "0.000"."""
    x = float(x)
    text = f"{x:.{digits}f}"
    while digits < 6 and x not in bounds and any(float(text) == b for b in bounds):
        digits += 1
        text = f"{x:.{digits}f}"
    if x not in bounds and any(float(text) == b for b in bounds):  # still a bound: step inwards
        step = 10.0 ** -digits
        text = f"{float(text) + (step if x > float(text) else -step):.{digits}f}"
    return text


def pct(x) -> str:
    """A fraction as a percentage with one decimal; never 100.0 % below 1, never 0.0 % above 0."""
    return fixed(100 * float(x), 1, bounds=(0.0, 100.0)) + "%"


def pct_floor(x, places: int = 2) -> str:
    """A fraction as a percentage rounded DOWN, for a lower bound ("at least"): 0.99995 prints as
    99.99%, never 100.00%."""
    return _pct_rounded(math.floor, float(x) * 100 * 10 ** places + 1e-6, places)


def pct_ceil(x, places: int = 2) -> str:
    """A fraction as a percentage rounded UP, for an upper bound ("no more than")."""
    return _pct_rounded(math.ceil, float(x) * 100 * 10 ** places - 1e-6, places)


def _pct_rounded(rounding, scaled: float, places: int) -> str:
    return f"{rounding(scaled) / 10 ** places:.{places}f}%"


def plural(n: int, word: str, many: str | None = None) -> str:
    """``n`` and the noun in agreement: "1 seed", "3 seeds", "1,000 palindromes" (``many`` for
    irregular plurals)."""
    return f"{n:,} {word if n == 1 else many or word + 's'}"


def join_words(items) -> str:
    """"A", "A and B", "A, B and C"."""
    items = [str(i) for i in items]
    return " and ".join(items) if len(items) < 3 else ", ".join(items[:-1]) + " and " + items[-1]


def code_cell(text: str) -> str:
    """Generated text as a Markdown code span that survives a table cell."""
    text = text.replace("\\n", "\n").replace("\n", "↵").replace("`", "'").replace("|", "\\|")
    return f"`{text}`" if text.strip() else "(empty)"


def pyplot():
    """matplotlib.pyplot on the Agg backend (no display needed), imported only when a piece draws."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def savefig(fig, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    pyplot().close(fig)
