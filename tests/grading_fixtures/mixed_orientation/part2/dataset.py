import os

import numpy as np
import torch.utils.data as data


class TextDataset(data.Dataset):

    def __init__(self, filename, seq_length):
        assert os.path.splitext(filename)[1] == ".txt"
        self._seq_length = seq_length
        self._data = open(filename, 'r').read()
        self._chars = sorted(set(self._data))
        self._char_to_ix = {ch: i for i, ch in enumerate(self._chars)}
        self._ix_to_char = {i: ch for i, ch in enumerate(self._chars)}
        self._eye = np.eye(len(self._chars), dtype=np.float32)

    def __getitem__(self, item):
        offset = np.random.randint(0, len(self._data) - self._seq_length - 2)
        ids = [self._char_to_ix[ch] for ch in self._data[offset:offset + self._seq_length + 1]]
        return self._eye[ids[:-1]], np.array(ids[1:])

    def convert_to_string(self, char_ix):
        return ''.join(self._ix_to_char[int(ix)] for ix in char_ix)

    def __len__(self):
        return len(self._data)

    @property
    def vocab_size(self):
        return len(self._chars)
