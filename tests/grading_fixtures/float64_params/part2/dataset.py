import os
import random

import torch.utils.data as data


class TextDataset(data.Dataset):

    def __init__(self, filename, seq_length):
        assert os.path.splitext(filename)[1] == ".txt"
        self.seq_length = seq_length
        self.text = open(filename, 'r', encoding='utf-8').read()
        self.chars = sorted(set(self.text))
        self.char_to_ix = {ch: i for i, ch in enumerate(self.chars)}

    def __getitem__(self, item):
        i = random.randint(0, len(self.text) - self.seq_length - 2)
        piece = [self.char_to_ix[ch] for ch in self.text[i:i + self.seq_length + 1]]
        return piece[:-1], piece[1:]

    def convert_to_string(self, char_ix):
        return ''.join(self.chars[i] for i in char_ix)

    def __len__(self):
        return len(self.text)

    @property
    def vocab_size(self):
        return len(self.chars)
