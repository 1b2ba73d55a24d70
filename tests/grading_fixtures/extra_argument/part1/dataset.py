import numpy as np
import torch.utils.data as data


class PalindromeDataset(data.Dataset):

    def __init__(self, seq_length):
        self.seq_length = seq_length

    def __len__(self):
        return 10 ** 6

    def __getitem__(self, idx):
        left = np.random.randint(0, 10, (self.seq_length + 1) // 2)
        palindrome = np.concatenate((left, np.flip(left)[self.seq_length % 2:]))
        one_hot = np.eye(10, dtype=np.float32)[palindrome[:-1]]  # (seq_length - 1, 10)
        return one_hot, palindrome[-1]
