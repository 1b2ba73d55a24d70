"""Train a hand-written VanillaRNN, LSTM or GRU on the palindrome-digit task (part 1).

    python part1/train.py --model_type LSTM --input_length 20 --input_dim 10
    python part1/train.py --model_type LSTM --input_length 20 --input_dim 10 --resume

Every ``--eval_every`` steps the model is scored on a fixed validation set; the run stops early once
the validation accuracy is at least ``--early_stop_accuracy`` at ``--early_stop_patience``
evaluations in a row, or after ``--time_limit`` seconds; the final score is on a separate, fixed test
set. ``--out_dir`` receives config.json, metrics.csv (one row per evaluation), result.json, the final
weights model.pt and checkpoint.pt (every ``--checkpoint_every`` steps, at the end, and on Ctrl-C or
SIGTERM). ``--resume`` continues from checkpoint.pt to exactly the weights of a run never stopped.
"""
from __future__ import annotations

import argparse
import csv
import inspect
import json
import math
import os
import signal
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch
import torch.nn.functional as F
from tqdm import tqdm

from part1.dataset import PalindromeDataset, encode_input, fixed_test_set, fixed_validation_set
from part1.gru import GRU
from part1.lstm import LSTM
from part1.vanilla_rnn import VanillaRNN

MODELS = {"RNN": VanillaRNN, "LSTM": LSTM, "GRU": GRU}
OPTIMIZERS = {"sgd": lambda params, lr: torch.optim.SGD(params, lr=lr),
              "momentum": lambda params, lr: torch.optim.SGD(params, lr=lr, momentum=0.9),
              "rmsprop": lambda params, lr: torch.optim.RMSprop(params, lr=lr),
              "adam": lambda params, lr: torch.optim.Adam(params, lr=lr)}
ARCHITECTURE = ("model_type", "input_dim", "num_hidden", "num_classes")  # fix the weights' shapes
METRICS = ["step", "train_loss", "val_loss", "val_accuracy", "grad_norm", "seconds"]


class UserError(Exception):
    """A mistake the user can fix; printed as one line ``error: ...``, exit code 2."""


def build_model(config, device, models=MODELS):
    """``models[config.model_type]`` with the initialisation flags its constructor takes."""
    cls = models[config.model_type]
    options = {k: getattr(config, k) for k in ("recurrent_init", "forget_bias", "chrono")
               if k in inspect.signature(cls).parameters}
    return cls(config.input_length, config.input_dim, config.num_hidden, config.num_classes,
               device, **options)


@torch.no_grad()
def evaluate(model, digits, targets, input_dim, device, chunk=2500):
    """Mean cross-entropy and accuracy on the fixed ``digits`` ``(N, T)``, ``targets`` ``(N,)``."""
    model.eval()
    loss, correct = 0.0, 0
    for x, y in zip(digits.split(chunk), targets.split(chunk)):
        logits = model(encode_input(x, input_dim).to(device))
        loss += F.cross_entropy(logits, y.to(device), reduction="sum").item()
        correct += (logits.argmax(1) == y.to(device)).sum().item()
    model.train()
    return loss / len(targets), correct / len(targets)


def load_checkpoint(path, config):
    """A part-1 checkpoint or model.pt saved for the same architecture as ``config``."""
    if not path.exists():
        raise UserError(f"no checkpoint at '{path}'; train without --resume first (same --out_dir)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)  # the RNG states stay on the CPU
    except Exception as exc:  # a truncated or foreign file: whatever torch.load raised
        raise UserError(f"cannot read '{path}' ({type(exc).__name__}); it is not a part-1 checkpoint") from None
    if not (isinstance(state, dict) and isinstance(state.get("config"), dict) and "model" in state
            and state["config"].get("model_type") in MODELS):
        raise UserError(f"'{path}' is not a checkpoint of part1/train.py")
    for key in ARCHITECTURE:
        if state["config"].get(key) != getattr(config, key):
            raise UserError(f"'{path}' holds a model with --{key} {state['config'].get(key)}, not "
                            f"{getattr(config, key)}; pass --{key} {state['config'].get(key)} or another --out_dir")
    return state


def save(state, path):
    """Atomically: a run killed while saving keeps its previous file."""
    torch.save(state, f"{path}.tmp")
    os.replace(f"{path}.tmp", path)


def train(config, models=MODELS, weights=None, clock=time.perf_counter):
    """Train as ``config`` (the flags below) says and return result.json's dictionary, or
    ``{"status": "interrupted", "steps": N}`` after Ctrl-C or SIGTERM saved the checkpoint.
    ``models``: the registry to build from (experiments pass cells with a faster backward);
    ``weights``: a state dict to start from instead of the initialisation (a fresh run only)."""
    device = torch.device("cuda" if config.device == "auto" and torch.cuda.is_available() else
                          "cpu" if config.device == "auto" else config.device)
    out = Path(config.out_dir)
    torch.manual_seed(config.seed)
    model = build_model(config, device, models)
    optimizer = OPTIMIZERS[config.optimizer](model.parameters(), config.learning_rate)
    batches = torch.Generator().manual_seed(config.seed)  # draws the training batches
    step, history, streak, elapsed = 0, [], 0, 0.0  # elapsed: training seconds of earlier sessions
    if config.resume:
        state = load_checkpoint(out / "checkpoint.pt", config)
        if "optimizer" not in state:
            raise UserError(f"'{out / 'checkpoint.pt'}' holds no training state; it cannot be resumed")
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        batches.set_state(state["rng"]["batches"])
        torch.set_rng_state(state["rng"]["torch"])
        step, history = state["step"], state["history"]
        streak, elapsed = state["streak"], state["elapsed"]
    elif (out / "checkpoint.pt").exists() and not config.overwrite:
        raise UserError(f"'{out}' already holds a run; pass --resume to continue it, --overwrite to "
                        "start afresh or another --out_dir")
    elif weights is not None:
        model.load_state_dict(weights)
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps({"args": vars(config), "torch": torch.__version__},
                                                indent=2) + "\n")

    dataset = PalindromeDataset(config.input_length + 1, seed=config.seed)
    val_x, val_y = fixed_validation_set(config.input_length + 1, config.eval_size)
    test_x, test_y = fixed_test_set(config.input_length + 1, config.test_size)

    def checkpoint():
        save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "step": step,
              "config": vars(config), "history": history, "streak": streak,
              "elapsed": elapsed + clock() - started,
              "rng": {"batches": batches.get_state(), "torch": torch.get_rng_state()}},
             out / "checkpoint.pt")

    stop = []  # the signal that asked the run to stop; the step under way is finished first
    handlers = {s: signal.signal(s, lambda signum, frame: stop.append(signum))
                for s in (signal.SIGINT, signal.SIGTERM)}
    bar = tqdm(total=config.train_steps, initial=step, disable=True if config.quiet else None,
               desc=f"{config.model_type} T={config.input_length}", dynamic_ncols=True)
    status, started = "max_steps", clock()
    try:
        while step < config.train_steps:
            digits, targets = dataset.sample_batch(config.batch_size, batches)
            x = encode_input(digits, config.input_dim).to(device)  # (B, T, d)
            optimizer.zero_grad()
            loss = F.cross_entropy(model(x), targets.to(device))
            loss.backward()
            # Through T steps the gradient is a product of T Jacobians and can explode; clipping
            # keeps its direction and bounds its length.
            grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), config.max_norm)
            optimizer.step()
            step += 1
            bar.update(1)
            if step % config.eval_every == 0 or step == config.train_steps:
                val_loss, val_acc = evaluate(model, val_x, val_y, config.input_dim, device)
                if not math.isfinite(val_loss):
                    raise UserError(f"training diverged by step {step} (validation loss {val_loss}); "
                                    f"lower --learning_rate (now {config.learning_rate:g}) or --max_norm")
                history.append({"step": step, "train_loss": round(loss.item(), 6),
                                "val_loss": round(val_loss, 6), "val_accuracy": round(val_acc, 6),
                                "grad_norm": round(float(grad_norm), 6),
                                "seconds": round(elapsed + clock() - started, 3)})
                with open(out / "metrics.csv", "w", newline="") as f:
                    writer = csv.DictWriter(f, METRICS)
                    writer.writeheader()
                    writer.writerows(history)
                bar.set_postfix(loss=f"{loss.item():.3f}", acc=f"{val_acc:.3f}")
                streak = streak + 1 if val_acc >= config.early_stop_accuracy else 0
                if config.early_stop_patience and streak >= config.early_stop_patience:
                    status = "early_stop"
                    break
                if config.time_limit and clock() - started >= config.time_limit:
                    status = "time_limit"
                    break
            if stop:
                checkpoint()
                return {"status": "interrupted", "steps": step}
            if config.checkpoint_every and step % config.checkpoint_every == 0:
                checkpoint()
    finally:
        bar.close()
        for s, handler in handlers.items():
            signal.signal(s, handler)
    checkpoint()
    test_loss, test_acc = evaluate(model, test_x, test_y, config.input_dim, device)
    result = {"model_type": config.model_type, "input_length": config.input_length,
              "seed": config.seed, "status": status, "steps": step, "test_accuracy": test_acc,
              "test_loss": test_loss, "test_size": config.test_size,
              "train_seconds": round(elapsed + clock() - started, 3)}
    save({"model": model.state_dict(), "config": vars(config), "result": result}, out / "model.pt")
    (out / "result.json").write_text(json.dumps(result, indent=2) + "\n")
    return result


def build_parser():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--model_type", choices=list(MODELS), default="RNN", help="the cell to train")
    p.add_argument("--input_length", type=int, default=10, help="T, the digits the network reads (the palindrome has T+1)")
    p.add_argument("--input_dim", type=int, choices=[1, 10], default=1, help="1: each digit as a number; 10: one-hot")
    p.add_argument("--num_classes", type=int, choices=[10], default=10, help="output classes (the ten digits)")
    p.add_argument("--num_hidden", type=int, default=128, help="hidden units n")
    p.add_argument("--batch_size", type=int, default=128, help="palindromes per step")
    p.add_argument("--learning_rate", type=float, default=1e-3, help="learning rate")
    p.add_argument("--train_steps", type=int, default=10000, help="the most optimisation steps")
    p.add_argument("--max_norm", type=float, default=10.0, help="clip the gradient norm to this")
    p.add_argument("--optimizer", choices=list(OPTIMIZERS), default="rmsprop",
                   help="momentum is SGD with momentum 0.9")
    p.add_argument("--recurrent_init", choices=["orthogonal", "uniform"], default="orthogonal",
                   help="RNN only: W_hh a random orthogonal matrix or U(+-1/sqrt(n)) like the others")
    p.add_argument("--forget_bias", type=float, default=1.0, help="LSTM only: initial b_f (not with --chrono)")
    p.add_argument("--chrono", action="store_true", help="LSTM only: chrono initialisation b_f ~ log U(1, T-1), b_i = -b_f")
    p.add_argument("--seed", type=int, default=0, help="seed of the weights and the batches")
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda or cuda:N")
    p.add_argument("--eval_every", type=int, default=100, help="evaluate on the validation set every N steps")
    p.add_argument("--eval_size", type=int, default=1000, help="palindromes of the fixed validation set")
    p.add_argument("--test_size", type=int, default=10000, help="palindromes of the fixed test set (final score)")
    p.add_argument("--early_stop_accuracy", type=float, default=0.999, help="stop once the validation accuracy is at least this ...")
    p.add_argument("--early_stop_patience", type=int, default=3, help="... at this many evaluations in a row (0: never stop early)")
    p.add_argument("--time_limit", type=float, default=None, metavar="SECONDS",
                   help="stop after this many seconds of training in this process (checked at evaluations)")
    p.add_argument("--checkpoint_every", type=int, default=500, help="write checkpoint.pt every N steps (0: at the end only)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out_dir from its checkpoint.pt")
    p.add_argument("--overwrite", action="store_true", help="start afresh even if --out_dir holds a run")
    p.add_argument("--out_dir", default=None, help="output folder (default results/part1/<model>_T<length>_d<dim>_s<seed>)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def parse_args(argv=None):
    parser = build_parser()
    config = parser.parse_args(argv)
    least = {"input_length": 2, "num_hidden": 1, "batch_size": 1, "train_steps": 1, "eval_every": 1,
             "eval_size": 1, "test_size": 1}
    for name, value in least.items():
        if getattr(config, name) < value:
            parser.error(f"--{name} must be at least {value}, got {getattr(config, name)}")
    if config.learning_rate <= 0 or config.max_norm <= 0:
        parser.error("--learning_rate and --max_norm must be positive")
    cuda = config.device.startswith("cuda") and torch.cuda.is_available()
    if config.device not in ("auto", "cpu") and not cuda:
        parser.error(f"--device {config.device}: CUDA is not available here (or unknown device); "
                     "use auto or cpu")
    config.out_dir = config.out_dir or str(Path("results") / "part1" / (
        f"{config.model_type}_T{config.input_length}_d{config.input_dim}_s{config.seed}"))
    return config


def main(argv=None, models=MODELS):
    """The command line: train, print the score, exit 0; 2 after a user error; 130 when interrupted."""
    config = parse_args(argv)
    try:
        result = train(config, models)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if result["status"] == "interrupted":
        print(f"interrupted at step {result['steps']}; checkpoint saved to "
              f"{Path(config.out_dir) / 'checkpoint.pt'}; continue with --resume", file=sys.stderr)
        return 130
    print(f"{config.model_type} T={config.input_length}: test accuracy {result['test_accuracy']:.4f} "
          f"on {config.test_size} palindromes after {result['steps']} steps "
          f"({result['train_seconds']:.1f} s, {result['status']}); results in {config.out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
