"""The rubric: points per check from a TOML file a TA can edit, and the selection of checks to run."""
from __future__ import annotations

import math
import tomllib
from fnmatch import fnmatchcase
from dataclasses import dataclass
from pathlib import Path

from grading import GradingError
from grading.registry import BY_NAME, CHECKS, PARTS, Check

DEFAULT_RUBRIC = Path(__file__).with_name("rubric.toml")


def _read(path: Path) -> dict:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise GradingError(f"rubric file '{path}' does not exist") from None
    except IsADirectoryError:
        raise GradingError(f"rubric '{path}' is a directory; pass a .toml file") from None
    except OSError as exc:
        raise GradingError(f"cannot read rubric '{path}': {exc.strerror or exc}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise GradingError(f"rubric '{path}' is not valid TOML: {exc}") from None


def load_rubric(path: Path = DEFAULT_RUBRIC) -> dict[str, float]:
    """``{check name: points}`` for every check, from the ``[points]`` table of ``path``."""
    points = _read(path).get("points")
    if not isinstance(points, dict):
        raise GradingError(f"rubric '{path}' has no [points] table")
    unknown = sorted(set(points) - set(BY_NAME))
    missing = [check.name for check in CHECKS if check.name not in points]
    if unknown:
        raise GradingError(f"rubric '{path}' names unknown checks: {', '.join(unknown)} "
                           f"(the checks are {', '.join(BY_NAME)})")
    if missing:
        raise GradingError(f"rubric '{path}' lacks points for {', '.join(missing)} (give 0 to not count a check)")
    bad = [name for name, value in points.items()
           if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < math.inf]
    if bad:
        raise GradingError(f"rubric '{path}': points must be numbers >= 0, not for {', '.join(bad)}")
    return {check.name: points[check.name] for check in CHECKS}


def select_checks(only: str) -> list[Check]:
    """The checks named by ``only``: ``all``, or a comma-separated list of check names, parts
    (``part1``, ``part2``) and patterns (``lstm_*``), in the registry's order."""
    if only.strip() == "all":
        return list(CHECKS)
    chosen = set()
    for item in filter(None, (word.strip() for word in only.split(","))):
        matches = {c.name for c in CHECKS if c.part == item or fnmatchcase(c.name, item)}
        if not matches:
            raise GradingError(f"--only: '{item}' matches no check (use all, {', '.join(PARTS)}, "
                               f"a name such as rnn_parity, or a pattern such as 'lstm_*')")
        chosen |= matches
    if not chosen:
        raise GradingError("--only: no checks given")
    return [check for check in CHECKS if check.name in chosen]


VISIBILITIES = ("visible", "hidden", "after_due_date", "after_published")


@dataclass(frozen=True)
class Question:
    """One of the assignment's questions: its points, the share the checks fill and which checks."""
    key: str
    points: float
    code: float = 0.0
    checks: tuple[str, ...] = ()
    bonus: bool = False

    @property
    def written(self) -> float:
        """The TA's share: what the checks do not fill."""
        return self.points - self.code


def _number(value, what: str, path: Path) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < math.inf:
        raise GradingError(f"rubric '{path}': {what} must be a number >= 0")
    return float(value)


def load_questions(path: Path = DEFAULT_RUBRIC) -> list[Question]:
    """The ``[questions]`` table: every check in exactly one question, ``code <= points``."""
    table = _read(path).get("questions")
    if not isinstance(table, dict) or not table:
        raise GradingError(f"rubric '{path}' has no [questions] table")
    questions, owner = [], {}
    for key, entry in table.items():
        if not isinstance(entry, dict):
            raise GradingError(f"rubric '{path}': question {key} must be a table such as {{ points = 10 }}")
        unknown = sorted(set(entry) - {"points", "code", "checks", "bonus"})
        if unknown:
            raise GradingError(f"rubric '{path}': question {key} has unknown keys {', '.join(unknown)} "
                               "(points, code, checks, bonus)")
        points = _number(entry.get("points"), f"question {key}'s points", path)
        code = _number(entry.get("code", 0), f"question {key}'s code share", path)
        if code > points:
            raise GradingError(f"rubric '{path}': question {key}'s code share {code:g} exceeds its {points:g} points")
        names = []
        for pattern in entry.get("checks", []):
            matches = [c.name for c in CHECKS if fnmatchcase(c.name, str(pattern))]
            if not matches:
                raise GradingError(f"rubric '{path}': question {key} names '{pattern}', which matches no check")
            names += [n for n in matches if n not in names]
        if code and not names:
            raise GradingError(f"rubric '{path}': question {key} has a code share but no checks")
        for name in names:
            if name in owner:
                raise GradingError(f"rubric '{path}': check {name} is in questions {owner[name]} and {key}; "
                                   "each check fills one question")
            owner[name] = key
        questions.append(Question(str(key), points, code, tuple(names), bool(entry.get("bonus", False))))
    orphans = [c.name for c in CHECKS if c.name not in owner]
    if orphans:
        raise GradingError(f"rubric '{path}': checks in no question: {', '.join(orphans)}")
    return questions


def load_visibility(path: Path = DEFAULT_RUBRIC) -> dict[str, str]:
    """``{check name: Gradescope visibility}`` from the ``[visibility]`` table (names or patterns)."""
    table = _read(path).get("visibility", {})
    default = table.get("default", "visible")
    for name, value in table.items():
        if value not in VISIBILITIES:
            raise GradingError(f"rubric '{path}': visibility of {name} is '{value}'; use one of {', '.join(VISIBILITIES)}")
    chosen = {check.name: default for check in CHECKS}
    for pattern, value in table.items():
        if pattern == "default":
            continue
        matches = [c.name for c in CHECKS if fnmatchcase(c.name, pattern)]
        if not matches:
            raise GradingError(f"rubric '{path}': [visibility] names '{pattern}', which matches no check")
        chosen.update(dict.fromkeys(matches, value))
    return chosen
