"""The palindrome-digit task of part 1.

A palindrome of ``seq_length`` decimal digits reads the same both ways, so its last digit equals its
first. The network reads the first ``seq_length - 1`` digits and must predict the last one: it has to
carry the first digit across ``seq_length - 1`` steps while ignoring everything in between.

Randomness is explicit. ``PalindromeDataset(seq_length, seed)`` is a deterministic function of
``(seed, index)``, so item ``i`` is the same in every process. The held-out test set is drawn from a
generator of its own (:func:`fixed_test_set`), identical in every run. Training draws batches with
:meth:`PalindromeDataset.sample_batch` from a ``torch.Generator`` whose state can be checkpointed.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch.utils.data import Dataset

NUM_DIGITS = 10
TEST_SEED = 20_181_107  # the held-out test set's own seed: never used for training batches
VALIDATION_SEED = 7_031_990  # the validation set's (early stopping): neither training nor test


def mirror(left: torch.Tensor, seq_length: int) -> torch.Tensor:
    """Complete the left halves ``(B, ceil(L/2))`` into palindromes ``(B, L)``."""
    right = left.flip(-1)
    if seq_length % 2 == 1:
        right = right[..., 1:]  # an odd palindrome shares its middle digit
    return torch.cat([left, right], dim=-1)  # (B, L)


class PalindromeDataset(Dataset):
    """Palindromes of ``seq_length`` digits; item = (first ``seq_length-1`` digits, last digit).

    Args:
        seq_length: length L of the whole palindrome (>= 2); the input has L-1 digits.
        seed: seed of the items; item ``i`` depends only on ``(seed, i)``.
        size: the nominal length of the dataset (items are generated on demand).

    ``__getitem__`` returns ``(digits, target)``: ``digits`` a float32 array ``(L-1,)`` and ``target``
    an int equal to ``digits[0]``.
    """

    def __init__(self, seq_length: int, seed: int = 0, size: int = 2**31 - 1) -> None:
        if seq_length < 2:
            raise ValueError(f"a palindrome needs at least 2 digits, got seq_length={seq_length}")
        self.seq_length = seq_length
        self.seed = seed
        self.size = size

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, idx: int):
        if not 0 <= idx < self.size:
            raise IndexError(idx)
        rng = np.random.default_rng([self.seed, idx])
        left = torch.from_numpy(rng.integers(0, NUM_DIGITS, math.ceil(self.seq_length / 2)))
        palindrome = mirror(left, self.seq_length).numpy().astype(np.float32)
        return palindrome[:-1], int(palindrome[-1])

    def sample_batch(self, batch_size: int, generator: torch.Generator):
        """Draw a batch at once: digits ``(B, L-1)`` as float32 and targets ``(B,)`` as int64."""
        left = torch.randint(0, NUM_DIGITS, (batch_size, math.ceil(self.seq_length / 2)),
                             generator=generator)
        palindromes = mirror(left, self.seq_length)  # (B, L)
        return palindromes[:, :-1].float(), palindromes[:, -1].long()


def fixed_test_set(seq_length: int, size: int, seed: int = TEST_SEED):
    """The held-out set: ``size`` palindromes drawn from a generator of its own, as tensors.

    It is the same in every run and every process: it depends only on ``seq_length``, ``size`` and
    ``seed``, and training batches come from a different generator. Returns digits
    ``(size, seq_length-1)`` float32 and targets ``(size,)`` int64.
    """
    generator = torch.Generator().manual_seed(seed * 1000 + seq_length)
    return PalindromeDataset(seq_length).sample_batch(size, generator)


def one_hot(digits: torch.Tensor, num_classes: int = NUM_DIGITS) -> torch.Tensor:
    """Digits ``(B, T)`` (any numeric dtype) to one-hot floats ``(B, T, num_classes)``."""
    return torch.nn.functional.one_hot(digits.long(), num_classes).float()


def fixed_validation_set(seq_length: int, size: int):
    """The validation set that decides early stopping: like :func:`fixed_test_set` but from a
    generator of its own, so the final test score is never on palindromes the run chose with."""
    return fixed_test_set(seq_length, size, seed=VALIDATION_SEED)


def encode_input(digits: torch.Tensor, input_dim: int) -> torch.Tensor:
    """Digits ``(B, T)`` to the network's input: ``(B, T, 1)`` scalars or ``(B, T, 10)`` one-hots."""
    if input_dim == 1:
        return digits.float().unsqueeze(-1)  # (B, T, 1)
    if input_dim == NUM_DIGITS:
        return one_hot(digits)  # (B, T, 10)
    raise ValueError(f"input_dim must be 1 (digit as a number) or 10 (one-hot), got {input_dim}")
