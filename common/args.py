"""argparse helpers: ``type=`` checks, so an impossible flag value is rejected by argparse with one
line, and the flags of a resumed run (:func:`given_flags`, :func:`merge_resumed_args`)."""
from __future__ import annotations

import argparse

from common.runtime import UserError


def _number(kind, text: str):
    try:
        return kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a valid {kind.__name__}") from None


def positive_int(text: str) -> int:
    """An integer >= 1 (sizes, steps, lengths)."""
    value = _number(int, text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    return value


def nonnegative_int(text: str) -> int:
    """An integer >= 0 (seeds, optional intervals where 0 means never)."""
    value = _number(int, text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def positive_float(text: str) -> float:
    """A finite float > 0 (learning rates, norms, temperatures)."""
    value = _number(float, text)
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def nonnegative_float(text: str) -> float:
    """A finite float >= 0 (weight decay, penalties)."""
    value = _number(float, text)
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a number >= 0, got {text}")
    return value


def unit_interval(text: str) -> float:
    """A float in (0, 1] (keep probabilities, decay factors)."""
    value = _number(float, text)
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"must be in (0, 1], got {text}")
    return value


def drop_probability(text: str) -> float:
    """A float in [0, 1) (dropout probabilities; 0 switches the dropout off)."""
    value = _number(float, text)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must be in [0, 1), got {text}")
    return value


def open_unit_interval(text: str) -> float:
    """A float in (0, 1) (fractions such as the validation share)."""
    value = _number(float, text)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"must be strictly between 0 and 1, got {text}")
    return value


def make_parser(description: str) -> argparse.ArgumentParser:
    """The parser every script starts from: ``--help`` shows each flag's default."""
    return argparse.ArgumentParser(description=description,
                                   formatter_class=argparse.ArgumentDefaultsHelpFormatter)


def given_flags(parser: argparse.ArgumentParser, argv) -> set:
    """Destinations of the options written in ``argv`` (abbreviated or ``--flag=value`` included).

    Parsing once more into a namespace that already holds a marker for every destination keeps
    argparse from filling in defaults, so whatever no longer holds the marker was given.
    """
    argv = list(argv)
    marker = object()
    probe = argparse.Namespace(**{key: marker for key in vars(parser.parse_args(argv))})
    parser.parse_args(argv, namespace=probe)
    return {key for key, value in vars(probe).items() if value is not marker}


def merge_resumed_args(args: argparse.Namespace, saved: dict, given: set, overridable,
                       current=()) -> None:
    """Take the flags that define a resumed run from its checkpoint's ``saved`` argument dict.

    A flag in ``overridable`` keeps its value when given on the command line (and is taken from the
    checkpoint otherwise); a flag in ``current`` always keeps the command line's value; any other
    flag given with a value other than the saved one is a one-line :class:`UserError`.
    """
    for key, value in saved.items():
        if key in current or (key in overridable and key in given):
            continue
        if key in given and getattr(args, key, value) != value:
            raise UserError(f"--{key} {getattr(args, key)} differs from the resumed checkpoint's "
                            f"{value}; drop the flag or start a new run with --overwrite")
        setattr(args, key, value)
