import os

import torch
import torch.utils.data as data


class TextDataset(data.Dataset):

    def __init__(self, filename, seq_length):
        assert os.path.splitext(filename)[1] == ".txt"
        self._seq_length = seq_length
        with open(filename, encoding="utf-8") as f:
            text = f.read()
        self._chars = sorted(set(text))
        self._char_to_ix = {ch: i for i, ch in enumerate(self._chars)}
        self._ix_to_char = dict(enumerate(self._chars))
        self._ids = torch.tensor([self._char_to_ix[ch] for ch in text])

    def __getitem__(self, item):
        start = torch.randint(0, len(self._ids) - self._seq_length - 1, ()).item()
        chunk = self._ids[start:start + self._seq_length + 1]
        return chunk[:-1], chunk[1:]

    def convert_to_string(self, char_ix):
        return "".join(self._ix_to_char[int(i)] for i in char_ix)

    def __len__(self):
        return len(self._ids)

    @property
    def vocab_size(self):
        return len(self._chars)
