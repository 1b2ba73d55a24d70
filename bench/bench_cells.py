"""Training-step time of the hand-written cells against nn.RNN / nn.LSTM / nn.GRU, side by side in one process.

One training step = zero_grad + forward + cross-entropy on the last step + backward + gradient
clipping at 10 + RMSprop step (part1/train.py's loop), batch 128, hidden 128. For every model of
part1/train.py's MODELS the contenders are: ``readable``, the cell as part1/train.py trains it (the
equations written out, autograd does the backward); ``bptt``, the same cell with the backward through
time written by hand (part1/bptt.py, RNN and LSTM only; what the experiments train with); and
``builtin``, PyTorch's own layer. They start from the same weights, so they compute the same function
(tests/test_part1_bench.py checks it), and run interleaved, one step each in turn, so that machine
noise hits them alike. Reported: the median and min-max step time, the ratios of medians to the
built-in, and the bytes autograd keeps for the backward (counted with saved-tensor hooks).

    python bench/bench_cells.py                  # T = 20, 50, 100; input_dim 1 and 10; every model
    python bench/bench_cells.py --quick          # a few seconds, for CI
    python bench/bench_cells.py --models LSTM --lengths 20 --threads 1
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch
import torch.nn.functional as F
from torch import nn

from part1.bptt import FAST
from part1.train import MODELS, OPTIMIZERS

# The cells' parameters in the order PyTorch's layers stack them: (input, recurrent, bias) per gate.
TORCH_LAYOUT = {"RNN": (nn.RNN, [("W_hx", "W_hh", "b_h")]),
                "LSTM": (nn.LSTM, [(f"W_{g}x", f"W_{g}h", f"b_{g}") for g in "ifgo"]),
                "GRU": (nn.GRU, [(f"W_{g}x", f"W_{g}h", f"b_{g}") for g in "rzg"])}


class Builtin(nn.Module):
    """nn.RNN / nn.LSTM / nn.GRU holding a cell's weights, with its read-out p(T) = W_ph h(T) + b_p."""

    def __init__(self, kind, cell):
        super().__init__()
        cls, layout = TORCH_LAYOUT[kind]
        self.rnn = cls(cell.input_dim, cell.num_hidden, batch_first=True)
        with torch.no_grad():
            for k, name in enumerate(("weight_ih_l0", "weight_hh_l0", "bias_ih_l0")):
                getattr(self.rnn, name).copy_(torch.cat([getattr(cell, group[k]) for group in layout]))
            self.rnn.bias_hh_l0.zero_()  # the cells have one bias per equation
        self.W_ph = nn.Parameter(cell.W_ph.detach().clone())
        self.b_p = nn.Parameter(cell.b_p.detach().clone())

    def forward(self, x):
        out, _ = self.rnn(x)  # (B, T, n)
        return torch.addmm(self.b_p, out[:, -1], self.W_ph.t())


def contenders(kind, T, d, n):
    """The readable cell, its hand-written-backward twin (where there is one) and the built-in,
    all with the readable cell's weights."""
    readable = MODELS[kind](T, d, n, 10)
    models = {"readable": readable}
    if kind in FAST:
        models["bptt"] = FAST[kind](T, d, n, 10)
        models["bptt"].load_state_dict(readable.state_dict())
    models["builtin"] = Builtin(kind, readable)
    return models


class TrainingStep:
    """One training step of ``model`` as part1/train.py takes it (RMSprop 1e-3, clipping at 10)."""

    def __init__(self, model):
        self.model, self.optimizer = model, OPTIMIZERS["rmsprop"](model.parameters(), 1e-3)

    def __call__(self, x, y):
        self.optimizer.zero_grad()
        loss = F.cross_entropy(self.model(x), y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), 10.0)
        self.optimizer.step()


def saved_megabytes(model, x, y):
    """Megabytes of the tensors autograd keeps for the backward of one forward."""
    total = [0]

    def pack(tensor):
        total[0] += tensor.numel() * tensor.element_size()
        return tensor
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss = F.cross_entropy(model(x), y)
    loss.backward()
    model.zero_grad()
    return total[0] / 2**20


def batch_of(T, d, batch):
    digits = torch.randint(0, 10, (batch, T))
    x = F.one_hot(digits, 10).float() if d == 10 else digits.float().unsqueeze(-1)  # (B, T, d)
    return x, digits[:, 0]


def bench_config(kind, T, d, n, batch, warmup, repeats):
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
        row[f"{name}_min_ms"], row[f"{name}_max_ms"] = 1e3 * min(values), 1e3 * max(values)
        row[f"{name}_saved_MB"] = saved_megabytes(models[name], x, y)
    for name in models:
        if name != "builtin":
            row[f"{name}/builtin"] = row[f"{name}_ms"] / row["builtin_ms"]
    return row


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--quick", action="store_true", help="one small configuration, few repeats")
    p.add_argument("--lengths", nargs="+", type=int, default=[20, 50, 100], help="sequence lengths T")
    p.add_argument("--input_dims", nargs="+", type=int, choices=[1, 10], default=[1, 10], help="input sizes d")
    p.add_argument("--models", nargs="+", choices=list(MODELS), default=list(MODELS), help="cells to time")
    p.add_argument("--batch", type=int, default=128, help="palindromes per step")
    p.add_argument("--hidden", type=int, default=128, help="hidden units")
    p.add_argument("--repeats", type=int, default=20, help="timed steps per contender")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps per contender")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own)")
    p.add_argument("--out", default="bench/results/cells.json", help="JSON output")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.quick:
        args.lengths, args.input_dims, args.repeats, args.warmup, args.batch, args.hidden = [10], [10], 3, 1, 16, 16
    print(f"{'model':5s} {'T':>4s} {'d':>3s} | {'readable ms':>11s} {'bptt ms':>8s} {'builtin ms':>10s} | "
          f"{'readable/builtin':>16s} {'bptt/builtin':>12s} | saved MB readable/bptt/builtin")
    rows = []
    for kind in args.models:
        for T in args.lengths:
            for d in args.input_dims:
                r = bench_config(kind, T, d, args.hidden, args.batch, args.warmup, args.repeats)
                rows.append(r)
                bptt = ((f"{r['bptt_ms']:8.2f}", f"{r['bptt/builtin']:12.2f}", f"{r['bptt_saved_MB']:.1f}")
                        if "bptt_ms" in r else (f"{'-':>8s}", f"{'-':>12s}", "-"))
                print(f"{kind:5s} {T:4d} {d:3d} | {r['readable_ms']:11.2f} {bptt[0]} {r['builtin_ms']:10.2f} | "
                      f"{r['readable/builtin']:16.2f} {bptt[1]} | {r['readable_saved_MB']:.1f} / {bptt[2]} / "
                      f"{r['builtin_saved_MB']:.1f}", flush=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"args": vars(args), "torch": torch.__version__, "threads": torch.get_num_threads(),
                               "machine": platform.platform(), "rows": rows}, indent=2), encoding="utf-8")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
