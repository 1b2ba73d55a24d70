"""part2/dataset.py: encoding round trips, a stable vocabulary, the validation split, bad input."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from common.runtime import UserError
from part2.dataset import TextDataset, TextStreams, UnknownCharactersError, read_text
from tests.conftest import ROOT
from tests.test_part2_support import (ONE_THREAD, book_for_tests, generated_text, real_books, single_thread,  # noqa: F401
                                     write_book)

pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.fixture
def book(tmp_path):
    return book_for_tests(tmp_path)


def all_books(tmp_path):
    return real_books() or [write_book(tmp_path / "generated.txt")]


def test_round_trip_on_every_book(tmp_path):
    for path in all_books(tmp_path):
        ds = TextDataset(path, 30)
        ids = ds.encode(ds.text)
        assert ds.convert_to_string(ids) == ds.text
        assert ds.convert_to_string(torch.cat([ds.train_data, ds.val_data])) == ds.text
        assert ds.chars == sorted(ds.chars) and len(set(ds.chars)) == ds.vocab_size


def test_vocabulary_is_the_same_in_two_processes(book):
    code = ("import json, sys; sys.path.insert(0, sys.argv[1]); from part2.dataset import TextDataset; "
            "print(json.dumps(TextDataset(sys.argv[2], 30).chars))")
    procs = [subprocess.Popen([sys.executable, "-c", code, str(ROOT), str(book)], stdout=subprocess.PIPE,
                              text=True, env={"PYTHONHASHSEED": hash_seed, "PATH": "", **ONE_THREAD})
             for hash_seed in ("1", "2")]  # set iteration order differs between these two processes
    vocabs = [json.loads(proc.communicate(timeout=300)[0]) for proc in procs]
    assert all(proc.returncode == 0 for proc in procs)
    assert vocabs[0] == vocabs[1] == sorted(vocabs[0])


def test_bom_is_not_a_character(tmp_path):
    for path in all_books(tmp_path):
        assert path.read_bytes().startswith(b"\xef\xbb\xbf")  # the test is only meaningful with a BOM
        ds = TextDataset(path, 30, strip_header=False)
        assert "\ufeff" not in ds.chars
        assert not ds.text.startswith("\ufeff")


def test_validation_tail_is_disjoint_from_training(book):
    ds = TextDataset(book, 30, val_fraction=0.1)
    assert ds.train_text + ds.val_text == ds.text
    assert abs(len(ds.val_text) - 0.1 * len(ds.text)) <= 1
    # every training window lies inside the training part, also the last one
    x, y = ds[len(ds) - 1]
    assert torch.equal(y[-1:], ds.train_data[-1:])
    with pytest.raises(IndexError):
        ds[len(ds)]
    g = torch.Generator().manual_seed(0)
    for _ in range(20):
        x, y = ds.sample_batch(64, g)
        assert x.shape == y.shape == (64, 30)
        assert torch.equal(x[:, 1:], y[:, :-1])
    vx, vy = ds.val_windows()
    assert torch.equal(torch.cat([vx.flatten(), vy[-1, -1:]]), ds.val_data[: vx.numel() + 1])


def test_items_are_shifted_by_one(book):
    ds = TextDataset(book, 25)
    x, y = ds[1000]
    assert x.dtype == y.dtype == torch.long and x.shape == y.shape == (25,)
    assert ds.convert_to_string(x)[1:] == ds.convert_to_string(y)[:-1]
    assert ds.convert_to_string(x) == ds.train_text[1000:1025]


def test_gutenberg_header_and_licence_are_stripped_before_the_split(book):
    stripped = TextDataset(book, 30)
    kept = TextDataset(book, 30, strip_header=False)
    assert "*** START OF" not in stripped.text and "*** END OF" not in stripped.text
    assert "*** START OF" in kept.text and "*** END OF" in kept.text
    assert "Project Gutenberg" not in stripped.val_text
    assert len(kept.text) > len(stripped.text)


def test_windows_line_endings_work(tmp_path):
    text = generated_text(5000)
    unix = TextDataset(write_book(tmp_path / "unix.txt", text), 30)
    windows = TextDataset(write_book(tmp_path / "dos.txt", text, newline="\r\n"), 30)
    assert "\r" not in windows.chars
    assert windows.text == unix.text and windows.chars == unix.chars


def test_encode_names_unknown_characters(book):
    ds = TextDataset(book, 30)
    with pytest.raises(UnknownCharactersError) as err:
        ds.encode("the king ☃ said ß")
    message = str(err.value)
    assert "'☃'" in message and "'ß'" in message and "U+2603" in message
    assert isinstance(err.value, UserError)


def _bytes(name, data):
    def make(folder):
        (folder / name).write_bytes(data)
        return folder / name
    return make


@pytest.mark.parametrize("make, fragments", [
    (lambda p: p / "missing.txt", ["does not exist"]),
    (lambda p: p, ["is a directory"]),
    (_bytes("empty.txt", b""), ["is empty"]),
    (lambda p: write_book(p / "short.txt", "tiny", bom=False), ["too short", "seq_length 30"]),
    (_bytes("model.bin", bytes(range(256)) * 8), ["binary"]),
    (_bytes("latin1.txt", "Schöne Grüße, café crème. ".encode("latin-1") * 50),
     ["UTF-8", "iconv -f latin1 -t utf-8"]),
])
def test_bad_input_gives_one_clear_message(tmp_path, make, fragments):
    path = make(tmp_path)
    with pytest.raises(UserError) as err:
        TextDataset(path, 30)
    message = str(err.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, message


def test_read_text_keeps_utf8_characters(tmp_path):
    path = write_book(tmp_path / "u.txt", "Ünïcödé “quotes” — fine\r\nnext\rline", bom=True)
    assert read_text(path) == "Ünïcödé “quotes” — fine\nnext\nline"


def test_streams_continue_row_by_row_and_restart_each_pass():
    ids = torch.arange(1000)
    streams = TextStreams(ids, 4, 10)             # 4 streams of 249 characters: 24 chunks of 10
    assert streams.chunks == 24
    seen = []
    for step in range(1, 2 * streams.chunks + 1):
        x, y, new_pass = streams.batch(step)
        assert x.shape == y.shape == (4, 10)
        assert torch.equal(x[:, 1:], y[:, :-1])
        assert new_pass == (step in (1, streams.chunks + 1))
        if step > 1 and not new_pass:             # row b continues where row b of the last batch ended
            assert torch.equal(x[:, 0], previous[:, -1])
        previous = y
        if step <= streams.chunks:
            seen.append(x)
    # one pass reads each stream's stretch once: stream b starts at b * 249
    first_pass = torch.cat(seen, 1)               # (4, 240)
    assert torch.equal(first_pass, torch.arange(4)[:, None] * 249 + torch.arange(240))
    assert torch.equal(streams.batch(1)[0], streams.batch(streams.chunks + 1)[0])


def test_streams_give_each_process_its_rows_and_refuse_a_too_short_text():
    ids = torch.arange(1000)
    whole = TextStreams(ids, 4, 10)
    half = TextStreams(ids, 4, 10, slice(2, 4))
    assert torch.equal(half.batch(5)[0], whole.batch(5)[0][2:])
    with pytest.raises(UserError, match="--carry_state needs batch_size x seq_length"):
        TextStreams(ids, 64, 30)
