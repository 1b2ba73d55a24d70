"""Train the character-level LSTM of part 2 on a book (question 2.1), read top to bottom:
flags, data, model, loop, evaluation, samples, checkpoint.

    python part2/train.py                               # Grimm, the copy shipped in assets/
    python part2/train.py --txt_file BOOK --seq_length 100
    python part2/train.py --resume                      # the same command plus --resume after Ctrl-C

Every --eval_every steps the held-out tail of the book is scored and <checkpoint_dir>/checkpoint.pt
written (best.pt keeps the best validation loss); every --sample_every steps samples go to
<summary_path>/samples.txt. Ctrl-C or SIGTERM saves the checkpoint and exits 130.
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
import os
import signal
import time

import torch
from torch.nn import functional as F
from tqdm import tqdm

from part2.dataset import TextDataset, UserError
from part2.model import TextGenerationModel, resolve_device
from part2.sample import generate

BOOK = Path(__file__).resolve().parents[1] / "assets" / "book_EN_grimms_fairy_tails.txt"
ARCHITECTURE = ("lstm_num_hidden", "lstm_num_layers", "embedding_dim")  # a resumed run must keep these


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Train a character-level LSTM on a text (part 2).",
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter, allow_abbrev=False)
    p.add_argument("--txt_file", type=str, default=str(BOOK), help="UTF-8 text to train on (other books: "
                   "python part2/gutenberg.py NAME_OR_ID)")
    p.add_argument("--seq_length", type=int, default=30, help="characters per training example")
    p.add_argument("--lstm_num_hidden", type=int, default=128, help="units per LSTM layer")
    p.add_argument("--lstm_num_layers", type=int, default=2, help="stacked LSTM layers")
    p.add_argument("--embedding_dim", type=int, default=64, help="character embedding size; 0 feeds one-hot vectors")
    p.add_argument("--dropout_keep_prob", type=float, default=1.0, help="keep probability of dropout between "
                   "and after the LSTM layers, in (0, 1]")
    p.add_argument("--val_fraction", type=float, default=0.1, help="share of the text, at its end, held out")
    p.add_argument("--batch_size", type=int, default=64, help="sequences per step")
    p.add_argument("--learning_rate", type=float, default=2e-3, help="Adam's learning rate")
    p.add_argument("--learning_rate_decay", type=float, default=0.96, help="factor applied to the learning "
                   "rate every --learning_rate_step steps")
    p.add_argument("--learning_rate_step", type=int, default=5000, help="steps between learning-rate decays")
    p.add_argument("--train_steps", type=int, default=20000, help="number of training steps")
    p.add_argument("--max_norm", type=float, default=5.0, help="gradient-norm clipping threshold")
    p.add_argument("--summary_path", type=str, default="./summaries/", help="metrics.csv, samples.txt, "
                   "samples.jsonl, curves.png, config.json, result.json")
    p.add_argument("--checkpoint_dir", type=str, default="./checkpoints/part2/", help="checkpoint.pt (latest) "
                   "and best.pt (best validation loss)")
    p.add_argument("--print_every", type=int, default=5, help="steps between training-loss rows of metrics.csv")
    p.add_argument("--sample_every", type=int, default=100, help="steps between samples (0: never)")
    p.add_argument("--eval_every", type=int, default=500, help="steps between validations and checkpoints "
                   "(0: only at the end)")
    p.add_argument("--time_limit", type=float, default=None, help="stop with a checkpoint after this many "
                   "seconds of training in this process")
    p.add_argument("--resume", action="store_true", help="continue from <checkpoint_dir>/checkpoint.pt")
    p.add_argument("--overwrite", action="store_true", help="start afresh over a previous run's checkpoint")
    p.add_argument("--device", type=str, default="auto", help="auto, cpu, cuda or cuda:N")
    p.add_argument("--seed", type=int, default=0, help="random seed")
    p.add_argument("--quiet", action="store_true", help="no progress bar and no line per validation")
    return p


def check_flags(parser, config) -> None:
    positive = ["seq_length", "lstm_num_hidden", "lstm_num_layers", "batch_size", "learning_rate_step",
                "train_steps", "print_every", "learning_rate", "max_norm"]
    for name in positive + ["embedding_dim", "sample_every", "eval_every", "seed"]:
        value = getattr(config, name)
        if value < 0 or (value == 0 and name in positive):
            parser.error(f"argument --{name}: must be {'positive' if name in positive else '>= 0'}, got {value}")
    for name in ("dropout_keep_prob", "learning_rate_decay"):
        if not 0 < getattr(config, name) <= 1:
            parser.error(f"argument --{name}: must be in (0, 1], got {getattr(config, name)}")
    if not 0 < config.val_fraction < 1 or (config.time_limit is not None and config.time_limit <= 0):
        parser.error("argument --val_fraction must be in (0, 1) and --time_limit positive")


@torch.no_grad()
def evaluate(model, data: torch.Tensor, seq_length: int, streams: int = 16, chunk: int = 256) -> dict:
    """``[loss, accuracy]`` (nats/char) on held-out ids ``data`` ``(N,)``, read two ways. ``val``: cut
    into ``seq_length`` windows, each from a zero state, as the model is trained. ``val_stream``: cut
    into ``streams`` long stretches read with the state carried along, so each character is predicted
    from all the text before it in its stretch (the usual language-model measure)."""
    model.eval()

    def windows(width):  # consecutive (n, width) windows of inputs and of their targets
        n = (len(data) - 1) // width
        return data[:n * width].view(n, width).to(model.device), data[1:n * width + 1].view(n, width).to(model.device)

    def summed(logits, y):  # [summed cross-entropy, number correct]
        return torch.stack([F.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="sum").double(),
                            (logits.argmax(-1) == y).sum().double()])

    x, y = windows(seq_length)                                                    # (W, T) each
    val = sum(summed(model(x[a:a + 512])[0], y[a:a + 512]) for a in range(0, len(x), 512)) / y.numel()
    x, y = windows((len(data) - 1) // min(streams, len(data) - 1))                # (S, L) each
    total, state = 0, None
    for a in range(0, x.shape[1], chunk):
        logits, state = model(x[:, a:a + chunk], state)                           # (S, chunk, V)
        total = total + summed(logits, y[:, a:a + chunk])
    model.train()
    return {"val": val.tolist(), "val_stream": (total / y.numel()).tolist()}


def training_samples(model, dataset, generator, step: int, val_loss: float) -> dict:
    """What the model writes at this step (question 2.1b): 5 greedy samples of 30 characters, 2 of
    120, and one of 120 at each tau in {0.5, 1, 2}, each from a random first character."""
    groups = []
    for kind, n, length, tau in (("greedy", 5, 30, None), ("greedy", 2, 120, None),
                                 ("temperature", 1, 120, 0.5), ("temperature", 1, 120, 1.0),
                                 ("temperature", 1, 120, 2.0)):
        start = torch.randint(dataset.vocab_size, (n, 1), generator=generator).to(model.device)  # (n, 1)
        ids = torch.cat([start, generate(model, start, length - 1, tau, generator)], 1)   # (n, length)
        groups.append({"kind": kind, "length": length, "temperature": tau, "prompt": None,
                       "texts": [dataset.convert_to_string(row) for row in ids]})
    return {"step": step, "validation_loss": val_loss if math.isfinite(val_loss) else None, "groups": groups}


def samples_text(row: dict) -> str:
    lines = [f"## step {row['step']} (validation loss {row['validation_loss'] or math.nan:.4f})"]
    for g in row["groups"]:
        lines.append(f"{g['kind']}" + (f", tau={g['temperature']:g}" if g["temperature"] else "")
                     + f", {g['length']} characters:")
        lines += ["  " + text.replace("\\", "\\\\").replace("\n", "\\n") for text in g["texts"]]
    return "\n".join(lines) + "\n\n"


def save(path: Path, state: dict) -> None:
    """Write atomically: a crash while writing leaves the previous file intact."""
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, path.with_suffix(".tmp"))
    os.replace(path.with_suffix(".tmp"), path)


def train(config, Model=TextGenerationModel) -> int:
    """The training of ``config`` (the parsed flags); ``Model`` builds the network (experiments pass
    a subclass). Returns the exit code: 0, or 130 after Ctrl-C or SIGTERM."""
    device = resolve_device(config.device)
    torch.manual_seed(config.seed)
    ckpt_dir, out = Path(config.checkpoint_dir), Path(config.summary_path)
    ckpt_path = ckpt_dir / "checkpoint.pt"

    # data: the book's training ids and its held-out tail
    dataset = TextDataset(config.txt_file, config.seq_length, config.val_fraction)
    data = dataset.train_data
    if len(dataset.val_data) < config.seq_length + 1:
        raise UserError(f"'{config.txt_file}' is too short for a held-out tail of seq_length + 1 characters; "
                        "use a longer text or a larger --val_fraction")

    def get_batch():
        """``batch_size`` random windows of the training text: ``x, y`` each ``(B, T)``."""
        starts = torch.randint(len(data) - config.seq_length, (config.batch_size,))    # (B,)
        window = data[starts[:, None] + torch.arange(config.seq_length + 1)]            # (B, T+1)
        return window[:, :-1].to(device), window[:, 1:].to(device)

    # model, optimizer, schedule
    model = Model(config.batch_size, config.seq_length, dataset.vocab_size, config.lstm_num_hidden,
                  config.lstm_num_layers, device, dropout_keep_prob=config.dropout_keep_prob,
                  embedding_dim=config.embedding_dim)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, config.learning_rate_step, config.learning_rate_decay)
    sample_gen = torch.Generator().manual_seed(config.seed + 1)  # samples do not change the training draws
    sums = torch.zeros(2, dtype=torch.float64, device=device)  # [loss, accuracy] since the last print
    progress = {"step": 0, "best_val_loss": math.inf, "best_val_step": None, "best_val_stream_loss": None,
                "seconds": 0.0, "last": {}}

    if config.resume:
        if not ckpt_path.is_file():
            raise UserError(f"no checkpoint at {ckpt_path} to resume; train without --resume first")
        try:
            ckpt = torch.load(ckpt_path, map_location=device, weights_only=True)
        except Exception as exc:
            raise UserError(f"cannot read checkpoint {ckpt_path} ({type(exc).__name__}); train again "
                            "with --overwrite") from None
        changed = [k for k in ARCHITECTURE if ckpt["config"][k] != getattr(config, k)]
        if changed or ckpt["vocabulary"] != dataset.chars:
            raise UserError(f"the checkpoint {ckpt_path} was trained with another "
                            f"{', '.join('--' + k for k in changed) or 'book (vocabulary)'}; "
                            "resume with the flags of the run that wrote it")
        if ckpt["step"] >= config.train_steps:
            raise UserError(f"{ckpt_path} is already at step {ckpt['step']}; pass a larger --train_steps")
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        scheduler.load_state_dict(ckpt["scheduler"])
        torch.set_rng_state(ckpt["rng"]["torch"])
        sample_gen.set_state(ckpt["rng"]["sample"])
        if device.type == "cuda":
            torch.cuda.set_rng_state(ckpt["rng"]["cuda"], device)
        progress, sums = ckpt["progress"], ckpt["sums"].to(device)
    elif ckpt_path.exists() and not config.overwrite:
        raise UserError(f"{ckpt_path} holds a previous run; add --resume to continue it or --overwrite "
                        "to start afresh")

    def checkpoint(path: Path) -> None:
        rng = {"torch": torch.get_rng_state(), "sample": sample_gen.get_state()}
        if device.type == "cuda":
            rng["cuda"] = torch.cuda.get_rng_state(device)
        save(path, {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(), "step": step, "config": vars(config), "rng": rng,
                    "vocabulary": dataset.chars, "progress": progress, "sums": sums.cpu()})

    # the summary folder; a resumed run first drops what a killed process wrote after its checkpoint
    step = progress["step"]
    out.mkdir(parents=True, exist_ok=True)
    csv_path, jsonl_path = out / "metrics.csv", out / "samples.jsonl"
    old = config.resume and csv_path.exists() and jsonl_path.exists()
    rows = list(csv.reader(csv_path.read_text(encoding="utf-8").splitlines()))[1:] if old else []
    samples = [json.loads(line) for line in jsonl_path.read_text(encoding="utf-8").splitlines(keepends=True)
               if line.endswith("\n")] if old else []  # a line cut short by a kill is dropped
    with open(csv_path, "w", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows([["step", "split", "loss", "accuracy", "learning_rate", "elapsed_s"]]
                                + [r for r in rows if int(r[0]) <= step])
    samples = [s for s in samples if s["step"] <= step]
    (out / "samples.jsonl").write_text("".join(json.dumps(s, ensure_ascii=False) + "\n" for s in samples),
                                       encoding="utf-8")
    (out / "samples.txt").write_text("".join(map(samples_text, samples)), encoding="utf-8")
    parameters = sum(p.numel() for p in model.parameters())
    (out / "config.json").write_text(json.dumps(
        {"args": vars(config), "vocab_size": dataset.vocab_size, "train_chars": len(data),
         "val_chars": len(dataset.val_data), "parameters": parameters}, indent=1), encoding="utf-8")

    def log(*row) -> None:
        with open(csv_path, "a", encoding="utf-8", newline="") as f:
            csv.writer(f).writerow(row)

    print(f"training on '{config.txt_file}': {len(data):,} train / {len(dataset.val_data):,} validation "
          f"characters, vocabulary {dataset.vocab_size}, {parameters:,} parameters, device {device}"
          + (f", resuming at step {step}" if config.resume else ""), flush=True)

    def check_finite(loss: float) -> None:
        if not loss < 2 * math.log(dataset.vocab_size) + 1:  # NaN, or far worse than a uniform guess
            raise UserError(f"training diverged: the loss became {loss:.3g} by step {step}; lower --learning_rate "
                            f"(now {config.learning_rate:g}); the last good checkpoint is kept in {ckpt_dir}")

    # Ctrl-C and SIGTERM only raise a flag: the loop ends the step, saves a checkpoint and stops
    stop = {}

    def on_signal(signum, frame):
        if "signal" in stop and signum == signal.SIGINT:
            raise KeyboardInterrupt  # a second Ctrl-C stops at once
        stop["signal"] = signal.Signals(signum).name

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, on_signal)
    planned = os.environ.get("SIGNAL_AT_STEP", "").split(":")  # tests: "N:SIGTERM" stops at step N
    t0, seconds_before, start_step = time.perf_counter(), progress["seconds"], step
    bar = tqdm(total=config.train_steps, initial=step, desc="train", disable=config.quiet, file=sys.stderr)
    model.train()
    while step < config.train_steps:
        step += 1
        x, y = get_batch()                                                    # (B, T) each
        logits, _ = model(x)                                                  # (B, T, V)
        loss = F.cross_entropy(logits.flatten(0, 1), y.flatten())             # equation 13: mean over B*T
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.max_norm)
        optimizer.step()
        scheduler.step()
        with torch.no_grad():  # summed on the device: no host synchronisation per step
            sums += torch.stack([loss.detach().double(), (logits.argmax(-1) == y).double().mean()])
        bar.update()

        if planned[0] == str(step):
            signal.raise_signal(getattr(signal, planned[1]))
        if config.time_limit is not None and time.perf_counter() - t0 > config.time_limit:
            stop.setdefault("time_limit", True)
        elapsed = seconds_before + time.perf_counter() - t0
        lr = optimizer.param_groups[0]["lr"]
        if step % config.print_every == 0:
            mean_loss, accuracy = (sums / config.print_every).tolist()
            sums.zero_()
            check_finite(mean_loss)
            log(step, "train", f"{mean_loss:.6f}", f"{accuracy:.6f}", f"{lr:.6g}", f"{elapsed:.1f}")
            bar.set_postfix(loss=f"{mean_loss:.3f}", acc=f"{accuracy:.3f}", refresh=False)
        if (config.eval_every and step % config.eval_every == 0) or step == config.train_steps or stop:
            scores = evaluate(model, dataset.val_data, config.seq_length)
            check_finite(scores["val"][0])
            for split, (val_loss, val_acc) in scores.items():
                log(step, split, f"{val_loss:.6f}", f"{val_acc:.6f}", f"{lr:.6g}", f"{elapsed:.1f}")
            progress["last"] = {"step": step, "val": scores["val"], "val_stream": scores["val_stream"]}
            if not config.quiet:
                bar.write(f"step {step}: validation loss {scores['val'][0]:.4f} nats/char, accuracy "
                          f"{scores['val'][1]:.4f} (carried state: {scores['val_stream'][0]:.4f}, "
                          f"{scores['val_stream'][1]:.4f}), lr {lr:.3g}")
            progress.update(step=step, seconds=elapsed)
            if scores["val"][0] < progress["best_val_loss"]:
                progress.update(best_val_loss=scores["val"][0], best_val_step=step,
                                best_val_stream_loss=scores["val_stream"][0])
                checkpoint(ckpt_dir / "best.pt")
            checkpoint(ckpt_path)
        if config.sample_every and step % config.sample_every == 0:
            row = training_samples(model, dataset, sample_gen, step, progress["last"].get("val", [math.nan])[0])
            with open(jsonl_path, "a", encoding="utf-8") as f:
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
            with open(out / "samples.txt", "a", encoding="utf-8") as f:
                f.write(samples_text(row))
        if stop:
            break
    bar.close()

    # the outcome: result.json, the curves, one line
    last = progress["last"]
    result = {"steps": step, "train_steps": config.train_steps, "seconds": progress["seconds"],
              "stopped": stop.get("signal", "time_limit" if stop else None),
              "best_val_loss": progress["best_val_loss"], "best_val_step": progress["best_val_step"],
              "best_val_stream_loss": progress["best_val_stream_loss"], "last_val_step": last.get("step"),
              "last_val_loss": last["val"][0], "last_val_accuracy": last["val"][1],
              "last_val_stream_loss": last["val_stream"][0], "last_val_stream_accuracy": last["val_stream"][1],
              "checkpoint": str(ckpt_path), "best_checkpoint": str(ckpt_dir / "best.pt")}
    (out / "result.json").write_text(json.dumps(result, indent=1), encoding="utf-8")
    if "signal" in stop:
        print(f"interrupted at step {step}; checkpoint saved to {ckpt_path}; continue with --resume",
              file=sys.stderr)
        return 130
    plot_curves(csv_path, out / "curves.png", Path(config.txt_file).name)
    trained, seconds = step - start_step, time.perf_counter() - t0
    print((f"stopped by --time_limit at step {step}; continue with --resume; " if stop else f"done at step {step}: ")
          + f"validation loss {last['val'][0]:.4f} (best {progress['best_val_loss']:.4f} at step "
          f"{progress['best_val_step']}, {progress['best_val_stream_loss']:.4f} with carried state); "
          f"{trained / seconds:.1f} steps/s; checkpoints in {ckpt_dir}, curves in {out / 'curves.png'}",
          flush=True)
    return 0


def plot_curves(csv_path: Path, png_path: Path, title: str) -> None:
    """Loss and accuracy against the step, one line per split of metrics.csv."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    curves = {}
    for row in csv.DictReader(open(csv_path, encoding="utf-8")):
        curves.setdefault(row["split"], []).append((int(row["step"]), float(row["loss"]), float(row["accuracy"])))
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for split, points in curves.items():
        steps, losses, accuracies = zip(*points)
        axes[0].plot(steps, losses, label=split)
        axes[1].plot(steps, accuracies, label=split)
    for ax, label in zip(axes, ("cross-entropy (nats / char)", "next-character accuracy")):
        ax.set(xlabel="step", ylabel=label)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(f"part 2, {title}")
    fig.tight_layout()
    fig.savefig(png_path, dpi=120)
    plt.close(fig)


def main(argv=None, parser=None, Model=TextGenerationModel) -> int:
    parser = parser or build_parser()
    config = parser.parse_args(argv)
    check_flags(parser, config)
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        return train(config, Model)
    except UserError as exc:
        print(f"error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # a second Ctrl-C while the first one's checkpoint is written
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)


if __name__ == "__main__":
    sys.exit(main())
