"""Throughput of part2/train.py's training loop against a plain nn.LSTM loop with the same shapes.

"Ours" is part2/train.py itself (its ``main``, in this process): the time of ``--train_steps W+N``
minus that of ``--train_steps W``, divided by N, so start-up, the final validation and the curves
cancel out. "Plain" is the loop a student would write: random windows, nn.Embedding + nn.LSTM +
nn.Linear, cross-entropy, backward, clipping, Adam. Both use the default part-2 shapes on the
shipped book (or the flags of ``--train_args``); ``--best`` times experiments/part2_best.py instead.

    python bench/bench_part2_train.py --threads 1         # 200 timed steps each
    python bench/bench_part2_train.py --quick             # a few seconds, for CI
    python bench/bench_part2_train.py --best --steps 40   # the best configuration, with weight drop

Prints a table and writes JSON to bench/results/bench_part2_train.json. Nothing is asserted.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import platform
import shlex
import sys
import tempfile
import time
from datetime import datetime, timezone
from functools import partial
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch
from torch import nn
from torch.nn import functional as F

from part2 import train
from part2.dataset import TextDataset

RESULTS = Path(__file__).resolve().parent / "results"


def ours(opts):
    """Seconds per step of part2/train.py (or the best experiment) and its parsed flags."""
    parser, model = train.build_parser(), train.TextGenerationModel
    if opts.best:
        from experiments import part2_best
        parser = part2_best.parser()
    config = parser.parse_args(shlex.split(opts.train_args))
    if opts.best:
        model = partial(part2_best.WeightDropLSTM, weight_drop=config.weight_drop)
    seconds = []
    with tempfile.TemporaryDirectory() as tmp:
        for steps in (opts.warmup, opts.warmup + opts.steps):
            argv = [*shlex.split(opts.train_args), "--train_steps", str(steps), "--eval_every", "0",
                    "--sample_every", "0", "--device", "cpu", "--quiet", "--overwrite", "--seed", "0",
                    "--checkpoint_dir", f"{tmp}/c", "--summary_path", f"{tmp}/s"]
            t0 = time.perf_counter()
            with contextlib.redirect_stdout(io.StringIO()):
                assert train.main(argv, parser, model) == 0
            seconds.append(time.perf_counter() - t0)
    return (seconds[1] - seconds[0]) / opts.steps, config


def plain(config, opts):
    """Seconds per step of a plain loop with the shapes of ``config``."""
    torch.manual_seed(0)
    data = TextDataset(config.txt_file, config.seq_length).train_data
    vocab, B, T = int(data.max()) + 1, config.batch_size, config.seq_length
    embed, lstm = nn.Embedding(vocab, config.embedding_dim), nn.LSTM(config.embedding_dim, config.lstm_num_hidden,
                                                                     config.lstm_num_layers, batch_first=True)
    head = nn.Linear(config.lstm_num_hidden, vocab)
    params = [*embed.parameters(), *lstm.parameters(), *head.parameters()]
    optimizer = torch.optim.Adam(params, lr=config.learning_rate)

    def step():
        window = data[torch.randint(0, len(data) - T - 1, (B,))[:, None] + torch.arange(T + 1)]   # (B, T+1)
        logits = head(lstm(embed(window[:, :-1]))[0])                                              # (B, T, V)
        loss = F.cross_entropy(logits.flatten(0, 1), window[:, 1:].flatten())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(params, config.max_norm)
        optimizer.step()

    for _ in range(opts.warmup):
        step()
    t0 = time.perf_counter()
    for _ in range(opts.steps):
        step()
    return (time.perf_counter() - t0) / opts.steps


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Part-2 training throughput: ours vs a plain nn.LSTM loop.",
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="few steps (CI smoke test)")
    parser.add_argument("--steps", type=int, default=200, help="timed steps per contender")
    parser.add_argument("--warmup", type=int, default=10, help="untimed steps per contender")
    parser.add_argument("--threads", type=int, default=None, help="torch threads; None: torch's default")
    parser.add_argument("--train_args", default="", help="part2/train.py flags for both loops, e.g. "
                        "\"--seq_length 100\" (the plain loop takes the same shapes, without dropout)")
    parser.add_argument("--best", action="store_true", help="time experiments/part2_best.py (its preset, "
                        "weight drop) instead of part2/train.py")
    opts = parser.parse_args(argv)
    if opts.quick:  # and a small held-out tail: the final validation of each run is quick too
        opts.steps, opts.warmup, opts.train_args = 5, 2, opts.train_args + " --val_fraction 0.01"
    if opts.threads:
        torch.set_num_threads(opts.threads)
    ours_s, config = ours(opts)
    plain_s = plain(config, opts)
    chars = config.batch_size * config.seq_length
    rows = {name: {"s_per_step": s, "chars_per_s": chars / s, "steps": opts.steps}
            for name, s in (("ours", ours_s), ("plain", plain_s))}
    report = {"benchmark": "part2 training throughput", "date": datetime.now(timezone.utc).isoformat(),
              "config": {**{k: getattr(config, k) for k in ("batch_size", "seq_length", "lstm_num_hidden",
                                                            "lstm_num_layers", "embedding_dim", "dropout_keep_prob")},
                         "weight_drop": getattr(config, "weight_drop", 0.0), "train_args": opts.train_args,
                         "best": opts.best, "warmup": opts.warmup, "steps": opts.steps,
                         "threads": torch.get_num_threads()},
              "results": rows, "ratio_ours_over_plain": ours_s / plain_s,
              "environment": {"python": platform.python_version(), "torch": torch.__version__,
                              "machine": platform.machine(), "processor": platform.processor()}}
    print(f"{'loop':8s} {'ms/step':>10s} {'chars/s':>10s}")
    for name, r in rows.items():
        print(f"{name:8s} {1e3 * r['s_per_step']:10.2f} {r['chars_per_s']:10,.0f}")
    print(f"ratio ours / plain (step time): {report['ratio_ours_over_plain']:.3f}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "bench_part2_train.json"
    out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
