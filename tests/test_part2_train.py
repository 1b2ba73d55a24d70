"""part2/train.py and part2/sample.py end to end; checkpoints; resume after SIGTERM and SIGKILL."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from common.checkpoint import load_checkpoint
from common.runtime import UserError
from part2.train import main as train_main
from tests.conftest import ROOT, run_script
from tests.test_part2_support import (ONE_THREAD, SAMPLE, TINY, TRAIN, book_for_tests, load_state,
                                      metric_rows, reference_run, run_dirs, same_weights,
                                      single_thread)  # noqa: F401

pytestmark = pytest.mark.usefixtures("single_thread")
STEPS = 300


@pytest.fixture(scope="module")
def book(tmp_path_factory):
    return book_for_tests(tmp_path_factory.mktemp("book"))


@pytest.fixture(scope="module")
def reference(tmp_path_factory, book):
    torch.set_num_threads(1)
    return reference_run(tmp_path_factory.mktemp("runs"), book, STEPS)


def train_rows(base, name):
    return [row for row in metric_rows(base, name) if row[1] == "train"]


def test_end_to_end_train_then_sample(tmp_path, book):
    proc = run_script(TRAIN, "--txt_file", book, "--train_steps", 40, *TINY, "--val_every", 20,
                      "--sample_every", 20, "--checkpoint_every", 20, *run_dirs(tmp_path, "e2e"), env=ONE_THREAD)
    assert proc.returncode == 0, proc.stderr
    assert "done at step 40" in proc.stdout
    summ = tmp_path / "e2e" / "summ"
    rows = metric_rows(tmp_path, "e2e")
    assert [r[0] for r in rows if r[1] == "train"] == [str(s) for s in range(5, 41, 5)]
    assert [r[0] for r in rows if r[1] == "val"] == ["20", "40"]
    assert [r[0] for r in rows if r[1] == "val_stream"] == ["20", "40"]
    samples = (summ / "samples.txt").read_text(encoding="utf-8")
    assert samples.count("## step ") == 2 and "## step 40" in samples
    block = samples.split("## step 40")[1]
    greedy30 = block.split("greedy, 30 characters:\n")[1].split("greedy, 120")[0].splitlines()
    assert len(greedy30) == 5
    assert all(len(line.strip().replace("\\n", "\n").replace("\\\\", "\\")) <= 30 for line in greedy30)
    assert "tau=0.5" in block and "tau=2" in block
    assert (summ / "curves.png").stat().st_size > 1000
    assert list((summ / "tensorboard").glob("events.out.tfevents.*"))
    assert (summ / "config.json").is_file()
    ckpt = load_checkpoint(tmp_path / "e2e" / "ckpt" / "last.pt", "part2")   # weights_only=True inside
    assert ckpt["step"] == 40 and ckpt["args"]["lstm_num_hidden"] == 24
    assert ckpt["vocabulary"] == sorted(ckpt["vocabulary"])
    assert {"model_state", "optimizer_state", "scheduler_state", "rng", "best_val_loss"} <= ckpt.keys()

    best = tmp_path / "e2e" / "ckpt" / "best.pt"
    scored = run_script("part2/evaluate.py", "--checkpoint", best, "--device", "cpu", env=ONE_THREAD)
    assert scored.returncode == 0, scored.stderr
    saved = load_checkpoint(best, "part2")
    val_stream = {int(r[0]): float(r[2]) for r in rows if r[1] == "val_stream"}
    windows, carried = [float(line.split("loss ")[1].split()[0])
                        for line in scored.stdout.splitlines() if "loss " in line]
    assert windows == pytest.approx(saved["best_val_loss"], abs=1e-4)  # what train.py logged
    assert carried == pytest.approx(val_stream[saved["best_step"]], abs=1e-4)
    prompt = "The king"
    procs = {method: subprocess.Popen([sys.executable, SAMPLE, "--checkpoint", str(best), "--method", method,
                                       "--prompt", prompt, "--length", "50", "--num_samples", "2"],
                                      cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                      env={**os.environ, **ONE_THREAD})
             for method in ("greedy", "sample", "beam")}
    for method, p in procs.items():
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
        texts = [line for line in out.splitlines() if line.startswith(prompt)]
        assert len(texts) == 2, out
        if method == "greedy":
            assert texts[0] == texts[1]


def test_resume_equals_uninterrupted(tmp_path, book, reference):
    args = ["--txt_file", str(book), *TINY, *run_dirs(tmp_path, "split")]
    assert train_main([*args, "--train_steps", "133"]) == 0          # stops mid print interval
    assert load_state(tmp_path, "split")["step"] == 133
    assert train_main([*args, "--resume", "--train_steps", str(STEPS)]) == 0
    final, expected = load_state(tmp_path, "split"), load_state(reference, "reference")
    assert final["step"] == expected["step"] == STEPS
    assert same_weights(final["model_state"], expected["model_state"])
    assert train_rows(tmp_path, "split") == train_rows(reference, "reference")
    assert final["best_val_loss"] == expected["best_val_loss"]


def _start_and_wait_for_checkpoint(tmp_path, name, book, steps):
    cmd = [sys.executable, TRAIN, "--txt_file", str(book), "--train_steps", str(steps), *TINY,
           *run_dirs(tmp_path, name)]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **ONE_THREAD, "PYTHONUNBUFFERED": "1"})
    last = tmp_path / name / "ckpt" / "last.pt"
    deadline = time.time() + 300
    while not last.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    return proc


def test_sigkill_then_resume_equals_uninterrupted(tmp_path, book, reference):
    proc = _start_and_wait_for_checkpoint(tmp_path, "killed", book, STEPS)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    killed_at = load_state(tmp_path, "killed")["step"]
    assert 0 < killed_at < STEPS
    assert train_main(["--txt_file", str(book), *TINY, *run_dirs(tmp_path, "killed"), "--resume"]) == 0
    final, expected = load_state(tmp_path, "killed"), load_state(reference, "reference")
    assert same_weights(final["model_state"], expected["model_state"])
    assert metric_rows(tmp_path, "killed") == metric_rows(reference, "reference")


def test_sigterm_saves_a_checkpoint_and_resumes_exactly(tmp_path, book, reference):
    proc = _start_and_wait_for_checkpoint(tmp_path, "term", book, 100_000)
    time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert "stopped by SIGTERM" in out and "Traceback" not in err
    stopped_at = load_state(tmp_path, "term")["step"]
    assert stopped_at >= 50
    if stopped_at >= STEPS:
        pytest.skip("the machine was too fast to stop the run before the reference's last step")
    assert train_main(["--txt_file", str(book), *TINY, *run_dirs(tmp_path, "term"), "--resume",
                       "--train_steps", str(STEPS)]) == 0
    final, expected = load_state(tmp_path, "term"), load_state(reference, "reference")
    assert same_weights(final["model_state"], expected["model_state"])
    assert train_rows(tmp_path, "term") == train_rows(reference, "reference")


def test_divergence_stops_naming_the_step_and_keeps_the_last_good_checkpoint(tmp_path, book):
    with pytest.raises(UserError) as err:
        train_main(["--txt_file", str(book), "--train_steps", "200", *TINY, "--optimizer", "sgd",
                    "--learning_rate", "1e4", "--max_norm", "1e9", "--checkpoint_every", "1",
                    *run_dirs(tmp_path, "nan")])
    message = str(err.value)
    assert "diverged" in message and "--learning_rate" in message and "--max_norm" in message
    bad_step = int(message.split("at step ")[1].split(";")[0])
    last = tmp_path / "nan" / "ckpt" / "last.pt"
    if bad_step > 1:
        kept = load_checkpoint(last, "part2")
        assert kept["step"] == bad_step - 1
        assert all(torch.isfinite(v).all() for v in kept["model_state"].values())
    else:
        assert not last.exists()


def test_truncated_checkpoint_is_a_clear_error(tmp_path, reference):
    data = (reference / "reference" / "ckpt" / "last.pt").read_bytes()
    broken = tmp_path / "broken.pt"
    broken.write_bytes(data[: len(data) // 2])
    with pytest.raises(UserError, match="truncated or corrupt"):
        load_checkpoint(broken, "part2")


def test_a_run_that_fails_to_start_overwrites_nothing(tmp_path, book, reference):
    import shutil
    shutil.copytree(reference / "reference", tmp_path / "copy")
    last = tmp_path / "copy" / "ckpt" / "last.pt"
    before = last.read_bytes()
    with pytest.raises(UserError, match="previous run"):
        train_main(["--txt_file", str(book), *TINY, *run_dirs(tmp_path, "copy"), "--train_steps", "400"])
    with pytest.raises(UserError, match="does not exist"):
        train_main(["--txt_file", str(tmp_path / "nope.txt"), *TINY, *run_dirs(tmp_path, "copy"),
                    "--resume", "--train_steps", "400"])
    with pytest.raises(UserError, match="already at step"):
        train_main(["--txt_file", str(book), *TINY, *run_dirs(tmp_path, "copy"), "--resume"])
    assert last.read_bytes() == before
    assert (tmp_path / "copy" / "summ" / "metrics.csv").read_text(encoding="utf-8") == \
        (reference / "reference" / "summ" / "metrics.csv").read_text(encoding="utf-8")


def test_preset_applies_unless_a_flag_is_given():
    from part2.train import PRESETS, parse_args
    args, _ = parse_args(["--preset", "best"])
    for key, value in PRESETS["best"].items():
        assert getattr(args, key) == value
    args, _ = parse_args(["--preset", "best", "--seq_length", "7"])
    assert args.seq_length == 7 and args.lstm_num_hidden == PRESETS["best"]["lstm_num_hidden"]
    defaults, _ = parse_args([])
    assert (defaults.seq_length, defaults.lstm_num_hidden, defaults.batch_size, defaults.learning_rate,
            defaults.learning_rate_decay, defaults.learning_rate_step, defaults.dropout_keep_prob,
            defaults.max_norm, defaults.print_every, defaults.sample_every, defaults.summary_path) == \
        (30, 128, 64, 2e-3, 0.96, 5000, 1.0, 5.0, 5, 100, "./summaries/")
    assert isinstance(defaults.train_steps, int) and defaults.lstm_num_layers == 2


def test_carry_state_resume_equals_uninterrupted(tmp_path, book):
    """--carry_state: the carried (h, c) is part of the checkpoint, so a split run ends identically."""
    args = ["--txt_file", str(book), *TINY, "--carry_state"]
    assert train_main([*args, *run_dirs(tmp_path, "whole"), "--train_steps", "80"]) == 0
    assert train_main([*args, *run_dirs(tmp_path, "split"), "--train_steps", "37"]) == 0
    assert load_state(tmp_path, "split")["carried_state"][0].shape == (2, 8, 24)   # (L, B, H)
    assert train_main([*args, *run_dirs(tmp_path, "split"), "--resume", "--train_steps", "80"]) == 0
    whole, split = load_state(tmp_path, "whole"), load_state(tmp_path, "split")
    assert same_weights(whole["model_state"], split["model_state"])
    assert all(torch.equal(a, b) for a, b in zip(whole["carried_state"], split["carried_state"]))
    assert train_rows(tmp_path, "split") == train_rows(tmp_path, "whole")
    # and it is a different training from the random windows of the same seed
    assert train_main(["--txt_file", str(book), *TINY, *run_dirs(tmp_path, "windows"), "--train_steps", "80"]) == 0
    assert load_state(tmp_path, "windows")["carried_state"] is None
    assert not same_weights(load_state(tmp_path, "windows")["model_state"], whole["model_state"])


def test_carry_state_feeds_each_batch_the_state_of_the_batch_before(book):
    """With a zero learning rate the weights stay put, so the loss of the second streamed batch must
    equal the loss of the second half of one forward pass over both batches joined in time."""
    from part2.dataset import TextDataset, TextStreams
    from part2.model import TextGenerationModel
    from part2.train import loop_body
    torch.manual_seed(0)
    ds = TextDataset(book, 12)
    model = TextGenerationModel(4, 12, ds.vocab_size, lstm_num_hidden=16, device="cpu", embedding_dim=8)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, 100)
    streams = TextStreams(ds.train_data, 4, 12)
    losses = []
    for step in (1, 2):
        sums = torch.zeros(2, dtype=torch.float64)
        loop_body(step, ds, None, model, optimizer, scheduler, 4, 5.0, sums, torch.tensor(-1), 1e9, streams)
        losses.append(sums[0].item())
    assert streams.state[0].shape == (2, 4, 16)
    x = torch.cat([streams.batch(1)[0], streams.batch(2)[0]], 1)            # (4, 24)
    y = torch.cat([streams.batch(1)[1], streams.batch(2)[1]], 1)
    with torch.no_grad():
        logits, _ = model(x)                                                # (4, 24, V)
    joined = torch.nn.functional.cross_entropy(logits[:, 12:].reshape(-1, ds.vocab_size), y[:, 12:].reshape(-1))
    fresh = torch.nn.functional.cross_entropy(model(x[:, 12:])[0].reshape(-1, ds.vocab_size), y[:, 12:].reshape(-1))
    assert losses[1] == pytest.approx(joined.item(), abs=1e-5)
    assert abs(fresh.item() - joined.item()) > 1e-3                        # the state matters here
