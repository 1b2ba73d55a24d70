"""Part 2's checkpoints: the layout of :mod:`common.checkpoint` (kind ``"part2"``) with these extras:

* ``vocabulary`` -- the sorted characters of the book (id ``i`` is ``vocabulary[i]``);
* ``progress`` -- the scalar fields of :class:`part2.training.RunState` (best validation loss and its
  step, the carried-state loss there, the last validation loss, the training time so far);
* ``ranks`` -- one entry per process, also for a single one: its dropout RNG (``torch_rng``), batch
  generator (``batch_rng``), running metric sums (``sums``) and, with ``--carry_state``, the carried
  ``(h, c)`` (``carried_state``, each ``(L, B_rank, H)``; None otherwise).

``rng`` holds the generator of the samples written during training (rank 0's). :func:`save_run`
writes a run and :func:`restore_run` reads it back; ``sample.py`` and ``evaluate.py`` open a
checkpoint with :func:`load_trained_model`.
"""
from __future__ import annotations

from pathlib import Path

import torch

from common.args import merge_resumed_args
from common.checkpoint import (checkpoint_state, load_checkpoint, restore, rng_state, save_checkpoint,
                               set_rng_state)
from common.runtime import UserError
from part2.model import build_model
from part2.options import RESUME_OVERRIDABLE
from part2.training import PROGRESS, RunState, Trainer

KIND = "part2"


def rank_entry(run: RunState) -> dict:
    """This process's share of the run's state (CPU tensors)."""
    carried = None if run.carried is None else tuple(t.cpu() for t in run.carried)
    return {"torch_rng": torch.get_rng_state(), "batch_rng": run.batch_gen.get_state(),
            "sums": run.sums.cpu(), "carried_state": carried}


def gather_ranks(ddp, run: RunState) -> list[dict]:
    """Every process's :func:`rank_entry`, in rank order (a collective call under torchrun)."""
    mine = rank_entry(run)
    columns = [_gather(ddp, value) for value in mine.values()]  # one list of world values per key
    return [dict(zip(mine, values)) for values in zip(*columns)]


def _gather(ddp, value) -> list:
    if value is None:
        return [None] * ddp.world
    if isinstance(value, tuple):
        return list(zip(*(ddp.gather(t) for t in value)))
    return ddp.gather(value)


def save_run(path, args, vocabulary: list, trainer: Trainer, run: RunState, ranks: list[dict]) -> None:
    """Write the run (``ranks`` from :func:`gather_ranks`) to ``path``, atomically."""
    progress = {key: getattr(run, key) for key in PROGRESS}
    state = checkpoint_state(KIND, run.step, vars(args), trainer.model, trainer.optimizer, trainer.scheduler,
                             rng=rng_state(run.sample_gen),
                             extras={"vocabulary": list(vocabulary), "progress": progress, "ranks": ranks})
    save_checkpoint(state, Path(path))


def restore_run(state: dict, trainer: Trainer, run: RunState, rank: int) -> None:
    """Undo :func:`save_run` for process ``rank``: weights, optimizer, schedule, RNGs, progress."""
    restore(state, trainer.model, trainer.optimizer, trainer.scheduler)
    set_rng_state(state["rng"], run.sample_gen)
    mine = state["extras"]["ranks"][rank]
    torch.set_rng_state(mine["torch_rng"])  # each process continues its own dropout draws
    run.batch_gen.set_state(mine["batch_rng"])
    device = run.sums.device
    run.sums = mine["sums"].to(device)
    if mine["carried_state"] is not None:
        run.carried = tuple(t.to(device) for t in mine["carried_state"])
    run.step = state["step"]
    for key, value in state["extras"]["progress"].items():
        setattr(run, key, value)


def resolve_resume(args, given: set) -> dict | None:
    """Load the checkpoint to resume (or None) and merge its saved arguments into ``args``."""
    if args.resume is None:
        return None
    path = Path(args.checkpoint_dir) / "last.pt" if args.resume == "auto" else Path(args.resume)
    state = load_checkpoint(path, KIND, map_location="cpu")
    if not {"vocabulary", "progress", "ranks"} <= state["extras"].keys():
        raise UserError(f"checkpoint '{path}' lacks the training state; it cannot be resumed")
    saved = state["args"]
    merge_resumed_args(args, saved, given - {"preset"}, RESUME_OVERRIDABLE)  # the saved preset wins
    if "txt_file" not in given:
        args.txt_file = saved.get("txt_file")
    if state["step"] >= args.train_steps:
        raise UserError(f"checkpoint '{path}' is already at step {state['step']} of --train_steps "
                        f"{args.train_steps}; pass a larger --train_steps to train further")
    state["path"] = str(path)
    return state


def load_trained_model(path, device):
    """The model of a part-2 checkpoint in eval mode, its vocabulary and the checkpoint itself."""
    state = load_checkpoint(path, KIND, map_location=device)
    vocabulary = state["extras"].get("vocabulary")
    if not state.get("model") or not vocabulary:
        raise UserError(f"checkpoint '{path}' holds no model")
    model = build_model(len(vocabulary), state["args"], device)
    model.load_state_dict(state["model"])
    return model.eval(), list(vocabulary), state


def check_fresh_start(args) -> None:
    """Refuse to clobber a previous run unless --overwrite (or --resume) says so."""
    previous = [p for p in (Path(args.checkpoint_dir) / "last.pt", Path(args.summary_path) / "metrics.csv")
                if p.exists()]
    if previous and not args.overwrite:
        raise UserError(f"'{previous[0]}' holds a previous run; pass --resume to continue it, "
                        "--overwrite to start afresh, or another --checkpoint_dir/--summary_path")
