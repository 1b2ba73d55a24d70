import os

import numpy as np
import torch
import torch.utils.data as data


class TextDataset(data.Dataset):
    """Items are one-hot inputs (T, V) and index targets (T,)."""

    def __init__(self, filename, seq_length):
        assert os.path.splitext(filename)[1] == ".txt"
        self._seq_length = seq_length
        self._data = open(filename, 'r').read()
        self._chars = sorted(list(set(self._data)))
        self._data_size, self._vocab_size = len(self._data), len(self._chars)
        self._char_to_ix = {ch: i for i, ch in enumerate(self._chars)}
        self._ix_to_char = {i: ch for i, ch in enumerate(self._chars)}

    def __getitem__(self, item):
        offset = np.random.randint(0, len(self._data) - self._seq_length - 2)
        inputs = [self._char_to_ix[ch] for ch in self._data[offset:offset + self._seq_length]]
        targets = [self._char_to_ix[ch] for ch in self._data[offset + 1:offset + self._seq_length + 1]]
        one_hot = torch.zeros(self._seq_length, self._vocab_size)
        one_hot[torch.arange(self._seq_length), torch.tensor(inputs)] = 1
        return one_hot, torch.tensor(targets)

    def convert_to_string(self, char_ix):
        return ''.join(self._ix_to_char[int(ix)] for ix in char_ix)

    def __len__(self):
        return self._data_size

    @property
    def vocab_size(self):
        return self._vocab_size
