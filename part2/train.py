"""Train the character-level LSTM of part 2 on a book.

    python part2/train.py                                      # the Grimm copy shipped in assets/
    python part2/train.py --txt_file BOOK --preset best        # the best configuration found
    python part2/train.py --resume                             # continue checkpoints/part2/last.pt

Every ``--print_every`` steps the mean training loss and accuracy go to TensorBoard
(``<summary_path>/tensorboard``) and ``<summary_path>/metrics.csv``; every ``--val_every`` steps the
held-out tail of the book is evaluated; every ``--sample_every`` steps samples are appended to
``<summary_path>/samples.jsonl`` (and as text to ``samples.txt``); at the end ``curves.png`` and
``result.json`` are written.
Checkpoints (``last.pt``, ``best.pt``) are written atomically every ``--checkpoint_every`` steps, at
the end, and on Ctrl-C, SIGTERM or ``--time_limit``; ``--resume`` continues bit for bit (CPU).
The flags are defined in ``part2/options.py``, the pieces of the loop in ``part2/training.py``.
"""
from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import signal

import torch
from tqdm import tqdm

from common.checkpoint import StopRequest, plain_environment
from common.optim import make_optimizer
from common.runtime import UserError, resolve_device, run_main, seed_everything
from part2.checkpoints import check_fresh_start, gather_ranks, resolve_resume, restore_run, save_run
from part2.dataset import TextDataset
from part2.distributed import Dist
from part2.logs import RunLog
from part2.model import build_model
from part2.options import parse_args
from part2.sampling import training_samples
from part2.training import (Budget, Due, RunState, Throughput, Trainer, agreed_stop, explode_limit, make_batches,
                            progress_postfix, validate)


def main(argv=None) -> int:
    args, given = parse_args(argv)
    ckpt = resolve_resume(args, given)
    device = resolve_device(args.device)
    dataset = load_book(args)
    ddp = Dist()
    local_batch = ddp.split_batch(args.batch_size)
    if ckpt is None:
        check_fresh_start(args)
    else:
        check_resumable(ckpt, dataset, args, ddp.world)
    device = ddp.start(device)
    try:
        code = train(args, ckpt, dataset, device, ddp, local_batch)
        ddp.barrier()  # leave together: a rank that tears gloo down while rank 0 still writes can abort
        return code
    finally:
        ddp.close()


def load_book(args) -> TextDataset:
    if args.txt_file is None:
        from assets.gutenberg import book_file
        args.txt_file = str(book_file(args.book))
    return TextDataset(args.txt_file, args.seq_length, val_fraction=args.val_fraction,
                       strip_header=not args.keep_gutenberg_header)


def check_resumable(ckpt: dict, dataset: TextDataset, args, world: int) -> None:
    vocabulary, ranks = ckpt["extras"]["vocabulary"], len(ckpt["extras"]["ranks"])
    if vocabulary != dataset.chars:
        raise UserError(f"the checkpoint's vocabulary ({len(vocabulary)} characters) differs from "
                        f"that of '{args.txt_file}' ({dataset.vocab_size}); resume on the same book")
    if ranks != world:
        raise UserError(f"checkpoint '{ckpt['path']}' was written by {ranks} process(es); "
                        f"resume it with the same number (now {world})")


def train(args, ckpt, dataset, device, ddp, local_batch) -> int:
    """The training loop of :func:`main` (all inputs already checked); only rank 0 writes."""
    seed_everything(args.seed + ddp.rank)
    model = build_model(dataset.vocab_size, vars(args), device)
    optimizer = make_optimizer(args.optimizer, model.parameters(), args.learning_rate)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, args.learning_rate_step, args.learning_rate_decay)
    trainer = Trainer(model, ddp.wrap(model), optimizer, scheduler,
                      make_batches(dataset, args.carry_state, args.batch_size, local_batch, ddp.rank),
                      args.max_norm, explode_limit(dataset.vocab_size))
    run = RunState.start(args.seed, ddp.rank, device)
    if ckpt is not None:
        restore_run(ckpt, trainer, run, ddp.rank)
    start_step, ckpt_dir = run.step, Path(args.checkpoint_dir)
    log = open_log(args, dataset, model, ddp, resumed=ckpt is not None, step=start_step) if ddp.is_main else None
    budget, speed = Budget(args.time_limit, run.elapsed_s), Throughput(start_step, args.batch_size * args.seq_length)
    stopped = None
    with StopRequest() as stop, tqdm(total=args.train_steps, initial=start_step, desc="train", file=sys.stderr,
                                     disable=args.quiet or log is None, dynamic_ncols=True) as bar:
        while run.step < args.train_steps and not stopped:
            trainer.step(run)
            stopped = agreed_stop(ddp, stop.check(run.step) or budget.expired(), run.step % args.print_every == 0)
            due = Due.at(run.step, args, stopped)
            if any(due):
                check_finite(ddp, run, trainer, args)
            if due.print:
                loss, accuracy = (ddp.mean(run.sums) / args.print_every).tolist()
                run.sums.zero_()
                if log is not None:
                    log.row(run.step, "train", loss, accuracy, trainer.learning_rate, budget.elapsed(),
                            f"{speed.tick(run.step):.0f}")
                    bar.set_postfix(progress_postfix(loss, accuracy, run.last_val_loss), refresh=False)
            improved = False
            if due.validate and log is not None:
                windows, stream, improved = validate(model, dataset, run)
                log.validation(run.step, windows, stream, trainer.learning_rate, budget.elapsed())
                if not args.quiet:
                    bar.write(f"step {run.step}: validation loss {windows[0]:.4f} nats/char, accuracy "
                              f"{windows[1]:.4f} (carried state: {stream[0]:.4f}, {stream[1]:.4f}), "
                              f"lr {trainer.learning_rate:.3g}")
            if due.sample and log is not None:
                log.samples(training_samples(model, dataset.chars, run.sample_gen, run.step, run.last_val_loss))
            if due.validate or due.checkpoint:  # every rank reaches these steps together
                run.elapsed_s = budget.elapsed()
                ranks = gather_ranks(ddp, run)
                for name, wanted in (("best.pt", improved), ("last.pt", due.checkpoint)):
                    if wanted and log is not None:
                        save_run(ckpt_dir / name, args, dataset.chars, trainer, run, ranks)
            bar.update(1)
    return finish(args, run, log, stopped, budget, start_step, ddp)


def open_log(args, dataset, model, ddp, resumed: bool, step: int) -> RunLog:
    config = {"args": vars(args), "environment": plain_environment(), "vocab_size": dataset.vocab_size,
              "train_chars": len(dataset.train_data), "val_chars": len(dataset.val_data),
              "parameters": sum(p.numel() for p in model.parameters()), "processes": ddp.world}
    print(f"training on '{args.txt_file}': {config['train_chars']:,} train / {config['val_chars']:,} validation "
          f"characters, vocabulary {dataset.vocab_size}, {config['parameters']:,} parameters, device "
          f"{model.device}" + (f", {ddp.world} processes" if ddp.active else "")
          + (f", resuming at step {step}" if resumed else ""), flush=True)
    return RunLog(args.summary_path, config, step if resumed else None)


def check_finite(ddp, run: RunState, trainer: Trainer, args) -> None:
    """Raise the divergence error if any process saw a bad loss (a collective call under torchrun)."""
    bad = int(ddp.max(run.first_bad))
    if bad >= 0:
        raise UserError(f"training diverged: the loss became NaN or exploded (> {trainer.explode_limit:.1f}) "
                        f"at step {bad}; lower --learning_rate (now {args.learning_rate:g}) or check --max_norm "
                        f"({args.max_norm:g}); the last good checkpoint is kept in '{args.checkpoint_dir}'")


def finish(args, run: RunState, log: RunLog | None, stopped: str | None, budget: Budget, start_step: int,
           ddp) -> int:
    """Write result.json and curves.png, say how the run ended; the exit code (128 + signal after a
    signal, else 0)."""
    code = 128 + int(getattr(signal, stopped)) if stopped in ("SIGINT", "SIGTERM") else 0
    if log is None:
        return code
    log.close()
    ckpt_dir = Path(args.checkpoint_dir)
    log.result({**log.last_validation, "steps": run.step, "train_steps": args.train_steps,
                "seconds": budget.elapsed(), "stopped": stopped, "best_val_loss": run.best_val_loss,
                "best_val_step": run.best_step, "best_val_stream_loss": run.best_val_stream_loss,
                "processes": ddp.world, "checkpoint": str(ckpt_dir / "last.pt"),
                "best_checkpoint": str(ckpt_dir / "best.pt")})
    if stopped and run.step < args.train_steps:
        reason = f"--time_limit {args.time_limit:g} s" if stopped == "time_limit" else stopped
        launcher = f"torchrun --nproc_per_node {ddp.world} " if ddp.active else "python "
        print(f"stopped by {reason} at step {run.step}; checkpoint saved to '{ckpt_dir / 'last.pt'}'; "
              f"continue with: {launcher}part2/train.py --resume", flush=True)
        if code:
            return code
    from part2.plot import plot_curves
    png = plot_curves(log.csv_path, log.folder / "curves.png", title=f"part 2, {Path(args.txt_file).name}")
    seconds, trained = budget.session(), run.step - start_step
    speed = (f"{trained / seconds:.1f} steps/s, {trained * args.batch_size * args.seq_length / seconds:,.0f} "
             "chars/s; " if trained and seconds > 0 else "")
    print(f"done at step {run.step}: validation loss {run.last_val_loss:.4f} (best {run.best_val_loss:.4f} at step "
          f"{run.best_step}, {run.best_val_stream_loss:.4f} with carried state); {speed}checkpoints in "
          f"'{ckpt_dir}', curves in '{png}'", flush=True)
    return 0


if __name__ == "__main__":
    run_main(main)
