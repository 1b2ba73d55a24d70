"""Identical code across submissions, for the TA to look at (never a verdict).

Two Python files count as identical when they are equal after comments, docstrings, blank lines and
all whitespace are removed, and after the lines of the course skeleton are dropped (everyone starts
from them). The skeleton itself is not shipped: ``skeleton_lines.txt`` holds a short hash of each of
its normalised lines (:func:`skeleton_hashes` wrote it from the course's ``assignment_2/`` folder).
Files with fewer than :data:`MIN_LINES` lines of their own left are not compared.
"""
from __future__ import annotations

import ast
import csv
import hashlib
import io
import itertools
import tokenize
from pathlib import Path

from grading.intake import walk
from grading.report import atomic_write

SKELETON = Path(__file__).with_name("skeleton_lines.txt")
MIN_LINES = 8
PAIRS_NAME = "identical_code.csv"


def line_hash(line: str) -> str:
    return hashlib.sha256(line.encode()).hexdigest()[:12]


def _docstring_lines(source: str) -> set[int]:
    """Line numbers of strings that stand alone as statements (docstrings and the like)."""
    lines = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            lines.update(range(node.lineno, node.end_lineno + 1))
    return lines


def normalised_lines(source: str) -> list[str]:
    """The code's lines without comments, docstrings and whitespace; blank ones dropped."""
    try:
        skip = _docstring_lines(source)
        tokens = [t for t in tokenize.generate_tokens(io.StringIO(source).readline)
                  if t.type not in (tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT,
                                    tokenize.DEDENT, tokenize.ENDMARKER) and t.start[0] not in skip]
    except (SyntaxError, tokenize.TokenError, ValueError):  # not Python that parses: compare its text
        return [line for line in ("".join(raw.split("#")[0].split()) for raw in source.splitlines()) if line]
    lines: dict[int, str] = {}
    for token in tokens:
        lines[token.start[0]] = lines.get(token.start[0], "") + "".join(token.string.split())
    return [text for _, text in sorted(lines.items()) if text]


def skeleton_hashes(folder: Path) -> set[str]:
    """The hashes of the normalised lines of every ``.py`` file under ``folder`` (the skeleton)."""
    return {line_hash(line) for path in sorted(folder.rglob("*.py"))
            for line in normalised_lines(path.read_text(encoding="utf-8", errors="replace"))}


def known_skeleton() -> set[str]:
    return set(SKELETON.read_text(encoding="ascii").split()) if SKELETON.exists() else set()


def own_code(path: Path, skeleton: set[str]) -> list[str]:
    source = path.read_text(encoding="utf-8", errors="replace")
    return [line for line in normalised_lines(source) if line_hash(line) not in skeleton]


def python_files(root: Path) -> list[Path]:
    return [Path(folder, n) for folder, _, names in walk(root) for n in sorted(names) if n.endswith(".py")]


def identical_pairs(roots: dict[str, Path]) -> list[dict]:
    """``{a, file_a, b, file_b, lines}`` for every pair of files of two different submissions
    (``{name: folder}``) with the same code of their own."""
    skeleton, by_digest = known_skeleton(), {}
    for name, root in roots.items():
        for path in python_files(root):
            try:
                lines = own_code(path, skeleton)
            except OSError:
                continue
            if len(lines) >= MIN_LINES:
                digest = hashlib.sha256("\n".join(lines).encode()).hexdigest()
                by_digest.setdefault(digest, []).append((name, str(path.relative_to(root)), len(lines)))
    pairs = []
    for files in by_digest.values():
        for (a, file_a, n), (b, file_b, _) in itertools.combinations(sorted(files), 2):
            if a != b:
                pairs.append({"a": a, "file_a": file_a, "b": b, "file_b": file_b, "lines": n})
    return sorted(pairs, key=lambda p: (p["a"], p["b"], p["file_a"]))


def write_pairs(pairs: list[dict], path: Path) -> None:
    def write(handle) -> None:
        writer = csv.DictWriter(handle, ["a", "file_a", "b", "file_b", "lines"])
        writer.writeheader()
        writer.writerows(pairs)
    atomic_write(path, write)


def per_submission(pairs: list[dict]) -> dict[str, list[str]]:
    """``{submission: ["bob: part1/lstm.py = part1/lstm.py (40 lines)", ...]}`` for the CSV."""
    found: dict[str, list[str]] = {}
    for p in pairs:
        found.setdefault(p["a"], []).append(f"{p['b']}: {p['file_a']} = {p['file_b']} ({p['lines']} lines)")
        found.setdefault(p["b"], []).append(f"{p['a']}: {p['file_b']} = {p['file_a']} ({p['lines']} lines)")
    return found


if __name__ == "__main__":  # python -m grading.similarity SKELETON_DIR: rewrite skeleton_lines.txt
    import sys
    SKELETON.write_text("\n".join(sorted(skeleton_hashes(Path(sys.argv[1])))) + "\n", encoding="ascii")
