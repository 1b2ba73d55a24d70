"""part2/train.py and part2/sample.py as a user runs them: the outputs, the loss falls, a run stopped
by Ctrl-C, SIGTERM or --time_limit and resumed ends with the weights of an uninterrupted one, and
every bad flag, file or checkpoint is a one-line error."""
from __future__ import annotations

import json

import pytest
import torch

from part2 import sample, train
from part2.dataset import UserError
from tests.conftest import ROOT, assert_one_line_error, run_script
from tests.test_part2_dataset import generated_text

TINY = ["--seq_length", "12", "--lstm_num_hidden", "24", "--embedding_dim", "8", "--batch_size", "8",
        "--dropout_keep_prob", "0.8", "--learning_rate", "0.01", "--print_every", "5", "--eval_every", "20",
        "--sample_every", "20", "--seed", "3", "--device", "cpu", "--quiet"]


@pytest.fixture(autouse=True)
def one_thread():
    torch.set_num_threads(1)  # conftest restores the thread count


@pytest.fixture(scope="module")
def book(tmp_path_factory):
    path = tmp_path_factory.mktemp("book") / "book.txt"
    path.write_text(generated_text(20_000), encoding="utf-8")
    return path


def args(book, folder, steps, *extra):
    return ["--txt_file", str(book), "--train_steps", str(steps), *TINY, "--checkpoint_dir", str(folder / "ckpt"),
            "--summary_path", str(folder / "summ"), *map(str, extra)]


def rows(folder, split="train"):
    lines = (folder / "summ" / "metrics.csv").read_text(encoding="utf-8").splitlines()[1:]
    return [line.split(",")[:4] for line in lines if line.split(",")[1] == split]


def weights(folder):
    return torch.load(folder / "ckpt" / "checkpoint.pt", weights_only=True)["model"]


@pytest.fixture(scope="module")
def reference(tmp_path_factory, book):
    folder = tmp_path_factory.mktemp("reference")
    assert train.main(args(book, folder, 60)) == 0
    return folder


def test_outputs_of_a_run_and_the_loss_falls(tmp_path, book, capsys):
    assert train.main(args(book, tmp_path, 120, "--eval_every", 60, "--sample_every", 60)) == 0
    assert "done at step 120: validation loss" in capsys.readouterr().out
    losses = [float(r[2]) for r in rows(tmp_path)]
    assert len(losses) == 24 and losses[-1] < losses[0] - 0.5
    assert [r[0] for r in rows(tmp_path, "val")] == [r[0] for r in rows(tmp_path, "val_stream")] == ["60", "120"]
    summ = tmp_path / "summ"
    result = json.loads((summ / "result.json").read_text())
    assert result["steps"] == 120 and result["stopped"] is None and result["best_val_step"] in (60, 120)
    assert result["best_val_loss"] == pytest.approx(min(float(r[2]) for r in rows(tmp_path, "val")), abs=1e-6)
    config = json.loads((summ / "config.json").read_text())
    assert config["args"]["seq_length"] == 12 and config["parameters"] > 0
    samples = [json.loads(line) for line in (summ / "samples.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [s["step"] for s in samples] == [60, 120]
    assert [(g["kind"], g["length"], g["temperature"], len(g["texts"])) for g in samples[0]["groups"]] == [
        ("greedy", 30, None, 5), ("greedy", 120, None, 2), ("temperature", 120, 0.5, 1),
        ("temperature", 120, 1.0, 1), ("temperature", 120, 2.0, 1)]
    assert all(len(t) == g["length"] for g in samples[1]["groups"] for t in g["texts"])
    assert "## step 120" in (summ / "samples.txt").read_text(encoding="utf-8")
    assert (summ / "curves.png").stat().st_size > 1000
    ckpt = torch.load(tmp_path / "ckpt" / "checkpoint.pt", weights_only=True)
    assert {"model", "optimizer", "scheduler", "step", "config", "rng"} <= ckpt.keys() and ckpt["step"] == 120
    assert (tmp_path / "ckpt" / "best.pt").is_file()


@pytest.mark.parametrize("signal_name", ["SIGINT", "SIGTERM"])
def test_interrupted_and_resumed_ends_like_the_uninterrupted_run(tmp_path, book, reference, monkeypatch, capsys,
                                                                 signal_name):
    monkeypatch.setenv("SIGNAL_AT_STEP", f"23:{signal_name}")
    assert train.main(args(book, tmp_path, 60)) == 130
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        f"interrupted at step 23; checkpoint saved to {tmp_path / 'ckpt' / 'checkpoint.pt'}; continue with --resume")
    monkeypatch.delenv("SIGNAL_AT_STEP")
    assert train.main(args(book, tmp_path, 60, "--resume")) == 0
    assert all(torch.equal(a, b) for a, b in zip(weights(tmp_path).values(), weights(reference).values()))
    assert rows(tmp_path) == rows(reference)  # also the training rows across the interruption


def test_time_limit_stops_this_process_and_resume_gets_a_fresh_budget(tmp_path, book, reference, monkeypatch, capsys):
    clock = iter(range(10**6))
    monkeypatch.setattr(train.time, "perf_counter", lambda: next(clock) * 0.25)  # a quarter second per reading
    assert train.main(args(book, tmp_path, 60, "--time_limit", 5)) == 0
    out = capsys.readouterr().out
    assert "stopped by --time_limit at step" in out
    stopped = json.loads((tmp_path / "summ" / "result.json").read_text())
    assert stopped["stopped"] == "time_limit" and 0 < stopped["steps"] < 30
    assert train.main(args(book, tmp_path, 60, "--time_limit", 5, "--resume")) == 0   # a fresh 5 s
    assert json.loads((tmp_path / "summ" / "result.json").read_text())["steps"] > stopped["steps"]
    monkeypatch.undo()
    assert train.main(args(book, tmp_path, 60, "--resume")) == 0
    assert all(torch.equal(a, b) for a, b in zip(weights(tmp_path).values(), weights(reference).values()))


def error_of(capsys, argv, code=2) -> str:
    assert train.main(argv) == code
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[-1].startswith("error: ")
    return lines[-1]


def test_bad_checkpoints_and_resumes_are_one_line_errors(tmp_path, book, reference, capsys):
    assert "no checkpoint at" in error_of(capsys, args(book, tmp_path, 60, "--resume"))
    assert "holds a previous run; add --resume" in error_of(
        capsys, args(book, tmp_path, 60, "--checkpoint_dir", reference / "ckpt"))
    changed = args(book, reference, 80, "--resume", "--lstm_num_hidden", 32)
    assert "another --lstm_num_hidden" in error_of(capsys, changed)
    assert "already at step 60; pass a larger --train_steps" in error_of(capsys, args(book, reference, 60, "--resume"))
    broken = tmp_path / "broken"
    (broken / "ckpt").mkdir(parents=True)
    (broken / "ckpt" / "checkpoint.pt").write_bytes(b"not a checkpoint")
    assert "cannot read checkpoint" in error_of(capsys, args(book, broken, 60, "--resume"))
    assert "training diverged" in error_of(capsys, args(book, tmp_path / "div", 40, "--learning_rate", 1e4))


@pytest.mark.parametrize("flag, value, fragment", [
    ("--seq_length", "0", "must be positive"), ("--dropout_keep_prob", "1.5", "must be in (0, 1]"),
    ("--train_steps", "1e6", "invalid int value"), ("--eval_every", "-1", "must be >= 0"),
    ("--val_fraction", "1", "--val_fraction must be in (0, 1)")])
def test_bad_flags_are_argparse_errors(flag, value, fragment, capsys):
    with pytest.raises(SystemExit) as info:
        train.main([flag, value])
    assert info.value.code == 2 and fragment in capsys.readouterr().err.strip().splitlines()[-1]


def test_bad_files_and_devices_are_one_line_errors(tmp_path, capsys):
    assert "does not exist" in error_of(capsys, ["--txt_file", str(tmp_path / "none.txt")])
    latin = tmp_path / "l.txt"
    latin.write_bytes("Gr\xf6\xdfe".encode("latin-1") * 100)
    assert "is not UTF-8 text" in error_of(capsys, ["--txt_file", str(latin)])
    if not torch.cuda.is_available():
        assert "CUDA is not available" in error_of(capsys, ["--txt_file", str(latin), "--device", "cuda"])


def test_help_shows_the_defaults(capsys):
    for main in (train.main, sample.main):
        with pytest.raises(SystemExit):
            main(["--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "characters per training example (default: 30)" in out and "(default: 500)" in out
    assert out.count("inverse of the temperature") == 1 and "(default: checkpoints/part2/best.pt)" in out


def test_sampling_from_a_checkpoint(tmp_path, reference, capsys):
    best = str(reference / "ckpt" / "best.pt")

    def run(*flags):
        assert sample.main(["--checkpoint", best, "--device", "cpu", *map(str, flags)]) == 0
        return capsys.readouterr().out

    assert run("--seed", 1, "--num_samples", 2) == run("--seed", 1, "--num_samples", 2) != run("--seed", 2)
    out = run("--method", "greedy", "--prompt", "The king", "--length", 20)
    assert out.startswith("--- greedy 1/1\nThe king") and len(out.splitlines()[1]) == 28
    assert "--- sample, tau=2 1/1" in run("--temperature", 2, "--length", 10)
    run("--method", "beam", "--prompt", "The", "--beam_width", 3, "--num_samples", 2, "--length", 15,
        "--json", tmp_path / "b.json")
    beams = json.loads((tmp_path / "b.json").read_text(encoding="utf-8"))["samples"]
    assert len(beams) == 2 and beams[0]["log_probability"] >= beams[1]["log_probability"]
    assert all(b["text"] == "The" + b["continuation"] for b in beams)
    with pytest.raises(UserError, match="not in the vocabulary"):
        run("--prompt", "€")
    with pytest.raises(UserError, match=r"no checkpoint at .*none.pt; train one first: python part2/train.py"):
        sample.main(["--checkpoint", str(tmp_path / "none.pt")])


def test_the_scripts_run_from_their_folder_with_one_line_errors(tmp_path):
    proc = run_script("train.py", "--txt_file", tmp_path / "none.txt", cwd=ROOT / "part2", env={"OMP_NUM_THREADS": "1"})
    assert_one_line_error(proc, "does not exist")
    assert proc.returncode == 2
    proc = run_script("part2/sample.py", "--checkpoint", tmp_path / "none.pt", env={"OMP_NUM_THREADS": "1"})
    assert_one_line_error(proc, "no checkpoint at", "train one first: python part2/train.py --txt_file")
    assert proc.returncode == 2
