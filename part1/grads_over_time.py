"""How far back does the gradient reach? ||dL/dh(t)|| over T steps for the RNN and the LSTM (q. 1.7).

For a palindrome of input length T (100 by default) the loss is the cross-entropy of the final
prediction. We read dL/dh(t) for every step t from the hidden states the models hand out and plot
its norm against t on a log scale: a vanishing gradient shows as a curve that falls by orders of
magnitude towards t = 1, the step that holds the digit the network must remember. Untrained models
are shown with both initialisations the project offers (RNN: uniform or orthogonal W_hh; LSTM:
forget bias 1 or chrono), trained ones are read from ``model.pt`` files of part1/train.py.

    python part1/grads_over_time.py                         # untrained RNN and LSTM
    python part1/grads_over_time.py --rnn_model results/part1/RNN_T100_d10_s0/model.pt \\
        --lstm_model results/part1/LSTM_T100_d10_s0/model.pt  # adds trained models' curves

Writes ``grads_over_time.png`` and ``grads_over_time.csv`` (one column per curve) to ``--out_dir``.
"""
from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch
import torch.nn.functional as F

from common.args import nonnegative_int, positive_int
from common.checkpoint import atomic_write_text, load_checkpoint
from common.runtime import UserError, environment_info, resolve_device, run_main, seed_everything
from part1.dataset import encode_input, fixed_test_set
from part1.lstm import LSTM
from part1.train import MODEL_KIND, build_model
from part1.vanilla_rnn import VanillaRNN


def gradient_norms(model: torch.nn.Module, digits: torch.Tensor, targets: torch.Tensor,
                   input_dim: int) -> torch.Tensor:
    """Mean over the batch of ||dL_b/dh_b(t)|| for t = 1..T, as a ``(T,)`` tensor.

    The loss is summed over the batch, so each example's gradient is its own (not divided by B).
    """
    x = encode_input(digits, input_dim)  # (B, T, d)
    logits, hidden = model(x, return_hidden=True)  # (B, K), T x (B, n)
    loss = F.cross_entropy(logits, targets, reduction="sum")
    grads = torch.autograd.grad(loss, hidden)  # T x (B, n)
    return torch.stack([g.norm(dim=1).mean() for g in grads]).detach()  # (T,)


def load_trained(path: str, device) -> torch.nn.Module:
    """A model saved by part1/train.py (``model.pt``), rebuilt with the flags it was trained with."""
    state = load_checkpoint(path, MODEL_KIND, map_location=device)
    try:
        model = build_model(argparse.Namespace(**state["args"]), device)
        model.load_state_dict(state["model"])
    except (KeyError, TypeError, AttributeError, RuntimeError) as exc:
        raise UserError(f"'{path}' is not a complete part-1 model.pt (its model or flags are "
                        f"missing or do not match: {type(exc).__name__})") from None
    return model.eval()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    data = parser.add_argument_group("data")
    data.add_argument("--input_length", type=positive_int, default=100, help="T, digits read")
    data.add_argument("--batch_size", type=positive_int, default=1,
                      help="palindromes averaged over (1: a single palindrome)")
    model = parser.add_argument_group("untrained models")
    model.add_argument("--input_dim", type=int, choices=[1, 10], default=10,
                       help="1: digits as numbers; 10: one-hot")
    model.add_argument("--num_hidden", type=positive_int, default=128, help="hidden units n")
    trained = parser.add_argument_group("trained models (optional)")
    trained.add_argument("--rnn_model", default=None, help="model.pt of a trained RNN")
    trained.add_argument("--lstm_model", default=None, help="model.pt of a trained LSTM")
    book = parser.add_argument_group("bookkeeping")
    book.add_argument("--seed", type=nonnegative_int, default=0, help="seed of the untrained weights")
    book.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N")
    book.add_argument("--out_dir", default="results/grads_over_time", help="output folder")
    return parser


def parse_args(argv=None) -> argparse.Namespace:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.input_length < 2:
        parser.error(f"--input_length must be at least 2, got {args.input_length}")
    return args


def plot(curves: dict, path: Path, length: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    styles = {"RNN untrained (uniform W_hh)": ("tab:red", ":"),
              "RNN untrained (orthogonal W_hh)": ("tab:red", "--"),
              "LSTM untrained (b_f = 1)": ("tab:blue", ":"),
              "LSTM untrained (chrono)": ("tab:blue", "--"),
              "RNN trained": ("tab:red", "-"), "LSTM trained": ("tab:blue", "-")}
    fig, ax = plt.subplots(figsize=(7, 4.2))
    steps = range(1, length + 1)
    for name, values in curves.items():
        color, style = styles[name]
        ax.semilogy(steps, values.clamp_min(1e-300).tolist(), style, color=color, label=name)
    ax.set_xlabel("time step t (the digit to remember is read at t = 1)")
    ax.set_ylabel(r"$\|\partial L / \partial h^{(t)}\|$")
    ax.set_title(f"Gradient of the final loss with respect to h(t), T = {length}")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> int:
    args = parse_args()
    device = resolve_device(args.device)
    seed_everything(args.seed)
    digits, targets = fixed_test_set(args.input_length + 1, args.batch_size)
    digits, targets = digits.to(device), targets.to(device)

    curves = {}
    common = dict(seq_length=args.input_length, input_dim=args.input_dim,
                  num_hidden=args.num_hidden, num_classes=10, device=device)
    untrained = {"RNN untrained (uniform W_hh)": VanillaRNN(**common, recurrent_init="same"),
                 "RNN untrained (orthogonal W_hh)": VanillaRNN(**common, recurrent_init="orthogonal"),
                 "LSTM untrained (b_f = 1)": LSTM(**common, forget_bias=1.0),
                 "LSTM untrained (chrono)": LSTM(**common, chrono=True)}
    # float64 so that gradients down to 1e-300 are measured instead of flushed to zero
    for name, model in untrained.items():
        curves[name] = gradient_norms(model.double(), digits, targets, args.input_dim)
    for name, path, cls in (("RNN trained", args.rnn_model, VanillaRNN),
                            ("LSTM trained", args.lstm_model, LSTM)):
        if path:
            model = load_trained(path, device)
            if not isinstance(model, cls):
                raise UserError(f"'{path}' holds a {type(model).__name__}, not a {cls.__name__}")
            curves[name] = gradient_norms(model.double(), digits, targets, model.input_dim)

    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    table = io.StringIO()
    writer = csv.writer(table, lineterminator="\n")
    writer.writerow(["t", *curves])
    for t in range(args.input_length):
        writer.writerow([t + 1, *(f"{float(v[t]):.6e}" for v in curves.values())])
    atomic_write_text(out / "grads_over_time.csv", table.getvalue())
    atomic_write_text(out / "config.json", json.dumps({"args": vars(args),
                                                       "environment": environment_info()}, indent=2))
    plot(curves, out / "grads_over_time.png", args.input_length)
    for name, values in curves.items():
        ratio = float(values[0] / values[-1])
        print(f"{name:32s} ||dL/dh(T)|| = {float(values[-1]):.3e}   ||dL/dh(1)|| = "
              f"{float(values[0]):.3e}   ratio h(1)/h(T) = {ratio:.3e}")
    print(f"wrote {out / 'grads_over_time.png'} and {out / 'grads_over_time.csv'}")
    return 0


if __name__ == "__main__":
    run_main(main)
