"""part2/train.py under torchrun: 2 CPU processes (gloo), rank-0-only output, exact resume."""
from __future__ import annotations

import math

import pytest
import torch

from common.runtime import UserError
from part2.train import main as train_main
from tests.conftest import run_script
from tests.test_part2_support import (ONE_THREAD, TINY, TRAIN, book_for_tests, load_state, metric_rows,
                                      run_dirs, same_weights, single_thread)  # noqa: F401

pytestmark = pytest.mark.usefixtures("single_thread")
STEPS = 60


def torchrun(*args):
    return run_script("-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", TRAIN, *args,
                      env={**ONE_THREAD, "PYTHONHASHSEED": "0"})


@pytest.fixture(scope="module")
def book():
    return book_for_tests()


def val_losses(base, name):
    return [float(row[2]) for row in metric_rows(base, name) if row[1] == "val"]


def test_two_processes_train_like_one_with_the_same_total_batch_and_resume_exactly(tmp_path, book):
    common = ["--txt_file", str(book), *TINY, "--batch_size", "16", "--val_every", "30", "--sample_every", "30",
              "--checkpoint_every", "20"]
    full = torchrun(*common, "--train_steps", STEPS, *run_dirs(tmp_path, "ddp"))
    assert full.returncode == 0, full.stderr[-3000:]
    assert full.stdout.count("training on") == 1 and "2 processes" in full.stdout   # only rank 0 speaks
    rows = metric_rows(tmp_path, "ddp")
    assert len(rows) == len(set(rows)) and [r[0] for r in rows if r[1] == "val"] == ["30", "60"]
    state = load_state(tmp_path, "ddp")
    ranks = state["extras"]["ranks"]
    assert len(ranks) == 2 and not torch.equal(ranks[0]["batch_rng"], ranks[1]["batch_rng"])  # different batches

    # one process with the same total batch (16) reaches a comparable loss
    assert train_main([*common, "--train_steps", str(STEPS), *run_dirs(tmp_path, "single")]) == 0
    ddp_loss, single_loss = val_losses(tmp_path, "ddp")[-1], val_losses(tmp_path, "single")[-1]
    print(f"validation loss after {STEPS} steps: 2 processes {ddp_loss:.4f}, 1 process {single_loss:.4f}")
    assert abs(ddp_loss - single_loss) < 0.1, (ddp_loss, single_loss)
    assert ddp_loss < math.log(len(state["extras"]["vocabulary"])) - 0.5  # it learned something

    # stopped at step 20 (another --train_steps) and resumed with two processes: identical weights
    part = torchrun(*common, "--train_steps", 20, *run_dirs(tmp_path, "split"))
    assert part.returncode == 0, part.stderr[-3000:]
    resumed = torchrun(*common, "--train_steps", STEPS, "--resume", *run_dirs(tmp_path, "split"))
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert same_weights(load_state(tmp_path, "split")["model"], state["model"])
    train_rows = [r for r in metric_rows(tmp_path, "split") if r[1] == "train"]
    assert train_rows == [r for r in rows if r[1] == "train"]

    # a two-process checkpoint is not resumed by one process
    with pytest.raises(UserError, match="2 process"):
        train_main([*common, "--resume", "--train_steps", "80", *run_dirs(tmp_path, "ddp")])


def test_total_batch_must_split_evenly(monkeypatch):
    from part2.distributed import Dist
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    ddp = Dist()
    assert ddp.active and not ddp.is_main and ddp.split_batch(64) == 32
    with pytest.raises(UserError, match="--batch_size 9 must be divisible by the 2 processes"):
        ddp.split_batch(9)


def test_carry_state_under_two_processes_matches_one_process_and_resumes(tmp_path, book):
    """Each rank reads its own half of the streams and carries its own state, also across a resume:
    without dropout, two processes of batch 8 train (up to float rounding) like one process of 16."""
    common = ["--txt_file", str(book), *TINY, "--batch_size", "16", "--dropout_keep_prob", "1.0",
              "--carry_state", "--val_every", "40", "--sample_every", "0", "--checkpoint_every", "10"]
    part = torchrun(*common, "--train_steps", 20, *run_dirs(tmp_path, "ddp"))
    assert part.returncode == 0, part.stderr[-3000:]
    resumed = torchrun(*common, "--train_steps", 40, "--resume", *run_dirs(tmp_path, "ddp"))
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert train_main([*common, "--train_steps", "40", *run_dirs(tmp_path, "single")]) == 0
    ddp, single = load_state(tmp_path, "ddp"), load_state(tmp_path, "single")
    assert [r["carried_state"][0].shape for r in ddp["extras"]["ranks"]] == [(2, 8, 24)] * 2
    for name, value in single["model"].items():
        assert torch.allclose(ddp["model"][name], value, atol=1e-4), name
    h_single = single["extras"]["ranks"][0]["carried_state"][0]             # (L, 16, H)
    h_ddp = torch.cat([r["carried_state"][0] for r in ddp["extras"]["ranks"]], 1)
    assert torch.allclose(h_ddp, h_single, atol=1e-4)
