"""part2/train.py, sample.py and evaluate.py end to end; checkpoints; a run stopped in every way
(--train_steps, SIGTERM, SIGKILL, --time_limit) and resumed ends like an uninterrupted one."""
from __future__ import annotations

import itertools
import json
import math
import os
import signal
import subprocess
import sys

import pytest
import torch

from common.checkpoint import load_checkpoint
from common.io import read_json
from common.runtime import UserError
from part2 import training
from part2.logs import truncate_after
from part2.train import main as train_main
from tests.conftest import ROOT, run_script
from tests.test_part2_support import (ONE_THREAD, SAMPLE, TINY, TRAIN, book_for_tests, generated_text, load_state,
                                      metric_rows, read_result, reference_run, run_dirs, same_weights,
                                      single_thread, write_book)  # noqa: F401

pytestmark = pytest.mark.usefixtures("single_thread")
STEPS = 300


@pytest.fixture(scope="module")
def book():
    return book_for_tests()


@pytest.fixture(scope="module")
def reference(tmp_path_factory, book):
    torch.set_num_threads(1)
    return reference_run(tmp_path_factory.mktemp("runs"), book, STEPS)


def train_rows(base, name):
    return [row for row in metric_rows(base, name) if row[1] == "train"]


def assert_ends_like_the_reference(base, name, reference):
    final, expected = load_state(base, name), load_state(reference, "reference")
    assert final["step"] == expected["step"] == STEPS
    assert same_weights(final["model"], expected["model"])
    assert train_rows(base, name) == train_rows(reference, "reference")
    assert final["extras"]["progress"]["best_val_loss"] == expected["extras"]["progress"]["best_val_loss"]


def test_end_to_end_train_then_evaluate_and_sample(tmp_path, book):
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
    assert "beta=0.5" in block and "beta=2" in block
    assert_sample_rows(summ, [20, 40], rows)
    assert (summ / "curves.png").stat().st_size > 1000
    assert list((summ / "tensorboard").glob("events.out.tfevents.*"))
    assert read_json(summ / "config.json")["args"]["lstm_num_hidden"] == 24
    ckpt = load_checkpoint(tmp_path / "e2e" / "ckpt" / "last.pt", "part2")   # weights_only=True inside
    assert ckpt["step"] == 40 and ckpt["args"]["lstm_num_hidden"] == 24
    vocabulary = ckpt["extras"]["vocabulary"]
    assert vocabulary == sorted(vocabulary) and len(ckpt["extras"]["ranks"]) == 1
    assert ckpt["extras"]["ranks"][0]["carried_state"] is None                # random windows carry nothing
    result = read_result(tmp_path, "e2e")
    val = {int(r[0]): float(r[2]) for r in rows if r[1] == "val"}
    val_stream = {int(r[0]): float(r[2]) for r in rows if r[1] == "val_stream"}
    assert (result["steps"], result["stopped"], result["last_val_step"]) == (40, None, 40)
    assert result["best_val_loss"] == pytest.approx(min(val.values()), abs=1e-6)
    assert result["best_val_stream_loss"] == pytest.approx(val_stream[result["best_val_step"]], abs=1e-6)

    best = tmp_path / "e2e" / "ckpt" / "best.pt"
    scores = tmp_path / "scores.json"
    scored = run_script("part2/evaluate.py", "--checkpoint", best, "--device", "cpu", "--json", scores,
                        env=ONE_THREAD)
    assert scored.returncode == 0, scored.stderr
    scores = read_json(scores)
    assert scores["window_loss"] == pytest.approx(result["best_val_loss"], abs=1e-6)  # what train.py logged
    assert scores["stream_loss"] == pytest.approx(result["best_val_stream_loss"], abs=1e-6)
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


def assert_sample_rows(summ, steps, metrics):
    """samples.jsonl holds one row per sampling step with what was sampled, and samples.txt shows the
    same texts (newlines escaped)."""
    rows = [json.loads(line) for line in (summ / "samples.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [r["step"] for r in rows] == steps
    val = {int(m[0]): float(m[2]) for m in metrics if m[1] == "val"}
    text = (summ / "samples.txt").read_text(encoding="utf-8")
    for row in rows:
        assert set(row) == {"step", "validation_loss", "groups"}
        assert row["validation_loss"] == pytest.approx(val[row["step"]], abs=1e-6)
        shapes = [(g["kind"], g["length"], g["temperature"], g["prompt"], len(g["texts"])) for g in row["groups"]]
        assert shapes == [("greedy", 30, None, None, 5), ("greedy", 120, None, None, 2),
                          ("temperature", 120, 0.5, None, 1), ("temperature", 120, 1.0, None, 1),
                          ("temperature", 120, 2.0, None, 1)]
        for group in row["groups"]:
            assert all(len(t) == group["length"] for t in group["texts"])
            assert all(t.replace("\\", "\\\\").replace("\n", "\\n") in text for t in group["texts"])


def test_samples_jsonl_resume_drops_the_rows_after_the_checkpoint_and_a_cut_row(tmp_path):
    path = tmp_path / "samples.jsonl"
    path.write_text('{"step": 100, "groups": []}\n{"step": 200, "groups": []}\n{"step": 300, "gr', encoding="utf-8")
    truncate_after(path, 200)
    assert path.read_text(encoding="utf-8") == '{"step": 100, "groups": []}\n{"step": 200, "groups": []}\n'
    truncate_after(path, 150)
    assert path.read_text(encoding="utf-8") == '{"step": 100, "groups": []}\n'


def test_resume_after_train_steps_equals_uninterrupted(tmp_path, book, reference):
    args = ["--txt_file", str(book), *TINY, *run_dirs(tmp_path, "split")]
    assert train_main([*args, "--train_steps", "133"]) == 0          # stops mid print interval
    assert load_state(tmp_path, "split")["step"] == 133
    assert train_main([*args, "--resume", "--train_steps", str(STEPS)]) == 0
    assert_ends_like_the_reference(tmp_path, "split", reference)
    # and the reference learned to predict the next character (far below a uniform guess, ln 80 = 4.38)
    assert read_result(reference, "reference")["best_val_loss"] < math.log(80) - 1.0


def test_sigterm_at_a_chosen_step_saves_and_resume_equals_uninterrupted(tmp_path, book, reference, monkeypatch,
                                                                        capsys):
    args = ["--txt_file", str(book), *TINY, *run_dirs(tmp_path, "term"), "--train_steps", str(STEPS)]
    monkeypatch.setenv("SIGNAL_AT_STEP", "133:SIGTERM")        # the loop signals itself after step 133
    assert train_main(args) == 128 + signal.SIGTERM
    assert "stopped by SIGTERM at step 133" in capsys.readouterr().out
    assert load_state(tmp_path, "term")["step"] == 133
    result = read_result(tmp_path, "term")
    assert (result["stopped"], result["steps"]) == ("SIGTERM", 133)
    monkeypatch.delenv("SIGNAL_AT_STEP")
    assert train_main([*args, "--resume"]) == 0
    assert_ends_like_the_reference(tmp_path, "term", reference)
    assert read_result(tmp_path, "term")["stopped"] is None


def test_sigkill_then_resume_equals_uninterrupted(tmp_path, book, reference):
    """Killed at step 133, the run resumes from the checkpoint of step 100: the rows and samples the
    killed process wrote after it are dropped and written again, identically."""
    proc = run_script(TRAIN, "--txt_file", book, *TINY, *run_dirs(tmp_path, "killed"), "--train_steps", STEPS,
                      env={**ONE_THREAD, "SIGNAL_AT_STEP": "133:SIGKILL"})
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert load_state(tmp_path, "killed")["step"] == 100
    assert train_main(["--txt_file", str(book), *TINY, *run_dirs(tmp_path, "killed"), "--resume"]) == 0
    assert_ends_like_the_reference(tmp_path, "killed", reference)
    assert metric_rows(tmp_path, "killed") == metric_rows(reference, "reference")
    for file in ("samples.txt", "samples.jsonl"):
        samples = [(base / name / "summ" / file).read_text(encoding="utf-8")
                   for base, name in ((tmp_path, "killed"), (reference, "reference"))]
        assert samples[0] == samples[1]
    assert [json.loads(line)["step"] for line in samples[0].splitlines()] == [100, 200, 300]


def test_time_limit_stops_with_a_checkpoint_that_resumes(tmp_path, book, reference, monkeypatch):
    """A fake clock that advances one second per reading makes the limit hit at a fixed step."""
    ticks = itertools.count()
    monkeypatch.setattr(training, "now", lambda: float(next(ticks)))
    args = ["--txt_file", str(book), *TINY, *run_dirs(tmp_path, "timed"), "--train_steps", str(STEPS)]
    assert train_main([*args, "--time_limit", "120"]) == 0
    result = read_result(tmp_path, "timed")
    assert result["stopped"] == "time_limit" and 50 < result["steps"] < STEPS
    assert load_state(tmp_path, "timed")["step"] == result["steps"]
    monkeypatch.undo()
    assert train_main([*args, "--resume"]) == 0
    assert_ends_like_the_reference(tmp_path, "timed", reference)


def test_resume_across_a_learning_rate_decay_and_a_new_pass_of_carried_state(tmp_path, monkeypatch):
    """--carry_state on a short text: 37 steps per pass over the streams, the rate halved every 10
    steps. Stopped at step 35 and resumed to 80, the run crosses new passes (steps 38, 75) and decays
    (40 ... 80) after the resume and must end like the uninterrupted run: weights, carried state,
    learning rate, train rows."""
    short = write_book(tmp_path / "short.txt", generated_text(4000))
    args = ["--txt_file", str(short), *TINY, "--carry_state", "--learning_rate_step", "10",
            "--learning_rate_decay", "0.5", "--train_steps", "80"]
    from part2.dataset import TextDataset, TextStreams
    assert TextStreams(TextDataset(short, 12).train_data, 8, 12).chunks == 37
    assert train_main([*args, *run_dirs(tmp_path, "whole")]) == 0
    monkeypatch.setenv("SIGNAL_AT_STEP", "35:SIGTERM")
    assert train_main([*args, *run_dirs(tmp_path, "split")]) == 128 + signal.SIGTERM
    stopped = load_state(tmp_path, "split")
    assert stopped["step"] == 35 and stopped["extras"]["ranks"][0]["carried_state"][0].shape == (2, 8, 24)
    monkeypatch.delenv("SIGNAL_AT_STEP")
    assert train_main([*args, *run_dirs(tmp_path, "split"), "--resume"]) == 0
    whole, split = load_state(tmp_path, "whole"), load_state(tmp_path, "split")
    assert same_weights(whole["model"], split["model"])
    carried = [state["extras"]["ranks"][0]["carried_state"] for state in (whole, split)]
    assert all(torch.equal(a, b) for a, b in zip(*carried))
    assert split["optimizer"]["param_groups"][0]["lr"] == pytest.approx(0.01 * 0.5 ** 8)
    assert train_rows(tmp_path, "split") == train_rows(tmp_path, "whole")


def test_divergence_stops_naming_the_step_and_keeps_the_last_good_checkpoint(tmp_path, book):
    with pytest.raises(UserError) as err:
        train_main(["--txt_file", str(book), "--train_steps", "200", *TINY, "--optimizer", "momentum",
                    "--learning_rate", "1e4", "--max_norm", "1e9", "--checkpoint_every", "1",
                    *run_dirs(tmp_path, "nan")])
    message = str(err.value)
    assert "diverged" in message and "--learning_rate" in message and "--max_norm" in message
    bad_step = int(message.split("at step ")[1].split(";")[0])
    last = tmp_path / "nan" / "ckpt" / "last.pt"
    if bad_step > 1:
        kept = load_checkpoint(last, "part2")
        assert kept["step"] == bad_step - 1
        assert all(torch.isfinite(v).all() for v in kept["model"].values())
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
    from part2.options import PRESETS, parse_args
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


def test_optimizer_names_reach_the_optimizer(tmp_path, book):
    """--optimizer sgd is plain SGD and --optimizer momentum SGD with momentum 0.9 (the old 'sgd')."""
    for name, momentum in (("sgd", 0), ("momentum", 0.9)):
        assert train_main(["--txt_file", str(book), *TINY, "--train_steps", "2", "--optimizer", name,
                           "--sample_every", "0", *run_dirs(tmp_path, name)]) == 0
        group = load_state(tmp_path, name)["optimizer"]["param_groups"][0]
        assert group["momentum"] == momentum and "betas" not in group


def test_progress_bar_shows_no_validation_loss_before_the_first_validation():
    assert "val" not in training.progress_postfix(2.5, 0.3, float("nan"))
    assert training.progress_postfix(2.5, 0.3, 1.75)["val"] == "1.750"


def stream_trainer(book):
    from part2.dataset import TextDataset, TextStreams
    from part2.model import TextGenerationModel
    torch.manual_seed(0)
    ds = TextDataset(book, 12)
    model = TextGenerationModel(4, 12, ds.vocab_size, lstm_num_hidden=16, device="cpu", embedding_dim=8)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)  # the weights stay put
    streams = TextStreams(ds.train_data, 4, 12)
    trainer = training.Trainer(model, model, optimizer, torch.optim.lr_scheduler.StepLR(optimizer, 100),
                               training.StreamBatches(streams), 5.0, 1e9)
    return ds, model, streams, trainer


def streamed_losses(trainer, run, steps) -> list[float]:
    losses = []
    for _ in range(steps):
        run.sums.zero_()
        trainer.step(run)
        losses.append(run.sums[0].item())
    return losses


def loss_of(model, x, y, vocab):
    with torch.no_grad():
        logits, _ = model(x)                                                # (B, T, V)
    return torch.nn.functional.cross_entropy(logits.reshape(-1, vocab), y.reshape(-1)).item()


def test_carry_state_feeds_each_batch_the_state_of_the_batch_before(book):
    """With a zero learning rate the loss of the second streamed batch equals the loss of the second
    half of one forward pass over both batches joined in time."""
    ds, model, streams, trainer = stream_trainer(book)
    run = training.RunState.start(0, 0, "cpu")
    losses = streamed_losses(trainer, run, 2)
    assert run.carried[0].shape == (2, 4, 16)
    x = torch.cat([streams.batch(1)[0], streams.batch(2)[0]], 1)            # (4, 24)
    y = torch.cat([streams.batch(1)[1], streams.batch(2)[1]], 1)
    with torch.no_grad():
        logits, _ = model(x)                                                # (4, 24, V)
    joined = torch.nn.functional.cross_entropy(logits[:, 12:].reshape(-1, ds.vocab_size), y[:, 12:].reshape(-1))
    fresh = loss_of(model, x[:, 12:], y[:, 12:], ds.vocab_size)
    assert losses[1] == pytest.approx(joined.item(), abs=1e-5)
    assert abs(fresh - joined.item()) > 1e-3                               # the state matters here


def test_carry_state_starts_each_pass_from_a_zero_state(tmp_path):
    """The first batch of the second pass over the streams is read from zeros, not from the state the
    first pass ended with."""
    book = write_book(tmp_path / "short.txt", generated_text(3000))
    ds, model, streams, trainer = stream_trainer(book)
    run = training.RunState.start(0, 0, "cpu")
    losses = streamed_losses(trainer, run, streams.chunks + 1)
    x, y, new_pass = streams.batch(streams.chunks + 1)
    assert new_pass
    assert losses[-1] == pytest.approx(loss_of(model, x, y, ds.vocab_size), abs=1e-5)
    assert losses[-1] == pytest.approx(losses[0], abs=1e-5)                 # the same batch as step 1


@pytest.fixture(scope="module")
def best(reference):
    return reference / "reference" / "ckpt" / "best.pt"


def sample_json(tmp_path, best, *flags):
    from part2.sample import main as sample_main
    out = tmp_path / f"sample{len(list(tmp_path.iterdir()))}.json"
    assert sample_main(["--checkpoint", str(best), "--device", "cpu", "--json", str(out), *map(str, flags)]) == 0
    return read_json(out)["samples"]


def test_sample_seed_gives_the_same_text_and_another_seed_another(tmp_path, best, capsys):
    flags = ["--method", "sample", "--length", "80", "--num_samples", "2"]
    first, again, other = (sample_json(tmp_path, best, *flags, "--seed", seed) for seed in (1, 1, 2))
    assert [s["text"] for s in first] == [s["text"] for s in again]
    assert [s["text"] for s in first] != [s["text"] for s in other]
    assert first[0]["text"] != first[1]["text"]                            # two draws, not one twice
    printed = capsys.readouterr().out
    assert first[0]["text"] in printed and "--- sample, beta=1 1/2" in printed


def test_sample_greedy_decodes_with_the_books_vocabulary(tmp_path, best, book):
    """sample.py's text equals the library's greedy continuation encoded and decoded by the dataset."""
    from part2.checkpoints import load_trained_model
    from part2.dataset import TextDataset
    from part2.sampling import generate
    model, _, _ = load_trained_model(best, "cpu")
    dataset = TextDataset(book, 12)
    prompt = "The king said"
    expected = dataset.convert_to_string(generate(model, [dataset.encode(prompt)], 60)[0])
    [greedy] = sample_json(tmp_path, best, "--method", "greedy", "--prompt", prompt, "--length", 60)
    assert greedy["text"] == prompt + expected and greedy["continuation"] == expected


def test_sample_stop_at_and_length_norm_reach_beam_search(tmp_path, best):
    """--stop_at ends every beam at its first stop character; --length_norm changes the ranking, and
    sample.py prints the beams that beam_search returns for the same arguments."""
    from part2.checkpoints import load_trained_model
    from part2.sampling import beam_search
    model, vocabulary, _ = load_trained_model(best, "cpu")
    prompt, stops = "The king", " ,."
    ids = [vocabulary.index(ch) for ch in prompt]
    stop_ids = [vocabulary.index(ch) for ch in stops]
    ranked = {}
    for alpha in (0, 1):
        beams = sample_json(tmp_path, best, "--method", "beam", "--beam_width", 5, "--num_samples", 5,
                            "--prompt", prompt, "--length", 30, "--stop_at", stops, "--length_norm", alpha)
        for beam in beams:
            text = beam["continuation"]
            assert len(text) == 30 or (text[-1] in stops and not set(text[:-1]) & set(stops))
        expected = beam_search(model, ids, 30, 5, length_norm=alpha, stop_ids=stop_ids, return_all=True)
        ranked[alpha] = [beam["continuation"] for beam in beams]
        assert ranked[alpha] == ["".join(vocabulary[i] for i in seq.tolist()) for seq, _ in expected[:5]]
    assert ranked[0] != ranked[1]
