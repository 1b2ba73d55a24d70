"""The grader's own palindromes (the data of the sanity check) and the check of the student's
``PalindromeDataset``.

Two conventions are in use and both are accepted: the skeleton's ``PalindromeDataset(n)`` builds
palindromes of ``n`` digits and returns the first ``n - 1`` as input, some students build ``n + 1``
digits and return ``n`` of them. Either way ``digits + [target]`` must read the same both ways.
"""
from __future__ import annotations

import torch

from .common import CheckFailed, construct, describe, item_pair, student_class

LENGTHS = (5, 8)       # an odd and an even length: the middle digit is handled differently
ITEMS = 40             # items inspected per length
MIN_DISTINCT = 5       # distinct targets expected among them: random palindromes, not one fixed


def reference_palindromes(n: int, T: int, generator: torch.Generator):
    """``n`` random palindromes of ``T + 1`` digits as inputs ``(n, T)`` int64 and targets ``(n,)``."""
    half = torch.randint(0, 10, (n, (T + 2) // 2), generator=generator)  # ceil((T + 1) / 2) digits
    full = torch.cat([half, half.flip(1)[:, (T + 1) % 2:]], dim=1)      # (n, T + 1)
    return full[:, :T], full[:, T]


def _digits(value, what: str) -> list[int]:
    """A digit sequence or a single digit (list, NumPy array or tensor, int or float) as ints; one-hot
    rows ``(T, 10)`` (the skeleton's comment suggests one-hot inputs) count as their digits."""
    try:
        array = torch.as_tensor(value).double()
    except Exception as exc:
        raise CheckFailed(f"{what} is a {type(value).__name__}, not numbers: {describe(exc)}") from None
    if array.dim() == 2 and array.shape[1] == 10 and ((array == 0) | (array == 1)).all() and (array.sum(1) == 1).all():
        array = array.argmax(1)
    flat = array.flatten()
    if not ((flat == flat.round()) & (flat >= 0) & (flat <= 9)).all():
        raise CheckFailed(f"{what} holds values other than the digits 0-9: {flat.tolist()[:12]}")
    return [int(v) for v in flat.tolist()]


def _items(dataset, seq_length: int) -> list[list[int]]:
    """The first items as full sequences ``digits + [target]``."""
    sequences = []
    for index in range(ITEMS):
        digits, target = item_pair(dataset, index, f"PalindromeDataset({seq_length})")
        target = _digits(target, f"the target of item {index}")
        if len(target) != 1:
            raise CheckFailed(f"the target of item {index} has {len(target)} values, expected one digit")
        sequences.append(_digits(digits, f"the input of item {index}") + target)
    return sequences


def check_palindromes(ctx) -> str:
    cls = student_class("part1", "dataset", "PalindromeDataset")
    input_lengths, targets = set(), set()
    for seq_length in LENGTHS:
        sequences = _items(construct(cls, {"seq_length": seq_length}), seq_length)
        for index, sequence in enumerate(sequences):
            if sequence != sequence[::-1]:
                raise CheckFailed(f"PalindromeDataset({seq_length})[{index}]: input + target = {sequence} "
                                  "is not a palindrome (the target must be the last digit)")
            if len(sequence) - 1 not in (seq_length, seq_length - 1):
                raise CheckFailed(f"PalindromeDataset({seq_length}) gives {len(sequence) - 1} input digits, "
                                  f"expected {seq_length - 1} (palindromes of seq_length digits) "
                                  f"or {seq_length} (of seq_length + 1)")
            input_lengths.add(len(sequence) - 1 - seq_length)
            targets.add(sequence[-1])
        if len({tuple(s) for s in sequences}) == 1:
            raise CheckFailed(f"PalindromeDataset({seq_length}) returns the same palindrome every time")
    if len(input_lengths) > 1:
        raise CheckFailed("the number of input digits is seq_length for one length and "
                          "seq_length - 1 for another")
    if len(targets) < MIN_DISTINCT:
        raise CheckFailed(f"only the targets {sorted(targets)} occur in {ITEMS * len(LENGTHS)} items: "
                          "the first digit should be random")
    shift = input_lengths.pop()
    convention = ("seq_length - 1 input digits (palindromes of seq_length digits)" if shift < 0
                  else "seq_length input digits (palindromes of seq_length + 1 digits)")
    return (f"{ITEMS * len(LENGTHS)} items of lengths {LENGTHS} are palindromes with the last digit "
            f"as target; {convention}")
