import numpy as np
import torch
from torch.utils.data import Dataset


class PalindromeDataset(Dataset):

    def __init__(self, seq_length):
        self.seq_length = seq_length
        self.rng = np.random.default_rng()

    def __len__(self):
        return 1000000

    def __getitem__(self, idx):
        half = self.rng.integers(0, 10, size=-(-self.seq_length // 2))
        digits = np.concatenate([half, half[::-1][self.seq_length % 2:]])
        # inputs as a column of digits, (seq_length - 1, 1)
        return torch.from_numpy(digits[:-1, None]).float(), int(digits[-1])
