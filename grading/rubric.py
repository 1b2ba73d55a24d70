"""The rubric: points per check from a TOML file a TA can edit, and the selection of checks to run."""
from __future__ import annotations

import math
import tomllib
from fnmatch import fnmatchcase
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
