import os
import random

import torch.utils.data as data


class TextDataset(data.Dataset):

    def __init__(self, filename, seq_length):
        assert os.path.splitext(filename)[1] == ".txt"
        self._seq_length = seq_length
        with open(filename, 'rb') as f:
            self._data = f.read().decode('utf-8')
        self._chars = sorted(set(self._data))
        self._char_to_ix = {ch: i for i, ch in enumerate(self._chars)}

    def __getitem__(self, item):
        offset = random.randrange(len(self._data) - self._seq_length - 1)
        text = self._data[offset:offset + self._seq_length + 1]
        ids = [self._char_to_ix[ch] for ch in text]
        return ids[:-1], ids[1:]

    def convert_to_string(self, char_ix):
        return ''.join(self._chars[ix] for ix in char_ix)

    def __len__(self):
        return len(self._data)

    @property
    def vocab_size(self):
        return len(self._chars)
