"""Training-step time of the hand-written cells against nn.RNN / nn.LSTM, side by side in one process.

One training step = zero_grad + forward + cross-entropy on the last step + backward + gradient
clipping + RMSprop step (the optimizer of part1/train.py, ``common.optim.make_optimizer``), batch
128, hidden 128. The three contenders (our default path with the hand-written backward, our cells
recorded step by step by autograd, and nn.RNN / nn.LSTM) start from the same weights, so they
compute the same function (``tests/test_part1_bench.py`` checks it), and run interleaved, one step
each in turn, so that machine noise hits them alike; we report the median and min-max of the step
time and the ratio of medians to the built-in. Memory, two ways: the bytes the autograd graph keeps
for the backward pass (counted with saved-tensor hooks), and the peak resident memory a training
step adds, measured in a fresh process per contender (``--peak_memory``, T = 100 by default).

    python bench/bench_cells.py            # T = 20, 50, 100; input_dim 1 and 10
    python bench/bench_cells.py --quick    # a few seconds, for CI
    python bench/bench_cells.py --peak_memory --models LSTM --lengths 100 --input_dims 10
"""
from __future__ import annotations

import json
import resource
import statistics
import subprocess
import sys
import time
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch
import torch.nn.functional as F
from torch import nn

from common.args import make_parser, nonnegative_int, positive_int
from common.optim import make_optimizer
from common.runtime import environment_info
from part1.lstm import LSTM
from part1.vanilla_rnn import VanillaRNN


class BuiltinClassifier(nn.Module):
    """nn.RNN / nn.LSTM with the same read-out p(T) = W_ph h(T) + b_p as our models."""

    def __init__(self, kind: str, input_dim: int, num_hidden: int, num_classes: int = 10) -> None:
        super().__init__()
        cls = nn.LSTM if kind == "LSTM" else nn.RNN
        self.rnn = cls(input_dim, num_hidden, batch_first=True)
        self.W_ph = nn.Parameter(torch.randn(num_classes, num_hidden) / num_hidden ** 0.5)
        self.b_p = nn.Parameter(torch.zeros(num_classes))

    def forward(self, x):
        out, _ = self.rnn(x)  # (B, T, n)
        return torch.addmm(self.b_p, out[:, -1], self.W_ph.t())

    @torch.no_grad()
    def copy_from(self, ours: nn.Module) -> "BuiltinClassifier":
        """Take the weights of our VanillaRNN / LSTM (PyTorch stacks the gates i, f, g, o)."""
        gates = "ifgo" if isinstance(ours, LSTM) else "h"
        self.rnn.weight_ih_l0.copy_(torch.cat([getattr(ours, f"W_{g}x") for g in gates]))
        self.rnn.weight_hh_l0.copy_(torch.cat([getattr(ours, f"W_{g}h") for g in gates]))
        self.rnn.bias_ih_l0.copy_(torch.cat([getattr(ours, f"b_{g}") for g in gates]))
        self.rnn.bias_hh_l0.zero_()
        self.W_ph.copy_(ours.W_ph)
        self.b_p.copy_(ours.b_p)
        return self


def contenders(kind: str, T: int, d: int, n: int) -> dict:
    """Our cell with the hand-written backward, the same recorded by autograd, and the built-in,
    all three with the weights of the first."""
    cls = LSTM if kind == "LSTM" else VanillaRNN
    ours = cls(T, d, n, 10, bptt="manual")
    recorded = cls(T, d, n, 10, bptt="autograd")
    recorded.load_state_dict(ours.state_dict())
    return {"ours": ours, "ours_autograd": recorded,
            "builtin": BuiltinClassifier(kind, d, n).copy_from(ours)}


class TrainingStep:
    """One training step of ``model`` as part1/train.py takes it (RMSprop 1e-3, clipping at 10)."""

    def __init__(self, model) -> None:
        self.model = model
        self.optimizer = make_optimizer("rmsprop", model.parameters(), lr=1e-3)

    def __call__(self, x, y) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        loss = F.cross_entropy(self.model(x), y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), 10.0)
        self.optimizer.step()


class SavedBytes:
    """A saved-tensor pack hook that counts the bytes autograd keeps."""

    def __init__(self) -> None:
        self.total = 0

    def __call__(self, tensor):
        self.total += tensor.numel() * tensor.element_size()
        return tensor


def saved_bytes(model, x, y) -> int:
    """Bytes of the tensors autograd keeps for the backward of one forward."""
    counter = SavedBytes()
    with torch.autograd.graph.saved_tensors_hooks(counter, lambda t: t):
        loss = F.cross_entropy(model(x), y)
    loss.backward()
    model.zero_grad(set_to_none=True)
    return counter.total


def batch_of(T, d, batch):
    digits = torch.randint(0, 10, (batch, T))
    x = F.one_hot(digits, 10).float() if d == 10 else digits.float().unsqueeze(-1)  # (B, T, d)
    return x, digits[:, 0]


def activation_forms(a: torch.Tensor, out: torch.Tensor) -> dict:
    """The timed calls, each writing into ``out``: torch.tanh, torch.sigmoid, and the
    2 sigmoid(2a) - 1 form of tanh that part1/bptt.py uses."""
    return {"tanh": partial(torch.tanh, a, out=out), "sigmoid": partial(torch.sigmoid, a, out=out),
            "2 sigmoid(2a) - 1": partial(tanh_via_sigmoid, a, out)}


def tanh_via_sigmoid(a: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    return torch.mul(a, 2, out=out).sigmoid_().mul_(2).sub_(1)


def activation_costs(repeats: int = 3000) -> dict:
    """Microseconds per call of each of :func:`activation_forms` on a (128, 128) block (why bptt.py
    takes tanh through the sigmoid)."""
    forms = activation_forms(torch.randn(128, 128), torch.empty(128, 128))
    costs = {}
    for name, call in forms.items():
        for _ in range(50):
            call()
        start = time.perf_counter()
        for _ in range(repeats):
            call()
        costs[name] = 1e6 * (time.perf_counter() - start) / repeats
    return costs


def peak_step_memory_mb(name, kind, T, d, n, batch) -> float:
    """In this (fresh) process: how far one training step raises the peak resident memory."""
    torch.manual_seed(0)
    model = contenders(kind, T, d, n)[name]
    step = TrainingStep(model)
    x, y = batch_of(T, d, batch)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    for _ in range(2):  # the optimizer's state appears at the first step
        step(x, y)
    return (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024


def peak_memory_rows(args) -> list[dict]:
    rows = []
    for kind in args.models:
        for T in args.lengths:
            for d in args.input_dims:
                row = {"model": kind, "T": T, "input_dim": d, "hidden": args.hidden,
                       "batch": args.batch}
                for name in ("ours", "ours_autograd", "builtin"):
                    probe = (f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); "
                             f"import torch; torch.set_num_threads(1); import bench_cells; "
                             f"print(bench_cells.peak_step_memory_mb({name!r}, {kind!r}, {T}, "
                             f"{d}, {args.hidden}, {args.batch}))")
                    out = subprocess.run([sys.executable, "-c", probe], capture_output=True,
                                         text=True, check=True).stdout
                    row[f"{name}_peak_MB"] = float(out.split()[-1])
                # a tiny --quick step may not raise the peak at all
                row["peak_ratio"] = (row["ours_peak_MB"] / row["builtin_peak_MB"]
                                     if row["builtin_peak_MB"] > 0 else None)
                print(f"{kind:5s} {T:4d} {d:3d} | peak MB of a step: ours {row['ours_peak_MB']:.1f}, "
                      f"autograd {row['ours_autograd_peak_MB']:.1f}, builtin "
                      f"{row['builtin_peak_MB']:.1f} | ours/builtin {row['peak_ratio']}", flush=True)
                rows.append(row)
    return rows


def bench_config(kind, T, d, n, batch, warmup, repeats) -> dict:
    torch.manual_seed(0)
    models = contenders(kind, T, d, n)
    steps = {name: TrainingStep(m) for name, m in models.items()}
    x, y = batch_of(T, d, batch)
    times = {name: [] for name in models}
    for r in range(warmup + repeats):
        for name, step in steps.items():
            start = time.perf_counter()
            step(x, y)
            if r >= warmup:
                times[name].append(time.perf_counter() - start)
    row = {"model": kind, "T": T, "input_dim": d, "hidden": n, "batch": batch}
    for name, values in times.items():
        row[f"{name}_ms"] = 1e3 * statistics.median(values)
        row[f"{name}_min_ms"] = 1e3 * min(values)
        row[f"{name}_max_ms"] = 1e3 * max(values)
        row[f"{name}_saved_MB"] = saved_bytes(models[name], x, y) / 2**20
    row["ratio"] = row["ours_ms"] / row["builtin_ms"]
    row["ratio_autograd"] = row["ours_autograd_ms"] / row["builtin_ms"]
    return row


def main() -> None:
    parser = make_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="one small configuration, few repeats")
    parser.add_argument("--lengths", nargs="+", type=positive_int, default=[20, 50, 100], help="sequence lengths T")
    parser.add_argument("--input_dims", nargs="+", type=int, choices=[1, 10], default=[1, 10], help="input sizes d")
    parser.add_argument("--models", nargs="+", choices=["RNN", "LSTM"], default=["RNN", "LSTM"], help="cells to time")
    parser.add_argument("--batch", type=positive_int, default=128, help="palindromes per step")
    parser.add_argument("--hidden", type=positive_int, default=128, help="hidden units")
    parser.add_argument("--repeats", type=positive_int, default=20, help="timed steps per contender")
    parser.add_argument("--warmup", type=nonnegative_int, default=3, help="untimed steps per contender")
    parser.add_argument("--threads", type=positive_int, default=None, help="torch threads; None: torch's default")
    parser.add_argument("--peak_memory", action="store_true",
                        help="measure the peak resident memory of one step instead of timing "
                             "(one fresh process per contender; default lengths: 100)")
    parser.add_argument("--out", default=None,
                        help="JSON output; None: bench/results/cells.json, or cells_memory.json")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.quick:
        args.lengths, args.input_dims, args.repeats, args.warmup = [10], [10], 3, 1
        args.batch, args.hidden = 16, 16
    costs = activation_costs(300 if args.quick else 3000)
    print("activations on a (128, 128) block, us per call: "
          + ", ".join(f"{name} {us:.1f}" for name, us in costs.items()))
    if args.peak_memory:
        if "--lengths" not in sys.argv and not args.quick:
            args.lengths = [100]
        rows = peak_memory_rows(args)
        write_json(args.out or "bench/results/cells_memory.json", args, rows)
        return
    rows = []
    header = (f"{'model':5s} {'T':>4s} {'d':>3s} | {'ours ms':>9s} {'autograd ms':>11s} "
              f"{'builtin ms':>10s} | {'ours/builtin':>12s} {'autograd/builtin':>16s} | "
              f"{'saved MB ours/autograd/builtin':>30s}")
    print(header)
    print("-" * len(header))
    for kind in args.models:
        for T in args.lengths:
            for d in args.input_dims:
                r = bench_config(kind, T, d, args.hidden, args.batch, args.warmup, args.repeats)
                rows.append(r)
                print(f"{kind:5s} {T:4d} {d:3d} | {r['ours_ms']:9.2f} {r['ours_autograd_ms']:11.2f} "
                      f"{r['builtin_ms']:10.2f} | {r['ratio']:12.2f} {r['ratio_autograd']:16.2f} | "
                      f"{r['ours_saved_MB']:8.1f} / {r['ours_autograd_saved_MB']:6.1f} / "
                      f"{r['builtin_saved_MB']:6.1f}", flush=True)
    write_json(args.out or "bench/results/cells.json", args, rows, activations_us=costs)


def write_json(path, args, rows, **extra) -> None:
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"args": vars(args), "environment": environment_info(), "rows": rows,
                               **extra}, indent=2), encoding="utf-8")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
