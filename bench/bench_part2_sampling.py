"""Sampling speed of part 2: greedy, temperature and beam search against naive samplers.

The default part-2 model (hidden 128, 2 layers, embedding 64, vocabulary 80; random weights, since
speed does not depend on them) generates ``--length`` characters (1,000 by default):

* ours: ``part2.sample.generate`` (greedy, and sampling at tau = 1) and ``beam_search`` (width 5),
  which feed the prompt once and then step ``torch.lstm_cell`` layer by layer with the carried state;
* plain stateful: a loop calling the model's ``nn.LSTM`` forward on one character at a time with the
  carried state (what most implementations do);
* naive: re-running the whole prefix through the model for every new character (quadratic).

Warm-up, repeats, median and min-max; characters per second and the ratio to the naive sampler.

    python bench/bench_part2_sampling.py            # 1,000 characters
    python bench/bench_part2_sampling.py --quick    # 100 characters, for CI

Prints a table and writes JSON to bench/results/bench_part2_sampling.json. Nothing is asserted.
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch

from part2.model import TextGenerationModel
from part2.sample import beam_search, generate

RESULTS = Path(__file__).resolve().parent / "results"
TARGETS = {"greedy": 0.3, "temperature": 0.3, "beam5": 0.6}  # seconds for 1,000 characters


@torch.inference_mode()
def plain_stateful(model, length):
    """One nn.LSTM forward per character with the carried state (no fast cell path)."""
    x, state, out = torch.tensor([[1]]), None, []
    for _ in range(length):
        logits, state = model(x, state)            # (1, 1, V)
        x = logits[:, -1].argmax(-1, keepdim=True)  # (1, 1)
        out.append(int(x))
    return out


@torch.inference_mode()
def naive_rerun(model, length):
    """Greedy decoding that feeds the whole prefix again for every new character."""
    seq = [1]
    for _ in range(length):
        logits, _ = model(torch.tensor([seq]))     # (1, t, V)
        seq.append(int(logits[0, -1].argmax()))
    return seq[1:]


def measure(fn, repeats, warmup):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


def run(opts) -> dict:
    torch.manual_seed(0)
    model = TextGenerationModel(64, 30, opts.vocab, 128, 2, device="cpu", embedding_dim=64).eval()
    n = opts.length
    gen = torch.Generator().manual_seed(0)
    contenders = {
        "greedy": (lambda: generate(model, torch.tensor([[1]]), n), opts.repeats),
        "temperature": (lambda: generate(model, torch.tensor([[1]]), n, tau=1.0, generator=gen), opts.repeats),
        "beam5": (lambda: beam_search(model, [1], n, beam_width=5), opts.repeats),
        "plain_stateful": (lambda: plain_stateful(model, n), opts.repeats),
        "naive_rerun": (lambda: naive_rerun(model, n), opts.naive_repeats),
    }
    results = {}
    for name, (fn, repeats) in contenders.items():
        ts = measure(fn, repeats, 1 if name != "naive_rerun" else 0)
        med = statistics.median(ts)
        results[name] = {"median_s": med, "min_s": min(ts), "max_s": max(ts), "repeats": len(ts),
                         "chars_per_s": n / med}
    naive = results["naive_rerun"]["median_s"]
    for name, r in results.items():
        r["speedup_vs_naive"] = naive / r["median_s"]
        if name in TARGETS:
            r["target_s_per_1000"] = TARGETS[name]
            r["s_per_1000"] = r["median_s"] * 1000 / n
    return {"benchmark": "part2 sampling speed", "date": datetime.now(timezone.utc).isoformat(),
            "config": {"length": n, "hidden": 128, "layers": 2, "vocab": opts.vocab,
                       "threads": torch.get_num_threads()},
            "results": results, "environment": {"python": platform.python_version(), "torch": torch.__version__,
                                                 "machine": platform.machine()}}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Part-2 sampling speed vs naive samplers.",
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="100 characters, few repeats (CI smoke test)")
    parser.add_argument("--length", type=int, default=1000, help="characters to generate")
    parser.add_argument("--repeats", type=int, default=7, help="timed runs of our samplers")
    parser.add_argument("--naive_repeats", type=int, default=2, help="timed runs of the naive sampler")
    parser.add_argument("--vocab", type=int, default=80, help="vocabulary size")
    parser.add_argument("--threads", type=int, default=None, help="torch threads; None: torch's default")
    opts = parser.parse_args(argv)
    if opts.quick:
        opts.length, opts.repeats, opts.naive_repeats = 100, 2, 1
    if opts.threads:
        torch.set_num_threads(opts.threads)
    report = run(opts)
    print(f"{'sampler':15s} {'median s':>9s} {'min-max s':>15s} {'chars/s':>9s} {'x naive':>8s}")
    for name, r in report["results"].items():
        print(f"{name:15s} {r['median_s']:9.3f} {r['min_s']:7.3f}-{r['max_s']:<7.3f} {r['chars_per_s']:9,.0f} "
              f"{r['speedup_vs_naive']:8.1f}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "bench_part2_sampling.json"
    out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
