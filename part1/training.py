"""One part-1 training run as a library: the model and optimizer the flags name, the validation
(early stopping) and test evaluations, the divergence check, the run's state and its checkpoint, and the loop itself.

``part1/train.py`` is the command line over :func:`train`; the length study calls :func:`train` in
process (``train(parse_args(argv))``), and the gradient study and the benchmark build their models
with :func:`build_model`.

A run's output folder receives ``config.json`` (flags and package versions), ``metrics.csv`` (one
row per evaluation, columns :data:`METRIC_FIELDS`), ``checkpoint.pt`` (the whole :class:`Run`,
every ``--checkpoint_every`` steps, at the end and on Ctrl-C / SIGTERM), ``model.pt`` (the final
weights, same layout with no optimizer) and ``result.json`` (keys :data:`RESULT_KEYS`).
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm import tqdm

from common.args import merge_resumed_args
from common.checkpoint import (StopRequest, checkpoint_state, load_checkpoint, restore, rng_state,
                               save_checkpoint, set_rng_state)
from common.io import prepare_out_dir, write_csv, write_json
from common.optim import make_optimizer
from common.runtime import UserError, environment_info, resolve_device, seed_everything
from part1.dataset import PalindromeDataset, encode_input, fixed_test_set, fixed_validation_set
from part1.lstm import LSTM
from part1.options import (ARCHITECTURE, RESUME_CURRENT, RESUME_OVERRIDABLE, RESUME_SAVED,
                           checkpoint_to_resume, resume_path)
from part1.vanilla_rnn import VanillaRNN

CHECKPOINT_KIND = "part1"  # checkpoint.pt and model.pt alike
EXPLODED_LOSS = 100.0  # cross-entropy over 10 classes starts at ln 10 = 2.3; 100 means divergence
METRIC_FIELDS = ["step", "train_loss", "val_loss", "val_accuracy", "grad_norm", "seconds"]
# result.json: status is max_steps, early_stop or time_limit; test_* are on the --test_size held-out
# palindromes; train_seconds sums the training time of every session of a resumed run.
RESULT_KEYS = ("model_type", "input_length", "seed", "status", "steps", "test_accuracy",
               "test_loss", "test_size", "train_seconds")


def build_model(args, device) -> torch.nn.Module:
    """The network named by ``args.model_type`` with the initialisation the flags choose."""
    common = dict(seq_length=args.input_length, input_dim=args.input_dim,
                  num_hidden=args.num_hidden, num_classes=args.num_classes, device=device,
                  init=args.init, bptt=getattr(args, "bptt", "manual"))
    if args.model_type == "RNN":
        return VanillaRNN(**common, recurrent_init=args.recurrent_init)
    return LSTM(**common, forget_bias=args.forget_bias, chrono=args.chrono)


def build_optimizer(args, model) -> torch.optim.Optimizer:
    """``--optimizer`` (one of common.optim.OPTIMIZERS) over the model's parameters."""
    return make_optimizer(args.optimizer, model.parameters(), args.learning_rate,
                          getattr(args, "weight_decay", None))


@torch.no_grad()
def evaluate(model, digits, targets, input_dim, device, chunk=2500) -> tuple[float, float]:
    """Mean cross-entropy and accuracy of ``model`` on held-out ``digits`` ``(N, T)`` and
    ``targets`` ``(N,)``, in chunks of ``chunk`` palindromes."""
    was_training = model.training
    model.eval()
    loss_sum, correct = 0.0, 0
    for x, y in zip(digits.split(chunk), targets.split(chunk)):
        logits = model(encode_input(x, input_dim).to(device))  # (b, K)
        y = y.to(device)
        loss_sum += F.cross_entropy(logits, y, reduction="sum").item()
        correct += (logits.argmax(dim=1) == y).sum().item()
    model.train(was_training)
    return loss_sum / len(targets), correct / len(targets)


@dataclass
class Run:
    """Everything a run changes as it trains; :func:`save_run` writes it whole to checkpoint.pt and
    :func:`load_run` reads it back, so a resumed run continues bit for bit."""
    args: argparse.Namespace
    out: Path
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    generator: torch.Generator  # draws the training batches
    step: int = 0
    history: list = field(default_factory=list)  # the rows of metrics.csv
    streak: int = 0  # consecutive evaluations at or above --early_stop_accuracy
    elapsed: float = 0.0  # seconds of training, summed over resumed sessions
    saved_at: tuple | None = None  # (path, step) of the newest good checkpoint on disk

    @property
    def checkpoint_path(self) -> Path:
        return self.out / "checkpoint.pt"


def new_run(args, device, out: Path, init_weights: dict | None = None) -> Run:
    """A run at step 0: weights from the seed (or ``init_weights``), a fresh optimizer."""
    seed_everything(args.seed)
    model = build_model(args, device)
    if init_weights is not None:  # the loaded weights replace the initialisation
        try:
            model.load_state_dict(init_weights)
        except RuntimeError as exc:
            raise UserError(f"--init_from '{args.init_from}': its weights do not fit the model: "
                            f"{str(exc).splitlines()[0]}") from None
    return Run(args=args, out=out, model=model, optimizer=build_optimizer(args, model),
               generator=torch.Generator().manual_seed(args.seed))


def save_run(run: Run, path: Path | None = None) -> None:
    """Write the run's state to ``path`` (default its checkpoint.pt), atomically."""
    path = path or run.checkpoint_path
    extras = {"history": run.history, "streak": run.streak, "elapsed": run.elapsed}
    save_checkpoint(checkpoint_state(CHECKPOINT_KIND, run.step, vars(run.args), run.model,
                                     run.optimizer, rng=rng_state(run.generator), extras=extras),
                    path)
    run.saved_at = (str(path), run.step)


def load_run(run: Run, state: dict) -> None:
    """Undo :func:`save_run`: ``state`` is what :func:`common.checkpoint.load_checkpoint` read."""
    restore(state, run.model, run.optimizer)
    set_rng_state(state["rng"], run.generator)
    extras = state["extras"]
    run.step, run.history = state["step"], extras["history"]
    run.streak, run.elapsed = extras["streak"], extras["elapsed"]


def read_init_from(args, device) -> dict:
    """The weights (a state dict) in the ``model.pt`` named by ``--init_from``, checked against the
    architecture the flags ask for; a one-line :class:`UserError` when they cannot be used."""
    path = Path(args.init_from)
    try:
        saved = load_checkpoint(path, CHECKPOINT_KIND, map_location=device)
    except UserError as exc:
        raise UserError(f"--init_from: {exc}") from None
    if not isinstance(saved.get("model"), dict) or not isinstance(saved.get("args"), dict):
        raise UserError(f"--init_from '{path}' lacks the model weights or the flags that made them")
    for key in ARCHITECTURE:
        theirs, ours = saved["args"].get(key), getattr(args, key)
        if theirs != ours:
            raise UserError(f"--init_from '{path}' holds a model with --{key} {theirs}, but this run "
                            f"asks for --{key} {ours}; pass the same --{key} or another model.pt")
    return saved["model"]


def resume_checkpoint(args, given: set, device) -> dict:
    """Load the checkpoint ``--resume`` names and take the flags that define the run from it (see
    ``RESUME_OVERRIDABLE``); ``given`` names the flags written on the command line."""
    path = checkpoint_to_resume(args)
    if not path.exists():
        raise UserError(f"--resume: no checkpoint at '{path}'")
    saved = load_checkpoint(path, CHECKPOINT_KIND, map_location=device)
    extras = saved.get("extras") or {}
    if saved.get("optimizer") is None or not {"history", "streak", "elapsed"} <= set(extras):
        raise UserError(f"checkpoint '{path}' lacks the training state (a model.pt?); it cannot "
                        "be resumed")
    merge_resumed_args(args, saved["args"], set(given) - RESUME_SAVED, RESUME_OVERRIDABLE,
                       RESUME_CURRENT)
    return saved


def prepare_run_dir(args) -> Path:
    """Create the output folder; refuse to clobber another run unless told (nothing is written)."""
    out = Path(args.out_dir)
    own = out / "checkpoint.pt"
    continuing = bool(args.resume) and checkpoint_to_resume(args).resolve() == own.resolve()
    if own.exists() and not (continuing or args.overwrite):
        if args.resume:
            raise UserError(f"'{out}' already holds another run; continue '{resume_path(args)}' "
                            "into another --out_dir")
        raise UserError(f"'{out}' already holds a run; pass --resume to continue it or "
                        "--overwrite to start afresh")
    return prepare_out_dir(out)


class DivergenceWatch:
    """Stops a run whose loss turned NaN or exploded, naming the step, before a checkpoint holds it.

    The first step whose training loss is NaN or above :data:`EXPLODED_LOSS`, and that loss, are
    kept on the device, so that no step waits for the host; :meth:`check` reads them at evaluations
    and before every checkpoint, and also scores the current weights on ``probe`` validation
    palindromes when no validation loss is at hand.
    """

    def __init__(self, device, probe_digits, probe_targets) -> None:
        self.first_bad = torch.full((), -1, dtype=torch.long, device=device)
        self.bad_loss = torch.zeros((), device=device)
        self.probe = (probe_digits, probe_targets)
        self.device = device
        self.checked = -1  # the last step whose losses and weights were found sound

    def record(self, step: int, loss: torch.Tensor) -> None:
        new_bad = (~torch.isfinite(loss) | (loss > EXPLODED_LOSS)) & (self.first_bad < 0)
        self.first_bad = torch.where(new_bad, step, self.first_bad)
        self.bad_loss = torch.where(new_bad, loss, self.bad_loss)

    def check(self, run: Run, val_loss: float | None = None) -> None:
        """Raise a :class:`UserError` if a training loss so far, or the validation loss of the
        current weights, is NaN or exploded."""
        if self.checked == run.step:
            return
        bad, what = int(self.first_bad), f"training loss {float(self.bad_loss):.4g}"
        if bad < 0:
            if val_loss is None:
                val_loss = evaluate(run.model, *self.probe, run.args.input_dim, self.device)[0]
            if not math.isfinite(val_loss) or val_loss > EXPLODED_LOSS:
                bad, what = run.step, f"validation loss {val_loss:.4g} after its update"
        if bad >= 0:
            kept = ("no checkpoint was written" if run.saved_at is None else
                    f"the last good checkpoint '{run.saved_at[0]}' (step {run.saved_at[1]}) is kept")
            raise UserError(f"training diverged at step {bad} ({what}, NaN or above "
                            f"{EXPLODED_LOSS:g}); lower --learning_rate (now "
                            f"{run.args.learning_rate:g}) or --max_norm (now "
                            f"{run.args.max_norm:g}); {kept}")
        self.checked = run.step


def train_step(run: Run, dataset: PalindromeDataset, device) -> tuple[torch.Tensor, torch.Tensor]:
    """One optimizer step on a fresh batch; returns the batch loss and the gradient norm before
    clipping, both still on the device."""
    args = run.args
    digits, targets = dataset.sample_batch(args.batch_size, run.generator)
    x = encode_input(digits, args.input_dim).to(device)  # (B, T, d)
    run.optimizer.zero_grad(set_to_none=True)
    loss = F.cross_entropy(run.model(x), targets.to(device))
    loss.backward()
    # Through T steps the gradient is a product of T Jacobians and can explode; clipping keeps its
    # direction but bounds its length, so an exploding gradient becomes an ordinary step.
    grad_norm = torch.nn.utils.clip_grad_norm_(run.model.parameters(), args.max_norm)
    run.optimizer.step()
    run.step += 1
    return loss.detach(), grad_norm


def record_evaluation(run: Run, val_x, val_y, loss, grad_norm, watch: DivergenceWatch) -> dict:
    """Score the weights on the validation set, append the row to the history and metrics.csv,
    and update the early-stopping streak; returns the row."""
    args = run.args
    val_loss, val_acc = evaluate(run.model, val_x, val_y, args.input_dim, watch.device)
    watch.check(run, val_loss)
    row = {"step": run.step, "train_loss": round(loss.item(), 6), "val_loss": round(val_loss, 6),
           "val_accuracy": round(val_acc, 6), "grad_norm": round(float(grad_norm), 6),
           "seconds": round(run.elapsed, 3)}
    run.history.append(row)
    write_csv(run.out / "metrics.csv", run.history, METRIC_FIELDS)
    run.streak = run.streak + 1 if val_acc >= args.early_stop_accuracy else 0
    return row


def stop_reason(run: Run) -> str | None:
    """Why the run stops after this evaluation (early_stop, time_limit), or None."""
    args = run.args
    if not args.no_early_stop and run.streak >= args.early_stop_patience:
        return "early_stop"
    if args.time_limit and run.elapsed >= args.time_limit:
        return "time_limit"
    return None


def finish(run: Run, test_x, test_y, status: str, device) -> dict:
    """Score the final weights on the whole test set; write model.pt and result.json."""
    args = run.args
    test_loss, test_acc = evaluate(run.model, test_x, test_y, args.input_dim, device)
    result = {"model_type": args.model_type, "input_length": args.input_length, "seed": args.seed,
              "status": status, "steps": run.step, "test_accuracy": test_acc,
              "test_loss": test_loss, "test_size": args.test_size,
              "train_seconds": round(run.elapsed, 3)}
    save_checkpoint(checkpoint_state(CHECKPOINT_KIND, run.step, vars(args), run.model,
                                     extras={"result": result}), run.out / "model.pt")
    write_json(run.out / "result.json", result)
    return result


def start(args, given, device) -> Run:
    """The run ``args`` asks for: fresh, warm-started (--init_from) or resumed (--resume). The
    sources are read before anything is written, so a bad one leaves the output folder alone."""
    init_weights = read_init_from(args, device) if args.init_from and not args.resume else None
    saved = resume_checkpoint(args, given, device) if args.resume else None
    run = new_run(args, device, prepare_run_dir(args), init_weights)
    if saved is not None:
        load_run(run, saved)
        run.saved_at = (str(checkpoint_to_resume(args)), run.step)
    write_json(run.out / "config.json", {"args": vars(args), "environment": environment_info()})
    return run


def train(args, given: set | None = None, clock=time.perf_counter) -> dict:
    """Train one model as ``args`` says; return the result dictionary (also written to result.json),
    or ``{"status": "interrupted", "steps": N}`` after a signal saved the checkpoint.

    ``given``: the flags written on the command line (:func:`common.args.given_flags`); on --resume
    those differing from the checkpoint are refused; None counts every flag as given. ``clock``:
    seconds for --time_limit and the records (tests pass a deterministic one).
    """
    device = resolve_device(args.device)
    run = start(args, set(vars(args)) if given is None else given, device)
    dataset = PalindromeDataset(args.input_length + 1, seed=args.seed)
    test_x, test_y = fixed_test_set(args.input_length + 1, args.test_size)
    val_x, val_y = fixed_validation_set(args.input_length + 1, args.eval_size)
    probe = min(args.eval_size, args.batch_size)  # validation palindromes that vet weights before a save
    watch = DivergenceWatch(device, val_x[:probe], val_y[:probe])
    interactive = not args.quiet and sys.stderr.isatty()
    bar = tqdm(total=args.train_steps, initial=run.step, disable=not interactive,
               desc=f"{args.model_type} T={args.input_length}", dynamic_ncols=True)
    status, started = "max_steps", clock() - run.elapsed
    with StopRequest() as stop:
        while run.step < args.train_steps:
            loss, grad_norm = train_step(run, dataset, device)
            watch.record(run.step, loss)
            bar.update(1)
            if run.step % args.eval_every == 0 or run.step == args.train_steps:
                run.elapsed = clock() - started
                row = record_evaluation(run, val_x, val_y, loss, grad_norm, watch)
                bar.set_postfix(loss=f"{row['train_loss']:.3f}", acc=f"{row['val_accuracy']:.3f}")
                if not (args.quiet or interactive):
                    print(f"step {run.step:6d}  train loss {row['train_loss']:.4f}  validation loss "
                          f"{row['val_loss']:.4f}  accuracy {row['val_accuracy']:.4f}", flush=True)
                reason = stop_reason(run)
                if reason:
                    status = reason
                    break
            if args.checkpoint_every and run.step % args.checkpoint_every == 0:
                watch.check(run)  # never write diverged weights over the last good checkpoint
                run.elapsed = clock() - started
                save_run(run)
            if stop.check(run.step):
                watch.check(run)
                run.elapsed = clock() - started
                save_run(run)
                bar.close()
                print(f"{stop.requested}: saved '{run.checkpoint_path}' at step {run.step}; "
                      "continue with --resume", file=sys.stderr)
                return {"status": "interrupted", "steps": run.step}
    bar.close()
    watch.check(run)
    run.elapsed = clock() - started
    save_run(run)
    return finish(run, test_x, test_y, status, device)
