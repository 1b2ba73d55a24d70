"""Train a hand-written VanillaRNN or LSTM on the palindrome-digit task.

    python part1/train.py --model_type LSTM --input_length 20 --input_dim 10

Every ``--eval_every`` steps the model is scored on a fixed held-out set; the run stops early once the
held-out accuracy stays at or above ``--early_stop_accuracy``. The output folder receives
``config.json``, ``metrics.csv`` (one row per evaluation), ``result.json``, the final model
``model.pt`` and a resumable ``checkpoint.pt`` (written atomically every ``--checkpoint_every`` steps
and on Ctrl-C / SIGTERM; continue with ``--resume``, which takes the flags that define the run from
the checkpoint). ``--init_from PATH`` warm-starts from the weights in another run's ``model.pt``
(same model type and architecture, any input length) instead of a fresh initialisation. A loss that
turns NaN or explodes stops the run, naming the step where it did, before diverged weights can reach
a checkpoint.
"""
from __future__ import annotations

import argparse
import csv
import json
import math
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch
import torch.nn.functional as F
from tqdm import tqdm

from common.args import (given_flags, merge_resumed_args, nonnegative_int, positive_float,
                         positive_int, unit_interval)
from common.checkpoint import StopRequest, atomic_write_text, load_checkpoint, save_checkpoint
from common.runtime import UserError, environment_info, resolve_device, run_main, seed_everything
from part1.dataset import PalindromeDataset, encode_input, fixed_test_set
from part1.initialisation import RECURRENT_SCHEMES, SCHEMES
from part1.lstm import LSTM
from part1.vanilla_rnn import VanillaRNN

CHECKPOINT_KIND = "part1"
MODEL_KIND = "part1-model"
EXPLODED_LOSS = 100.0  # cross-entropy over 10 classes starts at ln 10 = 2.3; 100 means divergence
METRIC_FIELDS = ["step", "train_loss", "test_loss", "test_accuracy", "grad_norm", "seconds"]
# On --resume every flag is taken from the checkpoint except these: the stopping, evaluation and
# checkpoint schedule may be given anew (else the checkpoint's is kept) ...
RESUME_OVERRIDABLE = {"train_steps", "time_limit", "eval_every", "checkpoint_every",
                      "early_stop_accuracy", "early_stop_patience", "no_early_stop", "bptt"}
# ... and these always come from the command line. A flag outside both, given with another value
# than the checkpoint's, is an error.
RESUME_CURRENT = {"out_dir", "resume", "overwrite", "device", "quiet"}
# --init_from cannot be given with --resume (the checkpoint already holds the weights); the
# checkpoint's value is kept, so that config.json still names where the run was warm-started from.
RESUME_SAVED = {"init_from"}
# The flags that fix the shapes of the weights: an --init_from model.pt must agree on all of them.
ARCHITECTURE = ("model_type", "input_dim", "num_hidden", "num_classes")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    model = parser.add_argument_group("model")
    model.add_argument("--model_type", choices=["RNN", "LSTM"], default="RNN",
                       help="hand-written VanillaRNN or LSTM")
    model.add_argument("--input_length", type=positive_int, default=10,
                       help="T, the number of digits the network reads (the palindrome has T+1)")
    model.add_argument("--input_dim", type=int, choices=[1, 10], default=1,
                       help="1: each digit as a number; 10: each digit one-hot")
    model.add_argument("--num_classes", type=int, choices=[10], default=10,
                       help="number of output classes (the ten digits)")
    model.add_argument("--num_hidden", type=positive_int, default=128, help="hidden units n")
    model.add_argument("--init", choices=SCHEMES, default="uniform",
                       help="initialisation of every weight matrix: uniform U(+-1/sqrt(n)) "
                            "(PyTorch's default) or glorot")
    model.add_argument("--recurrent_init", choices=RECURRENT_SCHEMES, default="orthogonal",
                       help="RNN only: W_hh as --init ('same') or a random orthogonal matrix")
    model.add_argument("--forget_bias", type=float, default=1.0,
                       help="LSTM only: initial forget-gate bias b_f (ignored with --chrono)")
    model.add_argument("--chrono", action="store_true",
                       help="LSTM only: chrono initialisation b_f ~ log U(1, T-1), b_i = -b_f")
    model.add_argument("--bptt", choices=["manual", "autograd"], default="manual",
                       help="backward through time written by hand (part1/bptt.py) or recorded "
                            "step by step by autograd; both give the same gradients")
    model.add_argument("--init_from", metavar="PATH", default=None,
                       help="start from the weights in the model.pt of an earlier part-1 run (same "
                            "--model_type, --input_dim, --num_hidden and --num_classes; any "
                            "--input_length) instead of a fresh initialisation, so --init, "
                            "--recurrent_init, --forget_bias and --chrono do not shape the weights; "
                            "not with --resume")

    optim = parser.add_argument_group("optimisation")
    optim.add_argument("--optimizer", choices=["rmsprop", "adam", "sgd", "momentum"],
                       default="rmsprop", help="momentum is SGD with momentum 0.9")
    optim.add_argument("--learning_rate", type=positive_float, default=1e-3, help="learning rate")
    optim.add_argument("--batch_size", type=positive_int, default=128, help="palindromes per step")
    optim.add_argument("--train_steps", type=positive_int, default=10000,
                       help="the most optimisation steps")
    optim.add_argument("--max_norm", type=positive_float, default=10.0,
                       help="clip the global gradient norm to this value")
    optim.add_argument("--time_limit", type=positive_float, default=None,
                       help="stop training after this many seconds (checked at evaluations)")

    book = parser.add_argument_group("evaluation and bookkeeping")
    book.add_argument("--eval_every", type=positive_int, default=100,
                      help="evaluate on the held-out set every N steps")
    book.add_argument("--eval_size", type=positive_int, default=1000,
                      help="palindromes of the held-out set used at each periodic evaluation")
    book.add_argument("--test_size", type=positive_int, default=10000,
                      help="palindromes of the fixed held-out set used for the final score")
    book.add_argument("--early_stop_accuracy", type=unit_interval, default=0.999,
                      help="stop once held-out accuracy is at least this value ...")
    book.add_argument("--early_stop_patience", type=positive_int, default=3,
                      help="... at this many consecutive evaluations")
    book.add_argument("--no_early_stop", action="store_true", help="always run --train_steps")
    book.add_argument("--seed", type=nonnegative_int, default=0, help="seed of weights and batches")
    book.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda, cuda:N")
    book.add_argument("--out_dir", default=None,
                      help="output folder (default results/part1/<model>_T<len>_d<dim>_s<seed>)")
    book.add_argument("--checkpoint_every", type=nonnegative_int, default=500,
                      help="write checkpoint.pt every N steps (0: only at the end and on a signal)")
    book.add_argument("--resume", action="store_true",
                      help="continue from checkpoint.pt in the output folder")
    book.add_argument("--overwrite", action="store_true",
                      help="start afresh even if the output folder holds a checkpoint")
    book.add_argument("--quiet", action="store_true", help="no progress bar or progress lines")
    return parser


def parse_args(argv=None) -> argparse.Namespace:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.input_length < 2:
        parser.error(f"--input_length must be at least 2 (the network must read past the first "
                     f"digit), got {args.input_length}")
    if args.eval_size > args.test_size:
        parser.error(f"--eval_size ({args.eval_size}) cannot exceed --test_size ({args.test_size})")
    if args.resume and args.overwrite:
        parser.error("--resume and --overwrite exclude each other")
    if args.resume and args.init_from:
        parser.error("--init_from and --resume exclude each other (a resumed run continues from "
                     "the weights in its checkpoint)")
    if args.out_dir is None:
        args.out_dir = str(Path("results") / "part1" / default_run_name(args))
    return args


def default_run_name(args) -> str:
    return f"{args.model_type}_T{args.input_length}_d{args.input_dim}_s{args.seed}"


def build_model(args, device) -> torch.nn.Module:
    """The network named by ``args.model_type`` with the initialisation the flags choose."""
    common = dict(seq_length=args.input_length, input_dim=args.input_dim,
                  num_hidden=args.num_hidden, num_classes=args.num_classes, device=device,
                  init=args.init, bptt=getattr(args, "bptt", "manual"))
    if args.model_type == "RNN":
        return VanillaRNN(**common, recurrent_init=args.recurrent_init)
    return LSTM(**common, forget_bias=args.forget_bias, chrono=args.chrono)


def read_init_from(args, device) -> dict:
    """The weights (a state dict) in the ``model.pt`` named by ``--init_from``, checked against the
    architecture the flags ask for; a one-line :class:`UserError` when they cannot be used."""
    path = Path(args.init_from)
    try:
        saved = load_checkpoint(path, MODEL_KIND, map_location=device)
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


def build_optimizer(args, model) -> torch.optim.Optimizer:
    params, lr = model.parameters(), args.learning_rate
    if args.optimizer == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr)
    if args.optimizer == "adam":
        return torch.optim.Adam(params, lr=lr)
    if args.optimizer == "momentum":
        return torch.optim.SGD(params, lr=lr, momentum=0.9)
    return torch.optim.SGD(params, lr=lr)


@torch.no_grad()
def evaluate(model, digits, targets, input_dim, device, chunk=2500):
    """Mean cross-entropy and accuracy of ``model`` on a held-out set, in chunks."""
    loss_sum, correct = 0.0, 0
    for x, y in zip(digits.split(chunk), targets.split(chunk)):
        logits = model(encode_input(x, input_dim).to(device))  # (b, K)
        y = y.to(device)
        loss_sum += F.cross_entropy(logits, y, reduction="sum").item()
        correct += (logits.argmax(dim=1) == y).sum().item()
    return loss_sum / len(targets), correct / len(targets)


def write_metrics(path: Path, history: list[dict]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=METRIC_FIELDS)
        writer.writeheader()
        writer.writerows(history)


def prepare_out_dir(args) -> Path:
    """Create the output folder; refuse to clobber an earlier run unless told (nothing is written)."""
    out = Path(args.out_dir)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out_dir '{out}' exists and is not a folder")
    checkpoint = out / "checkpoint.pt"
    if args.resume and not checkpoint.exists():
        raise UserError(f"--resume: no checkpoint at '{checkpoint}'")
    if checkpoint.exists() and not (args.resume or args.overwrite):
        raise UserError(f"'{out}' already holds a run; pass --resume to continue it or "
                        "--overwrite to start afresh")
    out.mkdir(parents=True, exist_ok=True)
    return out


def resume_checkpoint(args, given, device) -> dict:
    """Load ``checkpoint.pt`` of the run in ``--out_dir`` and take the flags that define the run from
    it (see ``RESUME_OVERRIDABLE``); ``given`` names the flags written on the command line."""
    path = Path(args.out_dir) / "checkpoint.pt"
    saved = load_checkpoint(path, CHECKPOINT_KIND, map_location=device)
    if not isinstance(saved.get("args"), dict) or "progress" not in saved:
        raise UserError(f"checkpoint '{path}' lacks the training state; it cannot be resumed")
    merge_resumed_args(args, saved["args"], set(given) - RESUME_SAVED, RESUME_OVERRIDABLE,
                       RESUME_CURRENT)
    return saved


def train(args, progress: bool = True, given=None) -> dict:
    """Train one model as ``args`` says; return the result dictionary (also written to result.json).

    ``given``: the flags written on the command line (see :func:`common.args.given_flags`); on
    ``--resume`` those differing from the checkpoint are refused. None counts every flag as given.
    """
    device = resolve_device(args.device)
    # read before anything is written, so a bad --init_from leaves the output folder alone
    init_weights = read_init_from(args, device) if args.init_from and not args.resume else None
    out = prepare_out_dir(args)
    checkpoint_path = out / "checkpoint.pt"
    saved = resume_checkpoint(args, set(vars(args)) if given is None else given, device) \
        if args.resume else None
    seed_everything(args.seed)
    model = build_model(args, device)
    if init_weights is not None:  # the loaded weights replace the initialisation
        try:
            model.load_state_dict(init_weights)
        except RuntimeError as exc:
            raise UserError(f"--init_from '{args.init_from}': its weights do not fit the model: "
                            f"{str(exc).splitlines()[0]}") from None
    optimizer = build_optimizer(args, model)
    generator = torch.Generator().manual_seed(args.seed)
    dataset = PalindromeDataset(args.input_length + 1, seed=args.seed)
    test_x, test_y = fixed_test_set(args.input_length + 1, args.test_size)
    probe = min(args.eval_size, args.batch_size)  # held-out palindromes that vet weights before a save
    state = {"step": 0, "history": [], "streak": 0, "elapsed": 0.0}
    last_saved = None  # step of the checkpoint on disk that belongs to this run
    if saved is not None:
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        generator.set_state(saved["generator"])
        state = saved["progress"]
        last_saved = state["step"]
    config = {"args": vars(args), "environment": environment_info()}
    atomic_write_text(out / "config.json", json.dumps(config, indent=2))

    def save(path=checkpoint_path):
        nonlocal last_saved
        save_checkpoint({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                         "generator": generator.get_state(), "progress": state, "args": vars(args),
                         "environment": environment_info()}, path, CHECKPOINT_KIND)
        last_saved = state["step"]

    # The first step whose training loss is NaN or above EXPLODED_LOSS, and that loss, kept on the
    # device so that no step waits for the host; read at evaluations and before every checkpoint.
    first_bad = torch.full((), -1, dtype=torch.long, device=device)
    bad_loss = torch.zeros((), device=device)
    checked = -1  # the last step whose losses and weights were found sound

    def check_diverged(step, held_out_loss=None):
        """Raise a UserError if a training loss so far, or the held-out loss of the current weights
        (``held_out_loss`` or one batch of the held-out set), is NaN or exploded."""
        nonlocal checked
        if checked == step:
            return
        bad = int(first_bad)
        if bad >= 0:
            what = f"training loss {float(bad_loss):.4g}"
        else:
            if held_out_loss is None:
                model.eval()
                held_out_loss = evaluate(model, test_x[:probe], test_y[:probe], args.input_dim,
                                         device)[0]
                model.train()
            if not math.isfinite(held_out_loss) or held_out_loss > EXPLODED_LOSS:
                bad, what = step, f"held-out loss {held_out_loss:.4g} after its update"
        if bad >= 0:
            kept = ("no checkpoint was written" if last_saved is None else
                    f"the last good checkpoint '{checkpoint_path}' (step {last_saved}) is kept")
            raise UserError(f"training diverged at step {bad} ({what}, NaN or above "
                            f"{EXPLODED_LOSS:g}); lower --learning_rate (now {args.learning_rate:g}) "
                            f"or --max_norm (now {args.max_norm:g}); {kept}")
        checked = step

    interactive = progress and sys.stderr.isatty()
    bar = tqdm(total=args.train_steps, initial=state["step"], disable=not interactive,
               desc=f"{args.model_type} T={args.input_length}", dynamic_ncols=True)
    status, started = "max_steps", time.perf_counter() - state["elapsed"]
    with StopRequest() as stop:
        while state["step"] < args.train_steps:
            digits, targets = dataset.sample_batch(args.batch_size, generator)
            x = encode_input(digits, args.input_dim).to(device)  # (B, T, d)
            optimizer.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(x), targets.to(device))
            loss.backward()
            # Gradient clipping: rescale the whole gradient when its norm exceeds max_norm. Through
            # T steps the gradient is a product of T Jacobians and can explode; one such step would
            # throw the weights far away. Clipping keeps its direction but bounds its length, so an
            # exploding gradient becomes an ordinary step (Pascanu et al., 2013).
            grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), args.max_norm)
            optimizer.step()
            state["step"] += 1
            step = state["step"]
            loss = loss.detach()
            new_bad = (~torch.isfinite(loss) | (loss > EXPLODED_LOSS)) & (first_bad < 0)
            first_bad = torch.where(new_bad, step, first_bad)
            bad_loss = torch.where(new_bad, loss, bad_loss)
            bar.update(1)

            if step % args.eval_every == 0 or step == args.train_steps:
                train_loss = loss.item()
                model.eval()
                test_loss, test_acc = evaluate(model, test_x[:args.eval_size],
                                               test_y[:args.eval_size], args.input_dim, device)
                model.train()
                check_diverged(step, test_loss)
                state["elapsed"] = time.perf_counter() - started
                state["history"].append({"step": step, "train_loss": round(train_loss, 6),
                                         "test_loss": round(test_loss, 6),
                                         "test_accuracy": round(test_acc, 6),
                                         "grad_norm": round(float(grad_norm), 6),
                                         "seconds": round(state["elapsed"], 3)})
                write_metrics(out / "metrics.csv", state["history"])
                state["streak"] = state["streak"] + 1 if test_acc >= args.early_stop_accuracy else 0
                bar.set_postfix(loss=f"{train_loss:.3f}", acc=f"{test_acc:.3f}")
                if progress and not interactive:
                    print(f"step {step:6d}  train loss {train_loss:.4f}  held-out loss "
                          f"{test_loss:.4f}  accuracy {test_acc:.4f}", flush=True)
                if not args.no_early_stop and state["streak"] >= args.early_stop_patience:
                    status = "early_stop"
                    break
                if args.time_limit and state["elapsed"] >= args.time_limit:
                    status = "time_limit"
                    break
            if args.checkpoint_every and step % args.checkpoint_every == 0:
                check_diverged(step)  # never write diverged weights over the last good checkpoint
                state["elapsed"] = time.perf_counter() - started
                save()
            if stop.requested:
                check_diverged(step)
                state["elapsed"] = time.perf_counter() - started
                save()
                bar.close()
                print(f"{stop.requested}: saved '{checkpoint_path}' at step {step}; "
                      "continue with --resume", file=sys.stderr)
                return {"status": "interrupted", "step": step}
    bar.close()
    check_diverged(state["step"])
    state["elapsed"] = time.perf_counter() - started
    save()

    model.eval()
    test_loss, test_acc = evaluate(model, test_x, test_y, args.input_dim, device)
    save_checkpoint({"model": model.state_dict(), "args": vars(args),
                     "environment": environment_info()}, out / "model.pt", MODEL_KIND)
    result = {"model_type": args.model_type, "input_length": args.input_length,
              "seed": args.seed, "status": status, "steps": state["step"],
              "test_accuracy": test_acc, "test_loss": test_loss, "test_size": args.test_size,
              "train_seconds": round(state["elapsed"], 3)}
    atomic_write_text(out / "result.json", json.dumps(result, indent=2))
    return result


def main() -> int:
    argv = sys.argv[1:]
    args = parse_args(argv)
    result = train(args, progress=not args.quiet, given=given_flags(build_parser(), argv))
    if result["status"] == "interrupted":
        return 130
    print(f"{args.model_type} T={args.input_length}: held-out accuracy "
          f"{result['test_accuracy']:.4f} on {args.test_size} palindromes after {result['steps']} "
          f"steps ({result['train_seconds']:.1f} s, {result['status']}); results in {args.out_dir}")
    return 0


if __name__ == "__main__":
    run_main(main)
