"""Issue 6 for part 2: every bad input is one clear line, a non-zero exit, no traceback, nothing lost.

Each case is a subprocess, as a user would run it; the cases run a few at a time in parallel.
Every numeric flag out of range is also checked in-process (cheaply) through the parser.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest
import torch

from common.checkpoint import atomic_save
from tests.conftest import ROOT, assert_one_line_error
from tests.test_part2_support import (ONE_THREAD, SAMPLE, TINY, TRAIN, book_for_tests, generated_text,
                                      reference_run, run_dirs, write_book)

NO_CUDA = not torch.cuda.is_available()
T, S, E = "train", "sample", "evaluate"
SCRIPTS = {T: TRAIN, S: SAMPLE, E: str(ROOT / "part2" / "evaluate.py")}

# (id, script, arguments with {placeholders}, expected exit code or None for "non-zero", fragments)
CASES = [
    ("book-missing", T, ["--txt_file", "{tmp}/missing.txt"], ["does not exist"]),
    ("book-directory", T, ["--txt_file", "{tmp}"], ["is a directory"]),
    ("book-empty", T, ["--txt_file", "{empty}"], ["is empty"]),
    ("book-too-short", T, ["--txt_file", "{short}"], ["too short", "seq_length 12"]),
    ("book-binary", T, ["--txt_file", "{binary}"], ["binary"]),
    ("book-latin1", T, ["--txt_file", "{latin1}"], ["not UTF-8", "UTF-8 was expected", "iconv -f latin1 -t utf-8"]),
    ("flag-seq-length-0", T, ["--txt_file", "{book}", "--seq_length", "0"], ["--seq_length", "positive"]),
    ("flag-train-steps-float", T, ["--txt_file", "{book}", "--train_steps", "1e6"], ["--train_steps", "int"]),
    ("flag-keep-prob-1.5", T, ["--txt_file", "{book}", "--dropout_keep_prob", "1.5"], ["--dropout_keep_prob"]),
    ("device-unknown", T, ["--txt_file", "{book}", "--device", "tpu"], ["device"]),
    ("resume-missing", T, ["--txt_file", "{book}", "--resume", "{tmp}/nothing.pt"], ["does not exist"]),
    ("resume-truncated", T, ["--txt_file", "{book}", "--resume", "{truncated}"], ["truncated or corrupt"]),
    ("resume-other-part", T, ["--txt_file", "{book}", "--resume", "{part1}"], ["written by part1"]),
    ("resume-newer-format", T, ["--txt_file", "{book}", "--resume", "{newer}"], ["format version 99", "version 2 only"]),
    ("resume-other-vocabulary", T, ["--txt_file", "{other_book}", "--resume", "{good}", "--train_steps", "999"],
     ["vocabulary", "same book"]),
    ("sample-missing-checkpoint", S, ["--checkpoint", "{tmp}/nothing.pt"], ["does not exist"]),
    ("sample-truncated", S, ["--checkpoint", "{truncated}"], ["truncated or corrupt"]),
    ("sample-other-part", S, ["--checkpoint", "{part1}"], ["written by part1"]),
    ("sample-newer-format", S, ["--checkpoint", "{newer}"], ["format version 99"]),
    ("sample-prompt-unknown", S, ["--checkpoint", "{good}", "--prompt", "Snow ☃ white ß"],
     ["not in the vocabulary", "'☃'", "'ß'"]),
    ("sample-length-0", S, ["--checkpoint", "{good}", "--length", "0"], ["--length", "positive integer"]),
    ("sample-beam-too-wide", S, ["--checkpoint", "{good}", "--method", "beam", "--beam_width", "5000"],
     ["--beam_width 5000", "larger than the vocabulary"]),
    ("evaluate-missing-checkpoint", E, ["--checkpoint", "{tmp}/nothing.pt"], ["does not exist"]),
    ("evaluate-other-part", E, ["--checkpoint", "{part1}"], ["written by part1"]),
    ("evaluate-other-book", E, ["--checkpoint", "{good}", "--txt_file", "{other_book}"],
     ["vocabulary", "the book it was trained on"]),
]
if NO_CUDA:
    CASES += [("device-cuda-without-cuda", T, ["--txt_file", "{book}", "--device", "cuda"], ["CUDA is not available"]),
              ("sample-device-cuda", S, ["--checkpoint", "{good}", "--device", "cuda"], ["CUDA is not available"])]
SUCCESS = [("book-windows-line-endings", T, ["--txt_file", "{crlf}", "--train_steps", "10"])]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cli")
    book = book_for_tests(tmp)
    torch.set_num_threads(1)
    good = reference_run(tmp_path_factory.mktemp("runs"), book) / "reference" / "ckpt" / "last.pt"
    state = torch.load(good, weights_only=True)
    (tmp / "empty.txt").write_bytes(b"")
    (tmp / "binary.bin").write_bytes(bytes(range(256)) * 16)
    (tmp / "latin1.txt").write_bytes(("Schöne Grüße aus Köln, café crème. " * 80).encode("latin-1"))
    truncated = tmp / "truncated.pt"
    truncated.write_bytes(good.read_bytes()[:5000])
    atomic_save({"kind": "part1", "format_version": 2}, tmp / "part1.pt")
    atomic_save({**state, "format_version": 99}, tmp / "newer.pt")
    return {"tmp": tmp, "book": book, "good": good, "empty": tmp / "empty.txt",
            "short": write_book(tmp / "short.txt", "Once upon a time."), "binary": tmp / "binary.bin",
            "latin1": tmp / "latin1.txt", "truncated": truncated, "part1": tmp / "part1.pt",
            "newer": tmp / "newer.pt", "crlf": write_book(tmp / "crlf.txt", generated_text(20_000), newline="\r\n"),
            "other_book": write_book(tmp / "other.txt", generated_text(20_000).upper() + "0123456789")}


@pytest.fixture(scope="module")
def results(files):
    """Run every case (a few at a time) once; map case id -> CompletedProcess-like result."""
    tmp = files["tmp"]

    def run(case):
        name, script, args = case[0], case[1], case[2]
        argv = [a.format(**files) for a in args]
        if script == T:  # the case's own flags last, so that they win over the tiny defaults
            argv = [*TINY, "--train_steps", "5", *run_dirs(tmp, name), *argv]
        cmd = [sys.executable, SCRIPTS[script], *argv]
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600,
                              env={**os.environ, **ONE_THREAD, "GUTENBERG_MIRROR": "http://127.0.0.1:9",
                                   "GUTENBERG_CACHE": str(tmp / "cache")})
        return name, proc

    with ThreadPoolExecutor(max_workers=3) as pool:
        return dict(pool.map(run, CASES + SUCCESS))


@pytest.mark.parametrize("name, script, args, fragments", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_clear_line(results, files, name, script, args, fragments):
    proc = results[name]
    assert_one_line_error(proc, *fragments)
    assert proc.returncode == 2
    # a run that failed to start wrote no checkpoint and no summaries
    assert not (files["tmp"] / name / "ckpt").exists()


@pytest.mark.parametrize("name, script, args", SUCCESS, ids=[c[0] for c in SUCCESS])
def test_windows_line_endings_train(results, name, script, args):
    proc = results[name]
    assert proc.returncode == 0, proc.stderr
    assert "done at step 10" in proc.stdout


def test_failed_resume_leaves_the_checkpoint_untouched(results, files):
    good = files["good"]
    assert torch.load(good, weights_only=True)["step"] == 300  # still the reference's last step


NUMERIC_FLAGS = [("--seq_length", "0"), ("--lstm_num_hidden", "0"), ("--lstm_num_layers", "0"),
                 ("--embedding_dim", "-1"), ("--dropout_keep_prob", "0"), ("--dropout_keep_prob", "1.01"),
                 ("--weight_drop", "1"), ("--weight_drop", "-0.1"),
                 ("--batch_size", "0"), ("--learning_rate", "-1e-3"), ("--learning_rate", "nan"),
                 ("--learning_rate_decay", "0"), ("--learning_rate_decay", "1.5"), ("--learning_rate_step", "0"),
                 ("--train_steps", "0"), ("--train_steps", "2.5"), ("--max_norm", "0"), ("--max_norm", "inf"),
                 ("--print_every", "0"), ("--sample_every", "-1"), ("--val_every", "-5"),
                 ("--checkpoint_every", "0"), ("--seed", "-1"), ("--val_fraction", "0"), ("--val_fraction", "1"),
                 ("--time_limit", "0")]


@pytest.mark.parametrize("flag, value", NUMERIC_FLAGS)
def test_every_numeric_train_flag_is_range_checked(flag, value, capsys):
    from part2.train import parse_args
    with pytest.raises(SystemExit) as exit_info:
        parse_args([flag, value])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "error:" in err and flag in err


@pytest.mark.parametrize("flag, value", [("--temperature", "0"), ("--temperature", "-2"), ("--beam_width", "0"),
                                         ("--num_samples", "0"), ("--seed", "-3"), ("--method", "topk"),
                                         ("--length", "0"), ("--length_norm", "-1")])
def test_every_numeric_sample_flag_is_range_checked(flag, value, capsys):
    from part2.sample import build_parser
    with pytest.raises(SystemExit):
        build_parser().parse_args([flag, value])
    assert flag in capsys.readouterr().err


def test_every_help_shows_the_defaults_and_time_limit_is_in_seconds():
    from part2.evaluate import build_parser as evaluate_parser
    from part2.options import build_parser as train_parser
    from part2.sample import build_parser as sample_parser
    helps = {name: make().format_help() for name, make in
             (("train", train_parser), ("sample", sample_parser), ("evaluate", evaluate_parser))}
    assert all("(default: " in text for text in helps.values())
    time_limit = " ".join(re.search(r"\n\s+--time_limit TIME_LIMIT(.*?)\n\s+--", helps["train"], re.S)[1].split())
    assert "seconds" in time_limit and "minute" not in time_limit
    assert "--quiet" in helps["train"] and "--no_progress" not in helps["train"]
