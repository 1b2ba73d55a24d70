import math

import numpy as np
import torch.utils.data as data


class PalindromeDataset(data.Dataset):
    """Palindromes of seq_length + 1 digits: the first seq_length are the input, the last the target."""

    def __init__(self, seq_length):
        self.seq_length = seq_length

    def __len__(self):
        return 10 ** 6

    def __getitem__(self, idx):
        length = self.seq_length + 1
        left = np.random.randint(0, 10, math.ceil(length / 2))
        right = left[::-1] if length % 2 == 0 else left[:-1][::-1]
        full = np.concatenate([left, right]).astype(np.float32)
        return full[:-1], int(full[-1])
