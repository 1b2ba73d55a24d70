"""The palindrome data: what the network reads, what it must answer, and that seeds fix both."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from part1.dataset import (PalindromeDataset, encode_input, fixed_test_set, fixed_validation_set,
                           mirror)


@pytest.mark.parametrize("length", [2, 5, 6, 31])
def test_items_are_palindrome_prefixes_and_target_is_first_digit(length):
    data = PalindromeDataset(length, seed=3)
    for idx in range(20):
        digits, target = data[idx]
        assert digits.dtype == np.float32 and digits.shape == (length - 1,)
        assert isinstance(target, int) and target == digits[0]
        full = np.append(digits, target)
        assert np.array_equal(full, full[::-1])


def test_items_depend_only_on_seed_and_index():
    a, b, c = PalindromeDataset(9, seed=1), PalindromeDataset(9, seed=1), PalindromeDataset(9, seed=2)
    assert all(np.array_equal(a[i][0], b[i][0]) for i in range(10))
    assert not all(np.array_equal(a[i][0], c[i][0]) for i in range(10))
    assert not np.array_equal(a[0][0], a[1][0]) or not np.array_equal(a[1][0], a[2][0])


@pytest.mark.parametrize("length", [2, 7, 8])
def test_batches_are_palindromes_and_reproducible(length):
    data = PalindromeDataset(length)
    digits, targets = data.sample_batch(64, torch.Generator().manual_seed(5))
    assert digits.shape == (64, length - 1) and digits.dtype == torch.float32
    assert targets.dtype == torch.int64
    full = torch.cat([digits, targets[:, None].float()], dim=1)
    assert torch.equal(full, full.flip(1))
    assert torch.equal(targets, digits[:, 0].long())
    again, _ = data.sample_batch(64, torch.Generator().manual_seed(5))
    assert torch.equal(digits, again)


# Upper 0.999 quantiles of the chi-square distribution (scipy.stats.chi2.ppf(0.999, dof)): a correct
# generator exceeds them for one seed in 1000, so a fixed seed that passes keeps passing, and a
# new seed would flake with probability 1e-3; a skewed or missing digit gives values in the hundreds.
CHI2_999 = {1: 10.83, 9: 27.88, 99: 148.23}


def chi_square(counts: torch.Tensor) -> float:
    """Pearson's statistic of ``counts`` against equal expected counts."""
    expected = counts.sum().item() / counts.numel()
    return (((counts.double() - expected) ** 2) / expected).sum().item()


@pytest.mark.parametrize("length", [3, 8, 21])
def test_batch_digits_are_uniform_and_independent(length):
    """The first two digits of a palindrome (the target and the next one read) over 20,000
    palindromes: the 100 pairs are equally likely (99 degrees of freedom, 200 expected per pair),
    and so is every digit of the input."""
    data = PalindromeDataset(length)
    digits, targets = data.sample_batch(20_000, torch.Generator().manual_seed(length))
    pairs = torch.bincount(targets * 10 + digits[:, 1].long(), minlength=100)
    assert chi_square(pairs) < CHI2_999[99]
    for position in range(length - 1):
        assert chi_square(torch.bincount(digits[:, position].long(), minlength=10)) < CHI2_999[9]


def test_dataset_items_are_uniform_and_independent():
    """``data[i]`` (the Dataset interface), 5,000 items: the targets are uniform (9 degrees of
    freedom, 500 expected per digit), and the first two digits are equal one time in ten (1 degree
    of freedom: 500 expected equal pairs against 4,500 unequal), as independent digits are."""
    data = PalindromeDataset(7, seed=11)
    items = [data[i] for i in range(5000)]
    targets = torch.tensor([target for _, target in items])
    assert chi_square(torch.bincount(targets, minlength=10)) < CHI2_999[9]
    equal = sum(int(digits[0] == digits[1]) for digits, _ in items)
    assert (equal - 500) ** 2 / 500 + (equal - 500) ** 2 / 4500 < CHI2_999[1]


def test_fixed_test_set_never_changes_and_differs_from_training():
    x1, y1 = fixed_test_set(20, 500)
    assert x1.shape == (500, 19) and torch.equal(y1, x1[:, 0].long())
    full = torch.cat([x1, y1[:, None].float()], dim=1)
    assert torch.equal(full, full.flip(1))
    x2, y2 = fixed_test_set(20, 500)
    assert torch.equal(x1, x2) and torch.equal(y1, y2)
    train_x, _ = PalindromeDataset(20, seed=0).sample_batch(500, torch.Generator().manual_seed(0))
    assert not torch.equal(x1, train_x)
    assert torch.equal(fixed_test_set(20, 100)[0], x1[:100])  # a smaller set is a prefix


def test_mirror_odd_and_even():
    left = torch.tensor([[1, 2, 3]])
    assert mirror(left, 5).tolist() == [[1, 2, 3, 2, 1]]
    assert mirror(left, 6).tolist() == [[1, 2, 3, 3, 2, 1]]


def test_encode_input():
    digits = torch.tensor([[3.0, 0.0, 9.0]])
    hot = encode_input(digits, 10)
    assert hot.shape == (1, 3, 10) and hot.dtype == torch.float32
    assert hot.argmax(-1).tolist() == [[3, 0, 9]] and hot.sum().item() == 3
    assert encode_input(digits, 1).shape == (1, 3, 1)
    with pytest.raises(ValueError):
        encode_input(digits, 4)


def test_validation_and_test_sets_are_fixed_and_share_no_palindrome():
    validation, test = fixed_validation_set(21, 1000)[0], fixed_test_set(21, 1000)[0]
    assert torch.equal(validation, fixed_validation_set(21, 1000)[0])
    assert not {tuple(r.tolist()) for r in validation} & {tuple(r.tolist()) for r in test}


def test_too_short_palindrome_is_rejected():
    with pytest.raises(ValueError, match="at least 2"):
        PalindromeDataset(1)
