"""Character-level text data: a book as character ids, the sorted vocabulary, a held-out tail.

``TextDataset(filename, seq_length)`` keeps the course skeleton's interface (``vocab_size``,
``convert_to_string(ids)``, items ``(x, y)`` with ``y`` the characters after those of ``x``) and adds:
the file is strict UTF-8 (a BOM is dropped, ``\\r\\n`` becomes ``\\n``); the Project Gutenberg header
and licence are removed; the vocabulary is ``sorted(set(text))``, so ids are the same in every
process; the last ``val_fraction`` of the text is held out and never drawn for training.
"""
from __future__ import annotations

import re
from pathlib import Path

import torch


class UserError(Exception):
    """A problem the user can fix; the scripts print it as one line ``error: ...`` and exit 2."""


_START = re.compile(r"^\*{3}\s*START OF (THE|THIS) PROJECT GUTENBERG.*$", re.IGNORECASE | re.MULTILINE)
_END = re.compile(r"^(\*{3}\s*END OF (THE|THIS)|End of( the)?) PROJECT GUTENBERG.*$",
                  re.IGNORECASE | re.MULTILINE)


def strip_gutenberg(text: str) -> str:
    """The book's body: drop the header up to the ``*** START OF`` line and the licence from the
    ``*** END OF`` (or older ``End of the Project Gutenberg``) line; other text is unchanged."""
    start = _START.search(text)
    if start:
        text = text[start.end():]
    end = _END.search(text)
    if end:
        text = text[:end.start()]
    return text.strip("\n") + "\n" if (start or end) else text


def read_text(filename) -> str:
    """The file as one string: strict UTF-8, BOM removed, ``\\r\\n`` and ``\\r`` turned into ``\\n``."""
    path = Path(filename)
    if not path.is_file():
        raise UserError(f"text file '{path}' does not exist" if not path.exists() else
                        f"'{path}' is a directory; pass a .txt file")
    data = path.read_bytes()
    if not data:
        raise UserError(f"text file '{path}' is empty")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UserError(f"'{path}' is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}); "
                        f"convert it, e.g. for Latin-1 'iconv -f latin1 -t utf-8 {path} > {path.stem}.utf8.txt'"
                        ) from None
    return text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")


class TextDataset(torch.utils.data.Dataset):
    """A book as character ids with its tail held out for validation.

    Args:
        filename: a UTF-8 text file.
        seq_length: ``T``, characters per example; item ``i`` is ``(x, y)``, both ``(T,)``, with
            ``y[t]`` the character after ``x[t]``.
        val_fraction: share of the text, at its end, used only for validation, in [0, 1).

    Attributes: ``chars`` (the sorted vocabulary), ``train_data`` ``(N_train,)`` and ``val_data``
    ``(N_val,)`` LongTensors.
    """

    def __init__(self, filename, seq_length: int, val_fraction: float = 0.1):
        super().__init__()
        if not 0 <= val_fraction < 1:
            raise UserError(f"val_fraction must be in [0, 1), got {val_fraction}")
        text = strip_gutenberg(read_text(filename))
        self.seq_length = seq_length
        self.chars = sorted(set(text))
        self.char_to_ix = {ch: i for i, ch in enumerate(self.chars)}
        self.vocab_size = len(self.chars)
        split = len(text) - int(len(text) * val_fraction)
        ids = torch.tensor(self.encode(text), dtype=torch.long)  # (N,)
        self.train_data, self.val_data = ids[:split], ids[split:]  # (N_train,), (N_val,)
        for name, part in (("training text", self.train_data), ("held-out tail", self.val_data)):
            if (part.numel() or name == "training text") and part.numel() < seq_length + 1:
                raise UserError(f"'{filename}' is too short: its {name} has {part.numel()} characters but "
                                f"seq_length {seq_length} needs {seq_length + 1}; use a longer text or a "
                                "smaller --seq_length")

    def __len__(self) -> int:
        """Number of training windows: every start of ``T + 1`` consecutive characters."""
        return len(self.train_data) - self.seq_length

    def __getitem__(self, idx: int):
        if not 0 <= idx < len(self):
            raise IndexError(idx)
        window = self.train_data[idx: idx + self.seq_length + 1]
        return window[:-1], window[1:]

    def convert_to_string(self, char_ix) -> str:
        """Ids (list or tensor) -> text."""
        return "".join(self.chars[i] for i in torch.as_tensor(char_ix).flatten().tolist())

    def encode(self, text: str) -> list[int]:
        """Text -> ids; characters outside the vocabulary are named in a one-line error."""
        unknown = sorted(set(text) - self.char_to_ix.keys())
        if unknown:
            raise UserError(f"{len(unknown)} character(s) not in the vocabulary of the training text: "
                            + ", ".join(f"{ch!r} (U+{ord(ch):04X})" for ch in unknown))
        return [self.char_to_ix[ch] for ch in text]
