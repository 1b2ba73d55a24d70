"""The palindrome-digit task of part 1.

A palindrome of ``seq_length`` decimal digits reads the same both ways, so its last digit equals its
first. The network reads the first ``seq_length - 1`` digits and must predict the last one: it has to
carry the first digit across ``seq_length - 1`` steps while ignoring everything in between.

Training batches come from :meth:`PalindromeDataset.sample_batch` and a ``torch.Generator`` whose state
goes into the checkpoint. The validation set (early stopping) and the test set (the final score) are
fixed: each is drawn from a generator of its own, the same in every run, and no palindrome is in both.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch.utils.data import Dataset

NUM_DIGITS = 10
TEST_SEED = 20_181_107
VALIDATION_SEED = 7_031_990


def mirror(left, seq_length):
    """Complete the left halves ``(B, ceil(L/2))`` into palindromes ``(B, L)``."""
    right = left.flip(-1)[..., seq_length % 2:]  # an odd palindrome shares its middle digit
    return torch.cat([left, right], dim=-1)


class PalindromeDataset(Dataset):
    """Palindromes of ``seq_length`` digits (>= 2); item ``i`` = (the first ``seq_length - 1`` digits as a
    float32 array, the last digit as an int) depends only on ``(seed, i)``."""

    def __init__(self, seq_length, seed=0, size=2**31 - 1):
        if seq_length < 2:
            raise ValueError(f"a palindrome needs at least 2 digits, got seq_length={seq_length}")
        self.seq_length, self.seed, self.size = seq_length, seed, size

    def __len__(self):
        return self.size

    def __getitem__(self, idx):
        if not 0 <= idx < self.size:
            raise IndexError(idx)
        left = np.random.default_rng([self.seed, idx]).integers(0, NUM_DIGITS, math.ceil(self.seq_length / 2))
        palindrome = mirror(torch.from_numpy(left), self.seq_length).numpy().astype(np.float32)
        return palindrome[:-1], int(palindrome[-1])

    def sample_batch(self, batch_size, generator):
        """A batch at once: digits ``(B, L-1)`` float32 and targets ``(B,)`` int64."""
        left = torch.randint(0, NUM_DIGITS, (batch_size, math.ceil(self.seq_length / 2)), generator=generator)
        palindromes = mirror(left, self.seq_length)  # (B, L)
        return palindromes[:, :-1].float(), palindromes[:, -1].long()


def fixed_test_set(seq_length, size, seed=TEST_SEED):
    """``size`` palindromes from a generator of their own: the same in every run, never a training batch."""
    generator = torch.Generator().manual_seed(seed * 1000 + seq_length)
    return PalindromeDataset(seq_length).sample_batch(size, generator)


def fixed_validation_set(seq_length, size):
    """The validation set: like the test set but from a generator of its own, so that (beyond the
    shortest lengths, which have few distinct palindromes) the test score is on palindromes the run
    did not choose its stopping point with."""
    return fixed_test_set(seq_length, size, seed=VALIDATION_SEED)


def encode_input(digits, input_dim):
    """Digits ``(B, T)`` to the network's input: ``(B, T, 1)`` numbers or ``(B, T, 10)`` one-hots."""
    if input_dim == 1:
        return digits.float().unsqueeze(-1)
    if input_dim == NUM_DIGITS:
        return torch.nn.functional.one_hot(digits.long(), NUM_DIGITS).float()
    raise ValueError(f"input_dim must be 1 (digit as a number) or 10 (one-hot), got {input_dim}")
