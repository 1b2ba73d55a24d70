"""Character-level text data: read a book, build a sorted vocabulary, split off a validation tail.

``TextDataset(filename, seq_length)`` keeps the course skeleton's interface (``vocab_size``,
``convert_to_string(ids)``, items ``(input, target)`` of ``LongTensor``s shifted by one character)
and adds what the skeleton lacked:

* the file is read as UTF-8 (a leading BOM is not a character) and Windows line endings become
  ``\\n``; bytes that are not UTF-8 give a one-line error that says how to convert them;
* the Project Gutenberg header and licence footer are removed before anything else (on by default);
* the vocabulary is ``sorted(set(text))``, so character ids are the same in every process;
* the last ``val_fraction`` of the text is held out for validation and never drawn for training;
* ``encode(text)`` names the characters that are not in the vocabulary instead of a ``KeyError``.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from assets.gutenberg import strip_gutenberg
from common.runtime import UserError

BOM = "\ufeff"


class UnknownCharactersError(UserError):
    """Text contains characters that the vocabulary (the training book) does not have."""


def describe_chars(chars) -> str:
    """``"'é' (U+00E9), '\\t' (U+0009)"``: printable and unambiguous in a one-line message."""
    return ", ".join(f"{ch!r} (U+{ord(ch):04X})" for ch in chars)


def read_text(filename: str | os.PathLike) -> str:
    """The whole file as a ``str``: strict UTF-8, BOM removed, ``\\r\\n`` and ``\\r`` turned into ``\\n``.

    Every problem a user can cause is a one-line :class:`UserError`.
    """
    path = Path(filename)
    if not path.exists():
        raise UserError(f"text file '{path}' does not exist")
    if path.is_dir():
        raise UserError(f"'{path}' is a directory; pass a .txt file")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UserError(f"cannot read '{path}': {exc.strerror or exc}") from None
    if not data:
        raise UserError(f"text file '{path}' is empty")
    if b"\x00" in data[:65536]:
        raise UserError(f"'{path}' looks like a binary file (it contains NUL bytes); "
                        "pass a plain UTF-8 text file")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UserError(f"'{path}' is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}); "
                        f"UTF-8 was expected: convert it, e.g. for Latin-1 "
                        f"'iconv -f latin1 -t utf-8 {path} > {path.stem}.utf8.txt'") from None
    if text.startswith(BOM):
        text = text[1:]
    return text.replace("\r\n", "\n").replace("\r", "\n")


class TextDataset(torch.utils.data.Dataset):
    """A book as character ids, with the tail held out for validation.

    Args:
        filename: a UTF-8 text file.
        seq_length: characters per training example ``T``; an item is ``(x, y)``, both shape
            ``(T,)``, with ``y[t] == x[t + 1]`` in the text.
        val_fraction: share of the (stripped) text at its end used only for validation, in [0, 1).
        strip_header: remove the Project Gutenberg header and licence before splitting.

    Attributes:
        train_data: ``(N_train,)`` LongTensor, the first part of the text.
        val_data: ``(N_val,)`` LongTensor, the held-out tail (empty when ``val_fraction == 0``).
    """

    def __init__(self, filename, seq_length: int, val_fraction: float = 0.1, strip_header: bool = True):
        super().__init__()
        if seq_length < 1:
            raise UserError(f"seq_length must be >= 1, got {seq_length}")
        if not 0 <= val_fraction < 1:
            raise UserError(f"val_fraction must be in [0, 1), got {val_fraction}")
        text = read_text(filename)
        if strip_header:
            text = strip_gutenberg(text)
        self.filename = str(filename)
        self.seq_length = seq_length
        self.text = text
        self.chars = sorted(set(text))
        self.char_to_ix = {ch: i for i, ch in enumerate(self.chars)}
        self.ix_to_char = dict(enumerate(self.chars))
        self.vocab_size = len(self.chars)

        n_val = int(len(text) * val_fraction)
        split = len(text) - n_val
        self.train_text, self.val_text = text[:split], text[split:]
        need = seq_length + 1
        if len(self.train_text) < need:
            raise UserError(f"'{filename}' is too short: {len(self.train_text)} training characters "
                            f"(after removing the Gutenberg header and the {val_fraction:g} validation share) "
                            f"but seq_length {seq_length} needs at least {need}")
        if n_val and len(self.val_text) < need:
            raise UserError(f"'{filename}' is too short for validation: the held-out tail has "
                            f"{len(self.val_text)} characters, seq_length {seq_length} needs {need}; "
                            "use a longer text or a larger --val_fraction")
        ids = torch.from_numpy(_ids_of(text, self.chars))  # (N,)
        self.train_data = ids[:split]   # (N_train,)
        self.val_data = ids[split:]     # (N_val,)

    # --- the skeleton's interface -------------------------------------------------------------
    def __len__(self) -> int:
        """Number of training windows (every start offset of a ``T + 1`` character window)."""
        return len(self.train_data) - self.seq_length

    def __getitem__(self, idx: int):
        """``(x, y)``: ``x = train[idx : idx+T]``, ``y = train[idx+1 : idx+T+1]``, both ``(T,)``."""
        if not 0 <= idx < len(self):
            raise IndexError(idx)
        window = self.train_data[idx: idx + self.seq_length + 1]
        return window[:-1], window[1:]

    def convert_to_string(self, char_ix) -> str:
        """Ids (list, tuple or tensor) -> text."""
        if isinstance(char_ix, torch.Tensor):
            char_ix = char_ix.tolist()
        chars = self.chars
        return "".join([chars[i] for i in char_ix])

    # --- additions ----------------------------------------------------------------------------
    def encode(self, text: str) -> list[int]:
        """Text -> ids; characters outside the vocabulary raise :class:`UnknownCharactersError`."""
        return encode(text, self.char_to_ix)

    def sample_batch(self, batch_size: int, generator: torch.Generator | None = None):
        """``batch_size`` random training windows drawn with ``generator``: ``x, y`` each ``(B, T)``."""
        offsets = torch.randint(0, len(self), (batch_size,), generator=generator)  # (B,)
        index = offsets[:, None] + torch.arange(self.seq_length + 1)               # (B, T+1)
        windows = self.train_data[index]                                             # (B, T+1)
        return windows[:, :-1], windows[:, 1:]

    def val_windows(self, seq_length: int | None = None):
        """The validation tail cut into consecutive, non-overlapping windows: ``x, y`` each
        ``(W, T)`` with ``W = (N_val - 1) // T`` (the remainder is dropped)."""
        t = seq_length or self.seq_length
        n = (len(self.val_data) - 1) // t
        if n == 0:
            empty = torch.empty(0, t, dtype=torch.long)
            return empty, empty
        x = self.val_data[: n * t].view(n, t)        # (W, T)
        y = self.val_data[1: n * t + 1].view(n, t)   # (W, T)
        return x, y


class TextStreams:
    """Training batches for ``--carry_state``: truncated backpropagation through time, the way
    char-rnn trains. The training ids are cut into ``streams`` equal consecutive stretches that are
    read side by side, ``seq_length`` characters per step, so row ``b`` of one batch continues row
    ``b`` of the batch before and the LSTM state can be carried from one step to the next (its
    gradient stops at the batch boundary). After the last whole chunk of the stretches the reading
    starts again at their beginning: a new pass, where the carried state is reset to zeros.

    Args:
        ids: ``(N,)`` training ids.
        streams: ``S``, the total batch size (over all processes).
        seq_length: ``T``, characters per step.
        rows: the streams this process reads (``slice(None)``: all; a slice of ``S`` under torchrun).

    The carried state itself belongs to the run (``part2.training.RunState.carried``).
    """

    def __init__(self, ids: torch.Tensor, streams: int, seq_length: int, rows: slice = slice(None)):
        length = (len(ids) - 1) // streams                     # characters per stream
        self.chunks = length // seq_length                      # steps per pass
        if self.chunks < 1:
            raise UserError(f"--carry_state needs batch_size x seq_length = {streams} x {seq_length} "
                            f"< the {len(ids):,} training characters; lower --batch_size or --seq_length")
        self.seq_length = seq_length
        index = (torch.arange(streams) * length)[:, None] + torch.arange(self.chunks * seq_length + 1)
        self.ids = ids[index][rows]                             # (S, chunks*T + 1)

    def batch(self, step: int):
        """The batch of training step ``step`` (counted from 1): ``x, y`` each ``(S, T)``, and whether
        it starts a pass (the carried state must then be reset)."""
        k = (step - 1) % self.chunks
        window = self.ids[:, k * self.seq_length: (k + 1) * self.seq_length + 1]   # (S, T+1)
        return window[:, :-1], window[:, 1:], k == 0


def _ids_of(text: str, chars: list[str]) -> np.ndarray:
    """Vectorised ``[chars.index(ch) for ch in text]`` for a sorted ``chars`` that covers ``text``:
    code points (UTF-32) looked up with a binary search in the sorted code points of ``chars``."""
    points = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)          # (N,)
    table = np.array([ord(ch) for ch in chars], dtype=np.uint32)                # (V,), sorted
    return np.searchsorted(table, points).astype(np.int64)                      # (N,)


def encode(text: str, char_to_ix: dict) -> list[int]:
    """Text -> ids with a one-line error naming every character the vocabulary lacks."""
    unknown = sorted({ch for ch in text if ch not in char_to_ix})
    if unknown:
        raise UnknownCharactersError(f"{len(unknown)} character(s) not in the vocabulary of the training "
                                     f"text: {describe_chars(unknown)}")
    return [char_to_ix[ch] for ch in text]
