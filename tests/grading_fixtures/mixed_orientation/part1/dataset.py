import random

import torch.utils.data as data


class PalindromeDataset(data.Dataset):

    def __init__(self, seq_length):
        self.seq_length = seq_length

    def __len__(self):
        return 50000

    def __getitem__(self, idx):
        digits = [random.randint(0, 9) for _ in range(self.seq_length // 2)]
        middle = [random.randint(0, 9)] if self.seq_length % 2 else []
        palindrome = digits + middle + digits[::-1]
        return palindrome[:-1], palindrome[-1]
