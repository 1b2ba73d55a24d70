"""part2/dataset.py: the round trip, the sorted vocabulary, strict UTF-8, the Gutenberg header, the
held-out tail, and one-line errors for bad files."""
from __future__ import annotations

import random

import pytest
import torch

from part2.dataset import TextDataset, UserError, strip_gutenberg
from tests.conftest import BOOK

WORDS = ("the king queen said and little she he was to of a in her his it that forest went castle wolf "
         "bird gold tree water then came there once upon time princess miller's daughter—who “yes” ‘no’").split()


def generated_text(n_chars: int = 20_000, seed: int = 0, header: bool = True) -> str:
    """Pseudo-English with a few non-ASCII characters, between Gutenberg-style markers."""
    rng, parts = random.Random(seed), []
    while sum(map(len, parts)) < n_chars:
        sentence = " ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 14)))
        parts.append(sentence.capitalize() + rng.choice(".!?") + rng.choice([" ", " ", "\n", "\n\n"]))
    body = "".join(parts)
    if not header:
        return body
    return ("Title: Generated Tales\n\n*** START OF THIS PROJECT GUTENBERG EBOOK GENERATED TALES ***\n\n" + body
            + "\n*** END OF THIS PROJECT GUTENBERG EBOOK GENERATED TALES ***\n\nLICENCE ZZZ\n")


def test_round_trip_of_the_shipped_book_and_sorted_vocabulary():
    data = TextDataset(BOOK, 30)
    assert data.chars == sorted(set(data.chars)) and data.vocab_size == len(data.chars)
    body = strip_gutenberg(BOOK.read_text(encoding="utf-8-sig"))
    assert data.convert_to_string(torch.cat([data.train_data, data.val_data])) == body
    assert data.convert_to_string(data.train_data[:5].tolist()) == body[:5]
    x, y = data[123]
    assert x.shape == y.shape == (30,) and torch.equal(x[1:], y[:-1])
    assert data.convert_to_string(x) == body[123:153]
    assert len(data) == len(data.train_data) - 30


def test_header_licence_bom_and_windows_line_endings(tmp_path):
    text = generated_text()
    path = tmp_path / "b.txt"
    path.write_bytes(("\ufeff" + text.replace("\n", "\r\n")).encode("utf-8"))
    data = TextDataset(path, 10, val_fraction=0.2)
    whole = data.convert_to_string(torch.cat([data.train_data, data.val_data]))
    assert "\ufeff" not in data.chars and "\r" not in data.chars
    assert "START OF" not in whole and "LICENCE" not in whole and whole.startswith("Title") is False
    assert whole == strip_gutenberg(text)
    assert len(data.val_data) == int(len(whole) * 0.2)  # the tail of the body is held out
    assert strip_gutenberg("no markers\n") == "no markers\n"
    assert strip_gutenberg("a\n*** START OF THE PROJECT GUTENBERG X ***\nbody\nEnd of the Project Gutenberg X\n") \
        == "body\n"


def test_unknown_characters_are_named():
    data = TextDataset(BOOK, 10)
    assert data.encode("the") == [data.char_to_ix[c] for c in "the"]
    with pytest.raises(UserError, match=r"'€' \(U\+20AC\)"):
        data.encode("the €")


@pytest.mark.parametrize("content, fragment", [
    (None, "does not exist"), ("dir", "is a directory"), (b"", "is empty"),
    ("Gr\xf6\xdfe".encode("latin-1"), "is not UTF-8 text (byte 0xf6 at offset 2); convert it"),
    (b"short", "too short"),
])
def test_bad_files_are_one_line_errors(tmp_path, content, fragment):
    path = tmp_path / "x.txt"
    if content == "dir":
        path.mkdir()
    elif content is not None:
        path.write_bytes(content)
    with pytest.raises(UserError, match=fragment.replace("(", r"\(").replace(")", r"\)")) as info:
        TextDataset(path, 12)
    assert "\n" not in str(info.value)
