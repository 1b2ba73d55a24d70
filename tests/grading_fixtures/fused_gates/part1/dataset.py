import torch
from torch.utils.data import Dataset


class PalindromeDataset(Dataset):

    def __init__(self, seq_length):
        self.seq_length = seq_length

    def __len__(self):
        return 1 << 30

    def __getitem__(self, idx):
        half = torch.randint(0, 10, ((self.seq_length + 1) // 2,))
        tail = half.flip(0)[self.seq_length % 2:]
        full = torch.cat([half, tail]).float()
        return full[:-1], full[-1].long()
