import random

import torch
from torch.utils.data import Dataset


class PalindromeDataset(Dataset):
    """Palindromes of seq_length digits: the first seq_length - 1 are the input, the last the label."""

    def __init__(self, seq_length):
        self.seq_length = seq_length

    def __len__(self):
        return 10 ** 9

    def __getitem__(self, idx):
        first_half = [random.randrange(10) for _ in range((self.seq_length + 1) // 2)]
        mirrored = first_half[::-1][self.seq_length % 2:]
        number = first_half + mirrored
        return torch.tensor(number[:-1], dtype=torch.float32), number[-1]
