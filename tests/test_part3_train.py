"""part3/train.py: karate-club data and split, accuracy well above chance, reruns, the CLI and its errors."""
from __future__ import annotations

import csv
import json

import pytest
import torch

from part3 import train
from tests.conftest import assert_one_line_error, run_script


def test_karate_club_data():
    edge_index, labels = train.karate_club()
    assert labels.shape == (34,) and torch.bincount(labels).tolist() == [17, 17]
    assert edge_index.shape == (2, 2 * 78)  # 78 friendships, both directions
    pairs = set(map(tuple, edge_index.T.tolist()))
    assert all((v, u) in pairs for u, v in pairs)
    assert labels[0] == 0 and labels[33] == 1  # the instructor (Mr. Hi) and the officer


@pytest.mark.parametrize("per_class", [1, 3, 16])
def test_split_is_per_class_disjoint_and_seeded(per_class):
    _, labels = train.karate_club()
    labelled, held_out = train.split(labels, per_class, torch.Generator().manual_seed(4))
    assert torch.bincount(labels[labelled], minlength=2).tolist() == [per_class, per_class]
    assert len(held_out) == 34 - 2 * per_class
    assert not set(labelled.tolist()) & set(held_out.tolist())
    again, _ = train.split(labels, per_class, torch.Generator().manual_seed(4))
    assert torch.equal(labelled, again)


def test_split_rejects_a_class_without_held_out_nodes():
    _, labels = train.karate_club()
    with pytest.raises(train.UserError, match="at most 16"):
        train.split(labels, 17, torch.Generator().manual_seed(0))


def test_training_beats_chance_and_reruns_identically():
    args = train.parse_args(["--epochs", "100"])
    edge_index, labels = train.karate_club()
    threads = torch.get_num_threads()
    torch.set_num_threads(args.threads)  # as main() does: the tiny graph only loses from threads
    try:
        runs = [train.train_one(seed, args, edge_index, labels, torch.device("cpu"))
                for seed in (0, 1, 0)]
    finally:
        torch.set_num_threads(threads)
    # Chance is 0.5 (two factions of 17); one labelled member each, 32 held out.
    assert runs[0]["held_out"] == 32
    assert min(run["held_out_accuracy"] for run in runs) >= 0.75, [r["held_out_accuracy"] for r in runs]
    assert runs[0]["history"][-1]["train_loss"] < runs[0]["history"][0]["train_loss"]
    assert runs[0]["history"] == runs[2]["history"]  # the same seed: bit-identical metrics


def test_projection_to_2d():
    h = torch.randn(34, 16)
    points, kind = train.project_2d(h)
    assert points.shape == (34, 2) and "principal" in kind
    centred = h - h.mean(0)  # the first axis carries the largest variance of any direction
    assert points[:, 0].var() >= (centred @ torch.nn.functional.normalize(torch.randn(16), dim=0)).var()
    same, kind = train.project_2d(h[:, :2])
    assert torch.equal(same, h[:, :2]) and kind == "hidden units"


def test_script_end_to_end(tmp_path):
    proc = run_script("part3/train.py", "--epochs", "30", "--num_seeds", "2", "--seed", "3",
                      "--snapshots", "3", "--out", tmp_path / "karate")
    assert proc.returncode == 0, proc.stderr
    assert "held-out accuracy over 2 seed(s)" in proc.stdout
    out = tmp_path / "karate"
    assert (out / "embedding.png").read_bytes()[:4] == b"\x89PNG"
    with open(out / "metrics.csv", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["seed"] for row in rows] == ["3", "4"]
    metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["args"]["epochs"] == 30 and metrics["environment"]["torch"] == torch.__version__
    accuracies = [float(row["held_out_accuracy"]) for row in rows]
    assert metrics["summary"]["mean"] == pytest.approx(sum(accuracies) / 2, abs=1e-6)
    with open(out / "history.csv", encoding="utf-8") as handle:
        assert len(list(csv.DictReader(handle))) == 31  # epochs 0..30


BAD_FLAGS = [  # run as a user would, in a subprocess
    (["--hidden", "0"], "--hidden"),
    (["--lr", "-1"], "--lr"),
    (["--epochs", "0"], "--epochs"),
    (["--labelled_per_class", "17"], "at most 16"),
]
if not torch.cuda.is_available():
    BAD_FLAGS.append((["--device", "cuda"], "CUDA is not available"))


@pytest.mark.parametrize("flags,fragment", BAD_FLAGS, ids=[" ".join(f) for f, _ in BAD_FLAGS])
def test_bad_flags_are_one_line_errors(tmp_path, flags, fragment):
    out = tmp_path / "out"
    proc = run_script("part3/train.py", *flags, "--out", out)
    assert_one_line_error(proc, fragment)
    assert not out.exists()  # nothing is created by a run that failed to start


@pytest.mark.parametrize("flags,fragment", [
    (["--num_seeds", "0"], "--num_seeds"),
    (["--dropout", "1"], "--dropout"),
    (["--dropout", "-0.5"], "--dropout"),
    (["--weight_decay", "-0.1"], "--weight_decay"),
    (["--lr", "inf"], "--lr"),
    (["--snapshots", "0"], "--snapshots"),
    (["--threads", "0"], "--threads"),
    (["--seed", "-1"], "--seed"),
])
def test_more_bad_flags_rejected_by_argparse(capsys, flags, fragment):
    # The same argparse path as the subprocess cases above, checked in-process to keep the suite fast.
    with pytest.raises(SystemExit) as info:
        train.parse_args(flags)
    assert info.value.code == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert "error:" in last and fragment in last
