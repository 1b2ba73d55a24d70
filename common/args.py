"""argparse helpers for the scripts beside the parts (reproduce.py, report/render.py)."""
from __future__ import annotations

import argparse


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


def make_parser(description: str) -> argparse.ArgumentParser:
    """The parser every script starts from: ``--help`` shows each flag's default."""
    return argparse.ArgumentParser(description=description,
                                   formatter_class=argparse.ArgumentDefaultsHelpFormatter)
