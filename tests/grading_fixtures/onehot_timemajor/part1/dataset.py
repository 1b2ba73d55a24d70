import math
import sys

import numpy as np
import torch.utils.data as data


class PalindromeDataset(data.Dataset):

    def __init__(self, seq_length):
        self.seq_length = seq_length

    def __len__(self):
        return sys.maxsize

    def __getitem__(self, idx):
        # Keep last digit as target label. One-hot encoding for inputs is
        # more suitable for training: (seq_length - 1, 10)
        full_palindrome = self.generate_palindrome()
        one_hot = np.eye(10, dtype=np.float32)[full_palindrome[0:-1].astype(int)]
        return one_hot, int(full_palindrome[-1])

    def generate_palindrome(self):
        left = [np.random.randint(0, 10) for _ in range(math.ceil(self.seq_length/2))]
        left = np.asarray(left, dtype=np.float32)
        right = np.flip(left, 0) if self.seq_length % 2 == 0 else np.flip(left[:-1], 0)
        return np.concatenate((left, right))
