import numpy as np
import torch.utils.data as data


class PalindromeDataset(data.Dataset):

    def __init__(self, seq_length):
        self.seq_length = seq_length

    def __len__(self):
        return 100000

    def __getitem__(self, idx):
        # a palindrome of seq_length digits; the last one is the target
        half = np.random.randint(0, 10, size=(self.seq_length + 1) // 2).astype(np.float64)
        full = np.concatenate([half, half[::-1][self.seq_length % 2:]])
        return full[:-1], int(full[-1])
