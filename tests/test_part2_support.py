"""Shared helpers of the part-2 tests (no tests here): generated books, the tiny training config,
and a small reference run. The tests train on the default book shipped in ``assets/`` (or on text
generated here where a test needs a special one); ``../shared/books`` is optional."""
from __future__ import annotations

import random
from pathlib import Path

import pytest
import torch

from tests.conftest import BOOK, BOOKS, ROOT

WORDS = ("the king queen said and little she he was to of a in her his it that forest went castle "
         "wolf bird gold tree water said, then came there once upon time, princess! asked? "
         "miller's daughter—who would “yes” ‘no’").split()


def generated_text(n_chars: int = 60_000, seed: int = 0, header: bool = True) -> str:
    """Pseudo-English (with a few non-ASCII characters) between made-up Gutenberg-style markers."""
    rng = random.Random(seed)
    parts, size = [], 0
    while size < n_chars:
        sentence = " ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 14)))
        sentence = sentence[0].upper() + sentence[1:] + rng.choice([".", ".", "!", "?"])
        sentence += "\n\n" if rng.random() < 0.15 else ("\n" if rng.random() < 0.3 else " ")
        parts.append(sentence)
        size += len(sentence)
    body = "".join(parts)
    if not header:
        return body
    return ("A made-up e-book for the tests\n\nTitle: Generated Tales\n\n"
            "*** START OF THIS PROJECT GUTENBERG EBOOK GENERATED TALES ***\n\n" + body +
            "\n*** END OF THIS PROJECT GUTENBERG EBOOK GENERATED TALES ***\n\nLICENCE LICENCE LICENCE ZZZ\n")


def write_book(path: Path, text: str | None = None, bom: bool = True, newline: str = "\n") -> Path:
    text = generated_text() if text is None else text
    data = ("\ufeff" if bom else "") + text.replace("\n", newline)
    path.write_bytes(data.encode("utf-8"))
    return path


def book_for_tests(tmp_dir: Path | None = None) -> Path:
    """The default book, shipped in assets/ (``tmp_dir`` is not needed any more)."""
    return BOOK


def real_books() -> list[Path]:
    """The shipped book and, when present, the other books of ../shared/books."""
    others = sorted(p for p in BOOKS.glob("*.txt") if p.name != BOOK.name) if BOOKS.is_dir() else []
    return [BOOK, *others]


# A model small enough that a few hundred steps take a second or two; dropout on so that resuming
# must also restore the global RNG.
TINY = ["--seq_length", "12", "--lstm_num_hidden", "24", "--lstm_num_layers", "2", "--embedding_dim", "8",
        "--batch_size", "8", "--dropout_keep_prob", "0.8", "--learning_rate", "0.01", "--print_every", "5",
        "--val_every", "100", "--sample_every", "100", "--checkpoint_every", "50", "--seed", "3",
        "--device", "cpu", "--quiet"]
TRAIN = str(ROOT / "part2" / "train.py")
SAMPLE = str(ROOT / "part2" / "sample.py")


def run_dirs(base: Path, name: str) -> list[str]:
    return ["--checkpoint_dir", str(base / name / "ckpt"), "--summary_path", str(base / name / "summ")]


def load_state(base: Path, name: str, file: str = "last.pt") -> dict:
    from common.checkpoint import load_checkpoint
    return load_checkpoint(base / name / "ckpt" / file, "part2")


def read_result(base: Path, name: str) -> dict:
    from common.io import read_json
    return read_json(base / name / "summ" / "result.json")


def metric_rows(base: Path, name: str) -> list[tuple]:
    """(step, split, loss, accuracy) of a run's metrics.csv (time columns differ between runs)."""
    lines = (base / name / "summ" / "metrics.csv").read_text(encoding="utf-8").splitlines()[1:]
    return [tuple(line.split(",")[:4]) for line in lines]


def same_weights(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.fixture
def single_thread():
    """Tiny models run fastest (and without oversubscription on a busy machine) on one thread
    (conftest restores the thread count afterwards)."""
    torch.set_num_threads(1)


ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


_REFERENCE: dict = {}


def reference_run(tmp_root: Path, book: Path, steps: int = 300) -> Path:
    """One uninterrupted tiny run (in-process), shared by the resume tests of this session."""
    key = (str(book), steps)
    if key not in _REFERENCE:
        from part2.train import main
        base = Path(tmp_root)
        assert main(["--txt_file", str(book), "--train_steps", str(steps), *TINY,
                     *run_dirs(base, "reference")]) == 0
        _REFERENCE[key] = base
    return _REFERENCE[key]
