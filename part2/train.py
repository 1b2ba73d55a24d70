"""Train the character-level LSTM of part 2 on a book.

    python part2/train.py --txt_file ../shared/books/book_EN_grimms_fairy_tails.txt
    python part2/train.py --txt_file BOOK --preset best        # the best configuration found
    python part2/train.py --resume                              # continue checkpoints/part2/last.pt

Without ``--txt_file`` the default book (Grimm) comes from ``assets/cache/`` or is downloaded there.
Every ``--print_every`` steps the mean training loss and accuracy go to TensorBoard
(``<summary_path>/tensorboard``) and ``<summary_path>/metrics.csv``; every ``--val_every`` steps the
held-out tail of the book is evaluated; every ``--sample_every`` steps samples are appended to
``<summary_path>/samples.txt``; at the end ``curves.png`` is drawn. Checkpoints (``last.pt``,
``best.pt``) are written atomically every ``--checkpoint_every`` steps, at the end, and on Ctrl-C or
SIGTERM; ``--resume`` continues bit for bit (same seed, CPU).
"""
from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse
import csv
import json
import math
import signal
import time

import torch
from torch.nn import functional as F

from common.args import (drop_probability, given_flags, merge_resumed_args, nonnegative_int,
                         open_unit_interval, positive_float, positive_int, unit_interval)
from common.checkpoint import StopRequest, atomic_write_text, load_checkpoint, save_checkpoint
from common.runtime import UserError, environment_info, resolve_device, run_main, seed_everything
from part2.dataset import TextDataset, TextStreams
from part2.distributed import Dist
from part2.model import build_model
from part2.sampling import generate

KIND = "part2"
CSV_FIELDS = ["step", "split", "loss", "accuracy", "learning_rate", "elapsed_s", "chars_per_s"]

# The best configuration found within the 15-minute CPU budget (see part2/README.md for the runs).
PRESETS = {
    "best": {"seq_length": 100, "lstm_num_hidden": 256, "lstm_num_layers": 2, "batch_size": 64,
             "learning_rate": 4e-3, "learning_rate_decay": 0.9, "learning_rate_step": 1000,
             "dropout_keep_prob": 0.7, "weight_drop": 0.25, "train_steps": 4400, "val_every": 500},
}
# Flags that may change when a run is resumed; everything else is taken from the checkpoint.
RESUME_OVERRIDABLE = {"train_steps", "print_every", "sample_every", "val_every", "checkpoint_every",
                      "device", "time_limit", "summary_path", "checkpoint_dir", "resume", "overwrite",
                      "no_progress", "txt_file", "book"}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Train a character-level LSTM on a text (part 2 of the RNN/GNN assignment).",
        allow_abbrev=False, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    data = parser.add_argument_group("data")
    data.add_argument("--txt_file", type=str, default=None,
                      help="UTF-8 text to train on; without it the cached or downloaded --book is used")
    data.add_argument("--book", type=str, default="grimm",
                      help="Gutenberg short name or id fetched into assets/cache/ when --txt_file is absent")
    data.add_argument("--val_fraction", type=open_unit_interval, default=0.1,
                      help="share of the text, at its end, held out for validation")
    data.add_argument("--keep_gutenberg_header", action="store_true",
                      help="train on the Project Gutenberg header and licence too (stripped by default)")

    model = parser.add_argument_group("model")
    model.add_argument("--seq_length", type=positive_int, default=30, help="characters per training example")
    model.add_argument("--lstm_num_hidden", type=positive_int, default=128, help="units per LSTM layer")
    model.add_argument("--lstm_num_layers", type=positive_int, default=2, help="stacked LSTM layers")
    model.add_argument("--embedding_dim", type=nonnegative_int, default=64,
                       help="character embedding size; 0 feeds one-hot vectors")
    model.add_argument("--dropout_keep_prob", type=unit_interval, default=1.0,
                       help="keep probability of dropout between and after the LSTM layers, in (0, 1]")
    model.add_argument("--weight_drop", type=drop_probability, default=0.0,
                       help="DropConnect on the LSTM's hidden-to-hidden weights W_hh while training: the "
                            "probability of dropping an entry (one mask per batch, all time steps); 0 = off")

    optim = parser.add_argument_group("optimisation")
    optim.add_argument("--batch_size", type=positive_int, default=64, help="sequences per step")
    optim.add_argument("--optimizer", choices=["adam", "adamw", "rmsprop", "sgd"], default="adam",
                       help="optimizer")
    optim.add_argument("--learning_rate", type=positive_float, default=2e-3, help="initial learning rate")
    optim.add_argument("--learning_rate_decay", type=unit_interval, default=0.96,
                       help="factor applied to the learning rate every --learning_rate_step steps")
    optim.add_argument("--learning_rate_step", type=positive_int, default=5000,
                       help="steps between learning-rate decays")
    optim.add_argument("--train_steps", type=positive_int, default=20000, help="number of training steps")
    optim.add_argument("--max_norm", type=positive_float, default=5.0, help="gradient-norm clipping threshold")
    optim.add_argument("--carry_state", action="store_true",
                       help="read the training text as --batch_size consecutive streams with the LSTM state "
                            "carried from batch to batch (truncated BPTT, as char-rnn) instead of random "
                            "windows that each start from a zero state")
    optim.add_argument("--preset", choices=sorted(PRESETS), default=None,
                       help="a tested configuration; flags given explicitly still win. "
                            + "; ".join(f"{k}: " + ", ".join(f"{a}={v}" for a, v in p.items())
                                        for k, p in PRESETS.items()))
    optim.add_argument("--time_limit", type=positive_float, default=None,
                       help="stop (with a checkpoint) after this many minutes of training")

    books = parser.add_argument_group("bookkeeping")
    books.add_argument("--summary_path", type=str, default="./summaries/",
                       help="TensorBoard events, metrics.csv, samples.txt, curves.png, config.json")
    books.add_argument("--print_every", type=positive_int, default=5, help="steps between train-metric logs")
    books.add_argument("--sample_every", type=nonnegative_int, default=100,
                       help="steps between sample dumps (0: never)")
    books.add_argument("--val_every", type=nonnegative_int, default=500,
                       help="steps between validation passes (0: only at the end)")
    books.add_argument("--checkpoint_dir", type=str, default="./checkpoints/part2/",
                       help="where last.pt and best.pt are written")
    books.add_argument("--checkpoint_every", type=positive_int, default=1000, help="steps between checkpoints")
    books.add_argument("--resume", nargs="?", const="auto", default=None, metavar="CHECKPOINT",
                       help="continue a run (from CHECKPOINT, or <checkpoint_dir>/last.pt)")
    books.add_argument("--overwrite", action="store_true",
                       help="start afresh even if --checkpoint_dir/--summary_path hold a previous run")
    books.add_argument("--device", type=str, default="auto", help="auto, cpu, cuda or cuda:N")
    books.add_argument("--seed", type=nonnegative_int, default=0, help="random seed")
    books.add_argument("--no_progress", action="store_true", help="no tqdm progress bar")
    return parser


def parse_args(argv=None):
    """Parse, apply ``--preset`` to flags not given explicitly, and return ``(args, given)``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    given = given_flags(parser, argv)
    if args.preset:
        for key, value in PRESETS[args.preset].items():
            if key not in given:
                setattr(args, key, value)
    return args, given


# --------------------------------------------------------------------------------------------
# training pieces
# --------------------------------------------------------------------------------------------
def make_optimizer(name: str, params, lr: float) -> torch.optim.Optimizer:
    if name == "adam":
        return torch.optim.Adam(params, lr=lr)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr)
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr)
    return torch.optim.SGD(params, lr=lr, momentum=0.9)


def train_step(model, optimizer, scheduler, x, y, max_norm: float, state=None):
    """One update on a ``(B, T)`` batch that starts from ``state`` (``None``: zeros); returns the
    detached loss and accuracy and the final ``(h, c)`` state (no host sync).

    The loss is equation 13: the mean cross-entropy over every time step and sequence.
    """
    model.train()
    logits, state = model(x, state)                                   # (B, T, V); h, c: (L, B, H)
    loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))  # mean over B*T
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)
    optimizer.step()
    scheduler.step()
    with torch.no_grad():
        accuracy = (logits.argmax(dim=-1) == y).float().mean()        # scalar tensor
    return loss.detach(), accuracy, state


def loop_body(step, dataset, batch_gen, model, optimizer, scheduler, batch_size, max_norm, sums, first_bad,
              explode_limit, streams=None):
    """Everything one training step does (also what bench/bench_part2_train.py times): draw a batch
    (random windows, or with ``streams`` the next chunk of each stream and the state carried in
    ``streams.state``), update, add loss and accuracy to the device-side running ``sums`` and
    remember the first step whose loss is not finite or above ``explode_limit``. No value is copied
    to the host here."""
    device = sums.device
    if streams is None:
        x, y = dataset.sample_batch(batch_size, batch_gen)                       # (B, T) each
        state = None
    else:
        x, y, new_pass = streams.batch(step)                                     # (B, T) each
        state = None if new_pass else streams.state
    loss, acc, state = train_step(model, optimizer, scheduler, x.to(device), y.to(device), max_norm, state)
    if streams is not None:  # carried into the next batch, its gradient cut here
        streams.state = tuple(t.detach() for t in state)                         # (L, B, H) each
    sums += torch.stack([loss.double(), acc.double()])
    bad = ~torch.isfinite(loss) | (loss > explode_limit)
    return torch.where(bad & (first_bad < 0), step, first_bad)


@torch.no_grad()
def evaluate(model, x, y, chunk: int = 512):
    """Mean cross-entropy (nats/char) and accuracy over ``(W, T)`` windows, each from a zero state."""
    if x.numel() == 0:
        return float("nan"), float("nan")
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    total_loss = torch.zeros((), dtype=torch.float64, device=device)
    total_correct = torch.zeros((), dtype=torch.float64, device=device)
    for start in range(0, x.shape[0], chunk):
        xb, yb = x[start:start + chunk].to(device), y[start:start + chunk].to(device)  # (w, T)
        logits, _ = model(xb)                                                          # (w, T, V)
        total_loss += F.cross_entropy(logits.reshape(-1, logits.shape[-1]), yb.reshape(-1),
                                      reduction="sum").double()
        total_correct += (logits.argmax(-1) == yb).sum().double()
    model.train(was_training)
    n = x.numel()
    return (total_loss / n).item(), (total_correct / n).item()


@torch.no_grad()
def evaluate_stream(model, ids: torch.Tensor, streams: int = 16, chunk: int = 256):
    """Mean cross-entropy (nats/char) and accuracy of the held-out text ``ids`` ``(N,)`` read the way
    a language model reads a text: cut into ``streams`` consecutive stretches, each run from its start
    with the LSTM state carried from chunk to chunk, so every character is predicted from all the text
    before it in its stretch (only the first character of a stretch starts from a zero state)."""
    length = (ids.numel() - 1) // streams
    if length < 1:
        return float("nan"), float("nan")
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    x = ids[: streams * length].view(streams, length).to(device)                   # (S, L)
    y = ids[1: streams * length + 1].view(streams, length).to(device)              # (S, L)
    total_loss = torch.zeros((), dtype=torch.float64, device=device)
    total_correct = torch.zeros((), dtype=torch.float64, device=device)
    state = None
    for start in range(0, length, chunk):
        logits, state = model(x[:, start:start + chunk], state)                    # (S, c, V)
        yb = y[:, start:start + chunk]
        total_loss += F.cross_entropy(logits.reshape(-1, logits.shape[-1]), yb.reshape(-1),
                                      reduction="sum").double()
        total_correct += (logits.argmax(-1) == yb).sum().double()
    model.train(was_training)
    return (total_loss / y.numel()).item(), (total_correct / y.numel()).item()


def write_samples(model, dataset, generator, step: int, path: Path, info: str) -> str:
    """Append this step's samples: 5 greedy of 30 characters and 2 of 120 from random first
    characters, and one 120-character sample at each temperature tau in {0.5, 1, 2}."""
    device = next(model.parameters()).device
    v = dataset.vocab_size

    def show(ids):
        return dataset.convert_to_string(ids).replace("\\", "\\\\").replace("\n", "\\n")

    def firsts(n):
        return torch.randint(0, v, (n, 1), generator=generator).to(device)   # (n, 1)

    lines = [f"## step {step} ({info})"]
    for n, length, label in ((5, 30, "greedy, 30 characters"), (2, 120, "greedy, 120 characters")):
        start = firsts(n)
        rest = generate(model, start, length - 1)                            # (n, length-1)
        lines.append(label + ":")
        lines += [f"  {show(row)}" for row in torch.cat([start, rest], 1)]
    for tau in (0.5, 1.0, 2.0):
        start = firsts(1)
        rest = generate(model, start, 119, temperature=tau, generator=generator)
        lines.append(f"sampled, tau={tau:g} (softmax(tau*logits)), 120 characters:")
        lines.append(f"  {show(torch.cat([start, rest], 1)[0])}")
    block = "\n".join(lines) + "\n\n"
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(block)
    return block


def truncate_after(path: Path, step: int) -> None:
    """Drop what a killed run wrote after ``step`` from metrics.csv / samples.txt before resuming."""
    if not path.exists():
        return
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".csv":
        lines = text.splitlines(keepends=True)
        kept = lines[:1] + [ln for ln in lines[1:] if ln.strip() and int(ln.split(",", 1)[0]) <= step]
        atomic_write_text(path, "".join(kept))
        return
    blocks = text.split("## step ")
    kept = [blocks[0]] + ["## step " + b for b in blocks[1:] if int(b.split(" ", 1)[0]) <= step]
    atomic_write_text(path, "".join(kept))


def plain_environment() -> dict:
    """``environment_info()`` with plain ``str`` values: ``torch.__version__`` is a ``TorchVersion``
    object, which ``torch.load(weights_only=True)`` refuses to unpickle."""
    return {k: str(v) if isinstance(v, str) else v for k, v in environment_info().items()}


def rng_state(*generators) -> dict:
    state = {"torch": torch.get_rng_state(), "generators": [g.get_state() for g in generators]}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict, *generators) -> None:
    torch.set_rng_state(state["torch"])
    for g, s in zip(generators, state["generators"]):
        g.set_state(s)
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


# --------------------------------------------------------------------------------------------
# setting up: everything is checked before anything is written
# --------------------------------------------------------------------------------------------
def resolve_resume(args, given):
    """Load the checkpoint to resume (or None) and merge its saved arguments into ``args``."""
    if args.resume is None:
        return None
    path = Path(args.checkpoint_dir) / "last.pt" if args.resume == "auto" else Path(args.resume)
    ckpt = load_checkpoint(path, KIND, map_location="cpu")
    saved = ckpt.get("args")
    if not isinstance(saved, dict) or "model_state" not in ckpt:
        raise UserError(f"checkpoint '{path}' lacks the training state; it cannot be resumed")
    merge_resumed_args(args, saved, given - {"preset"}, RESUME_OVERRIDABLE)  # the saved preset wins
    if "txt_file" not in given:
        args.txt_file = saved.get("txt_file")
    if ckpt["step"] >= args.train_steps:
        raise UserError(f"checkpoint '{path}' is already at step {ckpt['step']} of --train_steps "
                        f"{args.train_steps}; pass a larger --train_steps to train further")
    ckpt["path"] = str(path)
    return ckpt


def load_book(args) -> TextDataset:
    if args.txt_file is None:
        from assets.gutenberg import download
        args.txt_file = str(download(args.book))
    return TextDataset(args.txt_file, args.seq_length, val_fraction=args.val_fraction,
                       strip_header=not args.keep_gutenberg_header)


def check_fresh_start(args) -> None:
    """Refuse to clobber a previous run unless --overwrite (or --resume) says so."""
    previous = [p for p in (Path(args.checkpoint_dir) / "last.pt", Path(args.summary_path) / "metrics.csv")
                if p.exists()]
    if previous and not args.overwrite:
        raise UserError(f"'{previous[0]}' holds a previous run; pass --resume to continue it, "
                        "--overwrite to start afresh, or another --checkpoint_dir/--summary_path")


def main(argv=None) -> int:
    args, given = parse_args(argv)
    ckpt = resolve_resume(args, given)
    device = resolve_device(args.device)
    dataset = load_book(args)
    if ckpt is not None and ckpt["vocabulary"] != dataset.chars:
        raise UserError(f"the checkpoint's vocabulary ({len(ckpt['vocabulary'])} characters) differs from "
                        f"that of '{args.txt_file}' ({dataset.vocab_size}); resume on the same book")
    if ckpt is None:
        check_fresh_start(args)
    ddp = Dist()
    local_batch = ddp.split_batch(args.batch_size)
    rank_states = (ckpt or {}).get("rng", {}).get("ranks")
    if ckpt is not None and len(rank_states or [None]) != ddp.world:
        raise UserError(f"checkpoint '{ckpt['path']}' was written by {len(rank_states or [None])} process(es); "
                        f"resume it with the same number (now {ddp.world})")
    device = ddp.start(device)
    try:
        code = train(args, ckpt, dataset, device, ddp, local_batch)
        ddp.barrier()  # leave together: a rank that tears gloo down while rank 0 still writes can abort
        return code
    finally:
        ddp.close()


def train(args, ckpt, dataset, device, ddp, local_batch) -> int:
    """The training loop of :func:`main` (all inputs already checked)."""
    main_rank = ddp.is_main
    seed_everything(args.seed + ddp.rank)
    model = build_model(dataset.vocab_size, vars(args), device)
    net = ddp.wrap(model)                                           # what the training step calls
    optimizer = make_optimizer(args.optimizer, model.parameters(), args.learning_rate)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, args.learning_rate_step, args.learning_rate_decay)
    batch_gen = torch.Generator().manual_seed(args.seed + 7919 * ddp.rank)  # training batches, per rank
    streams = None
    if args.carry_state:  # this rank reads its own slice of the streams
        streams = TextStreams(dataset.train_data, args.batch_size, args.seq_length,
                              slice(ddp.rank * local_batch, (ddp.rank + 1) * local_batch))
    sample_gen = torch.Generator().manual_seed(args.seed + 1)      # samples written during training
    # Running sums between two train-metric logs, on the device (no per-step host sync).
    sums = torch.zeros(2, dtype=torch.float64, device=device)      # [loss, accuracy]
    first_bad = torch.full((), -1, dtype=torch.long, device=device)
    start_step, best_val, best_step, elapsed_before = 0, float("inf"), 0, 0.0
    best_stream = float("nan")  # carried-state validation loss at best_step
    if ckpt is not None:
        model.load_state_dict(ckpt["model_state"])
        optimizer.load_state_dict(ckpt["optimizer_state"])
        scheduler.load_state_dict(ckpt["scheduler_state"])
        set_rng_state(ckpt["rng"], batch_gen, sample_gen)
        sums = ckpt["running_sums"].to(device)
        if ddp.active:  # each rank continues its own random streams and running sums
            mine = ckpt["rng"]["ranks"][ddp.rank]
            torch.set_rng_state(mine["torch"])
            batch_gen.set_state(mine["batch"])
            sums = mine["sums"].to(device)
        if streams is not None:
            carried = ckpt["rng"]["ranks"][ddp.rank] if ddp.active else ckpt
            streams.state = tuple(t.to(device) for t in carried["carried_state"])
        start_step, best_val, best_step = ckpt["step"], ckpt["best_val_loss"], ckpt["best_step"]
        elapsed_before = ckpt.get("elapsed_s", 0.0)
        best_stream = ckpt.get("best_val_stream_loss", float("nan"))

    summary = Path(args.summary_path)
    ckpt_dir = Path(args.checkpoint_dir)
    csv_path, samples_path = summary / "metrics.csv", summary / "samples.txt"
    config = {"args": vars(args), "environment": plain_environment(), "vocab_size": dataset.vocab_size,
              "train_chars": len(dataset.train_data), "val_chars": len(dataset.val_data),
              "parameters": sum(p.numel() for p in model.parameters()), "processes": ddp.world}
    writer = None
    if main_rank:  # only rank 0 writes anything
        summary.mkdir(parents=True, exist_ok=True)
        if ckpt is None:
            csv_path.write_text(",".join(CSV_FIELDS) + "\n", encoding="utf-8")
            samples_path.write_text("", encoding="utf-8")
            for old in (summary / "tensorboard").glob("events.out.tfevents.*"):
                old.unlink()
        else:
            truncate_after(csv_path, start_step)
            truncate_after(samples_path, start_step)
            if not csv_path.exists():
                csv_path.write_text(",".join(CSV_FIELDS) + "\n", encoding="utf-8")
        atomic_write_text(summary / "config.json", json.dumps(config, indent=2, ensure_ascii=False) + "\n")
        from torch.utils.tensorboard import SummaryWriter
        writer = SummaryWriter(log_dir=str(summary / "tensorboard"),
                               purge_step=start_step + 1 if ckpt is not None else None)
        print(f"training on '{args.txt_file}': {len(dataset.train_data):,} train / {len(dataset.val_data):,} "
              f"validation characters, vocabulary {dataset.vocab_size}, {config['parameters']:,} parameters, "
              f"device {device}" + (f", {ddp.world} processes" if ddp.active else "")
              + (f", resuming at step {start_step}" if ckpt else ""), flush=True)
    from tqdm import tqdm

    val_x, val_y = dataset.val_windows()
    explode_limit = 2.0 * math.log(max(dataset.vocab_size, 2)) + 1.0
    chars_per_step = args.batch_size * args.seq_length

    def log_row(step, split, loss, acc, rate=""):
        lr = optimizer.param_groups[0]["lr"]
        elapsed = elapsed_before + time.perf_counter() - t0
        with open(csv_path, "a", encoding="utf-8", newline="") as handle:
            csv.writer(handle).writerow([step, split, f"{loss:.6f}", f"{acc:.6f}", f"{lr:.6g}",
                                         f"{elapsed:.1f}", rate])
        writer.add_scalar(f"loss/{split}", loss, step)
        writer.add_scalar(f"accuracy/{split}", acc, step)
        if split == "train":
            writer.add_scalar("learning_rate", lr, step)

    def check_finite():
        bad = int(ddp.max(first_bad))  # every rank calls this at the same steps
        if bad >= 0:
            raise UserError(f"training diverged: the loss became NaN or exploded (> {explode_limit:.1f}) at "
                            f"step {bad}; lower --learning_rate (now {args.learning_rate:g}) or check --max_norm "
                            f"({args.max_norm:g}); the last good checkpoint is kept in '{ckpt_dir}'")

    def checkpoint(step, name="last.pt", ranks=None):
        rng = rng_state(batch_gen, sample_gen)
        if ranks is not None:
            rng["ranks"] = ranks
        state = {"model_state": model.state_dict(), "optimizer_state": optimizer.state_dict(),
                 "scheduler_state": scheduler.state_dict(), "step": step, "args": vars(args),
                 "vocabulary": dataset.chars, "rng": rng,
                 "running_sums": sums.cpu(), "best_val_loss": best_val, "best_step": best_step,
                 "best_val_stream_loss": best_stream,
                 "carried_state": None if streams is None else tuple(t.cpu() for t in streams.state),
                 "elapsed_s": elapsed_before + time.perf_counter() - t0,
                 "environment": plain_environment()}
        save_checkpoint(state, ckpt_dir / name, KIND)

    def gather_rank_states():
        """Every rank's dropout RNG, batch generator and running sums (collective; DDP only)."""
        if not ddp.active:
            return None
        ranks = [{"torch": t, "batch": b, "sums": m} for t, b, m in
                 zip(ddp.gather(torch.get_rng_state()), ddp.gather(batch_gen.get_state()), ddp.gather(sums.cpu()))]
        if streams is not None:
            for rank, h, c in zip(ranks, ddp.gather(streams.state[0].cpu()), ddp.gather(streams.state[1].cpu())):
                rank["carried_state"] = (h, c)
        return ranks

    t0 = time.perf_counter()
    rate_t, rate_step = t0, start_step
    stopped = None
    step = start_step
    val_loss = val_acc = float("nan")
    with StopRequest() as stop, tqdm(total=args.train_steps, initial=start_step,
                                     disable=args.no_progress or not main_rank,
                                     dynamic_ncols=True, desc="train", file=sys.stderr) as bar:
        for step in range(start_step + 1, args.train_steps + 1):
            first_bad = loop_body(step, dataset, batch_gen, net, optimizer, scheduler, local_batch,
                                  args.max_norm, sums, first_bad, explode_limit, streams)
            last = step == args.train_steps
            print_due = step % args.print_every == 0
            want = stop.requested
            if args.time_limit and time.perf_counter() - t0 > 60 * args.time_limit:
                want = want or f"--time_limit {args.time_limit:g} min"
            if not ddp.active:
                stopped = want
            elif print_due and ddp.any(bool(want)):  # all ranks stop at the same step
                stopped = want or "a stop request to another process"
            val_due = (args.val_every and step % args.val_every == 0) or last or stopped
            sample_due = args.sample_every and step % args.sample_every == 0
            ckpt_due = step % args.checkpoint_every == 0 or last or stopped
            if print_due or val_due or sample_due or ckpt_due:
                check_finite()
            if print_due:
                train_loss, train_acc = (ddp.mean(sums) / args.print_every).tolist()
                sums.zero_()
                now = time.perf_counter()
                rate = (step - rate_step) * chars_per_step / max(now - rate_t, 1e-9)
                rate_t, rate_step = now, step
                if main_rank:
                    log_row(step, "train", train_loss, train_acc, f"{rate:.0f}")
                    bar.set_postfix(loss=f"{train_loss:.3f}", acc=f"{train_acc:.3f}",
                                    val=f"{val_loss:.3f}", refresh=False)
            if val_due and main_rank:
                val_loss, val_acc = evaluate(model, val_x, val_y)
                stream_loss, stream_acc = evaluate_stream(model, dataset.val_data)
                log_row(step, "val", val_loss, val_acc)
                log_row(step, "val_stream", stream_loss, stream_acc)
                bar.write(f"step {step}: validation loss {val_loss:.4f} nats/char, accuracy {val_acc:.4f} "
                          f"(carried state: {stream_loss:.4f}, {stream_acc:.4f}), "
                          f"lr {optimizer.param_groups[0]['lr']:.3g}")
                if val_loss < best_val:
                    best_val, best_step, best_stream = val_loss, step, stream_loss
                    checkpoint(step, "best.pt")
            if sample_due and main_rank:
                block = write_samples(model, dataset, sample_gen, step, samples_path,
                                      f"validation loss {val_loss:.4f}")
                writer.add_text("samples", "    " + block.replace("\n", "\n    "), step)
            if ckpt_due:
                ranks = gather_rank_states()
                if main_rank:
                    checkpoint(step, ranks=ranks)
            bar.update(1)
            if stopped or last:
                break
    if not main_rank:
        return 128 + int(getattr(signal, stopped)) if stopped in ("SIGINT", "SIGTERM") else 0
    writer.close()
    elapsed = time.perf_counter() - t0
    trained = step - start_step
    speed = f"{trained / elapsed:.1f} steps/s, {trained * chars_per_step / elapsed:,.0f} chars/s" if trained else ""
    if stopped and step < args.train_steps:
        print(f"stopped by {stopped} at step {step}; checkpoint saved to '{ckpt_dir / 'last.pt'}'; "
              f"continue with: {'torchrun --nproc_per_node %d ' % ddp.world if ddp.active else 'python '}"
              f"part2/train.py --resume", flush=True)
        if stopped in ("SIGINT", "SIGTERM"):
            return 128 + int(getattr(signal, stopped))
    from part2.plot import plot_curves
    png = plot_curves(csv_path, summary / "curves.png", title=f"part 2, {Path(args.txt_file).name}")
    print(f"done at step {step}: validation loss {val_loss:.4f} (best {best_val:.4f} at step {best_step}, "
          f"{best_stream:.4f} with carried state); "
          f"{speed}; checkpoints in '{ckpt_dir}', curves in '{png}'", flush=True)
    return 0


if __name__ == "__main__":
    run_main(main)
