"""Throughput of part 2's training loop against a plain nn.LSTM loop with the same shapes.

"Ours" is exactly what one step of ``part2/train.py`` runs (``part2.training.Trainer.step``: batch
drawn from the TextDataset with its generator, forward, mean cross-entropy, backward, gradient
clipping, Adam, learning-rate schedule, device-side loss/accuracy sums and NaN watch). "Plain" is the loop a
student would write: random windows, nn.Embedding + nn.LSTM + nn.Linear, cross-entropy, backward,
clipping, Adam. Both train on the default book shipped in assets/ (vocabulary 80; or the
``--txt_file`` of ``--train_args``) with the default part-2 shapes (batch 64, seq 30, hidden 128,
2 layers, embedding 64) and run interleaved (one step each, in turn) after a warm-up; we report
median and min-max step time, characters per second and the ratio ours / plain.

    python bench/bench_part2_train.py             # 200 timed steps each
    python bench/bench_part2_train.py --quick     # a few seconds, for CI
    python bench/bench_part2_train.py --train_args "--preset best"   # any part2/train.py flags for ours

Prints a table and writes JSON to bench/results/bench_part2_train.json. Nothing is asserted.
"""
from __future__ import annotations

import json
import shlex
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch
from torch import nn
from torch.nn import functional as F

from common.args import make_parser, positive_int
from common.optim import make_optimizer
from common.runtime import environment_info, run_main, seed_everything
from assets.gutenberg import SHIPPED
from part2.dataset import TextDataset
from part2.model import build_model
from part2.options import parse_args
from part2.training import RunState, Trainer, WindowBatches, explode_limit

RESULTS = Path(__file__).resolve().parent / "results"
SHIPPED_BOOK = SHIPPED["grimm"]  # the default book (train.py's --txt_file in --train_args replaces it)
TARGET = 1.05


class PlainModel(nn.Module):
    def __init__(self, vocab, embed, hidden, layers):
        super().__init__()
        self.embedding = nn.Embedding(vocab, embed)
        self.lstm = nn.LSTM(embed, hidden, layers, batch_first=True)
        self.output = nn.Linear(hidden, vocab)

    def forward(self, x):
        out, _ = self.lstm(self.embedding(x))   # (B, T, H)
        return self.output(out)                 # (B, T, V)


def run(opts) -> dict:
    seed_everything(0)
    args, _ = parse_args(shlex.split(opts.train_args))   # default part-2 configuration unless flags given
    dataset = TextDataset(args.txt_file or SHIPPED_BOOK, args.seq_length)
    device = torch.device("cpu")
    ours = build_model(dataset.vocab_size, vars(args), device)
    opt = make_optimizer(args.optimizer, ours.parameters(), args.learning_rate)
    sched = torch.optim.lr_scheduler.StepLR(opt, args.learning_rate_step, args.learning_rate_decay)
    trainer = Trainer(ours, ours, opt, sched, WindowBatches(dataset, args.batch_size), args.max_norm,
                      explode_limit(dataset.vocab_size))
    run_state = RunState.start(0, 0, device)

    plain = PlainModel(dataset.vocab_size, args.embedding_dim, args.lstm_num_hidden, args.lstm_num_layers)
    plain_opt = torch.optim.Adam(plain.parameters(), lr=args.learning_rate)
    data = dataset.train_data
    B, T = args.batch_size, args.seq_length

    def plain_step():
        start = torch.randint(0, len(data) - T - 1, (B,))
        idx = start[:, None] + torch.arange(T + 1)       # (B, T+1)
        window = data[idx]
        x, y = window[:, :-1], window[:, 1:]
        logits = plain(x)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
        plain_opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(plain.parameters(), args.max_norm)
        plain_opt.step()

    contenders = {"ours": lambda: trainer.step(run_state), "plain": plain_step}
    for _ in range(opts.warmup):
        for fn in contenders.values():
            fn()
    times = {name: [] for name in contenders}
    for _ in range(opts.steps):
        for name, fn in contenders.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    chars = B * T
    rows = {}
    for name, ts in times.items():
        med = statistics.median(ts)
        rows[name] = {"median_s": med, "min_s": min(ts), "max_s": max(ts), "chars_per_s": chars / med,
                      "steps": len(ts)}
    ratio = rows["ours"]["median_s"] / rows["plain"]["median_s"]
    return {"benchmark": "part2 training throughput", "date": datetime.now(timezone.utc).isoformat(),
            "config": {"batch_size": B, "seq_length": T, "lstm_num_hidden": args.lstm_num_hidden,
                       "lstm_num_layers": args.lstm_num_layers, "embedding_dim": args.embedding_dim,
                       "dropout_keep_prob": args.dropout_keep_prob, "weight_drop": args.weight_drop,
                       "train_args": opts.train_args,
                       "vocab": dataset.vocab_size, "warmup": opts.warmup, "steps": opts.steps,
                       "threads": torch.get_num_threads()},
            "results": rows, "ratio_ours_over_plain": ratio, "target": TARGET,
            "environment": {k: str(v) for k, v in environment_info().items()}}


def main(argv=None) -> int:
    parser = make_parser("Part-2 training throughput: ours vs a plain nn.LSTM loop.")
    parser.add_argument("--quick", action="store_true", help="few steps (CI smoke test)")
    parser.add_argument("--steps", type=positive_int, default=200, help="timed steps per contender")
    parser.add_argument("--warmup", type=positive_int, default=10, help="untimed steps per contender")
    parser.add_argument("--threads", type=positive_int, default=None, help="torch threads; None: torch's default")
    parser.add_argument("--train_args", default="",
                        help="part2/train.py flags for our loop, e.g. \"--preset best\" (the plain loop takes "
                             "the same shapes, without dropout)")
    opts = parser.parse_args(argv)
    if opts.quick:
        opts.steps, opts.warmup = 5, 2
    if opts.threads:
        torch.set_num_threads(opts.threads)
    report = run(opts)
    print(f"{'loop':8s} {'median ms':>10s} {'min-max ms':>16s} {'chars/s':>10s}")
    for name, r in report["results"].items():
        print(f"{name:8s} {1e3 * r['median_s']:10.2f} {1e3 * r['min_s']:7.2f}-{1e3 * r['max_s']:<8.2f} "
              f"{r['chars_per_s']:10,.0f}")
    print(f"ratio ours / plain (median step time): {report['ratio_ours_over_plain']:.3f} "
          f"(target <= {TARGET})")
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "bench_part2_train.json"
    out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    run_main(main)
