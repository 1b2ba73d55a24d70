import torch
import torch.utils.data as data


class PalindromeDataset(data.Dataset):

    def __init__(self, seq_length):
        self.seq_length = seq_length

    def __len__(self):
        return 2 ** 31 - 1

    def __getitem__(self, idx):
        n = self.seq_length
        left = torch.randint(10, (n - n // 2,))
        palindrome = torch.cat((left, left.flip(0)[n % 2:]))
        return palindrome[:-1], palindrome[-1]
