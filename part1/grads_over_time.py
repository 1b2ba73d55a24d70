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

Writes to ``--out_dir``: ``grads_over_time.png``, ``grads_over_time.csv`` (column ``t`` and one
column per curve) and ``grads_over_time.json``: ``{"input_length", "batch_size", "seed", "curves":
{name: {"norms", "first", "last", "ratio", "trained", "held_out_accuracy", "held_out_size",
"source"}}}`` with ``norms[t-1]`` = ||dL/dh(t)|| for t = 1..T, ``first``/``last`` its values at t = 1
and t = T, ``ratio`` = first / last, and for a trained model the held-out accuracy and set size its
``model.pt`` recorded (None for untrained curves). Every LSTM curve also has ``cell_norms``:
``cell_norms[t-1]`` = ||dL/dc(t)||, the gradient reaching the cell state (a CSV column
``<name>, dL/dc`` too); every RNN curve has ``w_hh_singular_values`` (descending) and
``spectral_radius`` (the largest |eigenvalue|) of its W_hh, which decide how fast dL/dh(t) grows or
shrinks going back in time.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch
import torch.nn.functional as F

from common.args import make_parser, nonnegative_int, positive_int
from common.checkpoint import load_checkpoint
from common.io import prepare_out_dir, write_csv, write_json
from common.runtime import UserError, environment_info, resolve_device, run_main, seed_everything
from part1.bptt import lstm_step
from part1.dataset import encode_input, fixed_test_set
from part1.lstm import LSTM
from part1.training import CHECKPOINT_KIND, build_model
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


def cell_gradient_norms(model: LSTM, digits: torch.Tensor, targets: torch.Tensor,
                        input_dim: int) -> torch.Tensor:
    """Mean over the batch of ||dL_b/dc_b(t)|| for t = 1..T, as a ``(T,)`` tensor.

    The LSTM's forward hands out h(t) only, so the sequence is rerun here step by step on the
    teaching path (``lstm_step``), keeping every c(t); the fast path is left as it is.
    """
    x = encode_input(digits, input_dim).to(model.W_gx.dtype)  # (B, T, d)
    W_x, W_h, b = model.stacked()
    xw = torch.matmul(x, W_x.t()) + b  # (B, T, 4n)
    h = xw.new_zeros(x.shape[0], model.num_hidden)  # h(0), (B, n)
    c = torch.zeros_like(h)  # c(0), (B, n)
    cells = []
    for xw_t in xw.unbind(1):
        h, c = lstm_step(xw_t, h, c, W_h.t())  # h(t), c(t): (B, n)
        cells.append(c)
    logits = torch.addmm(model.b_p, h, model.W_ph.t())  # (B, K)
    loss = F.cross_entropy(logits, targets, reduction="sum")
    grads = torch.autograd.grad(loss, cells)  # T x (B, n)
    return torch.stack([g.norm(dim=1).mean() for g in grads]).detach()  # (T,)


def recurrent_spectrum(model: VanillaRNN) -> dict:
    """The singular values of W_hh (descending) and its spectral radius (largest |eigenvalue|)."""
    W_hh = model.W_hh.detach()
    return {"w_hh_singular_values": [float(v) for v in torch.linalg.svdvals(W_hh)],
            "spectral_radius": float(torch.linalg.eigvals(W_hh).abs().max())}


def model_extras(model: torch.nn.Module, digits, targets, input_dim: int) -> dict:
    """The keys a curve gets beyond ||dL/dh(t)||: cell-state gradients (LSTM) or W_hh's spectrum."""
    if isinstance(model, LSTM):
        norms = cell_gradient_norms(model, digits, targets, input_dim)
        return {"cell_norms": [float(v) for v in norms]}
    return recurrent_spectrum(model)


def load_trained(path: str, device) -> tuple[torch.nn.Module, dict]:
    """A model saved by part1/train.py (``model.pt``), rebuilt with the flags it was trained with,
    and the result it recorded (``{}`` when it holds none, e.g. a checkpoint.pt)."""
    state = load_checkpoint(path, CHECKPOINT_KIND, map_location=device)
    try:
        model = build_model(argparse.Namespace(**state["args"]), device)
        model.load_state_dict(state["model"])
    except (KeyError, TypeError, AttributeError, RuntimeError) as exc:
        raise UserError(f"'{path}' is not a complete part-1 model.pt (its model or flags are "
                        f"missing or do not match: {type(exc).__name__})") from None
    return model.eval(), (state.get("extras") or {}).get("result", {})


def curve_record(norms: torch.Tensor, result: dict | None = None, source=None,
                 extras: dict | None = None) -> dict:
    """One curve of grads_over_time.json (keys in the module docstring); ``extras`` from
    :func:`model_extras`."""
    result = result or {}
    return {"norms": [float(v) for v in norms], "first": float(norms[0]), "last": float(norms[-1]),
            "ratio": float(norms[0] / norms[-1]), "trained": source is not None,
            "held_out_accuracy": result.get("test_accuracy"),
            "held_out_size": result.get("test_size"),
            "source": None if source is None else str(source), **(extras or {})}


def build_parser() -> argparse.ArgumentParser:
    parser = make_parser(__doc__.split("\n\n")[0])
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
    book.add_argument("--quiet", action="store_true", help="no per-curve lines, only the last one")
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
        ax.semilogy(steps, [max(v, 1e-300) for v in values], style, color=color, label=name)
    ax.set_xlabel("time step t (the digit to remember is read at t = 1)")
    ax.set_ylabel(r"$\|\partial L / \partial h^{(t)}\|$")
    ax.set_title(f"Gradient of the final loss with respect to h(t), T = {length}")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def measure(args, device) -> dict:
    """The curves of grads_over_time.json: the untrained models, then the trained ones given."""
    digits, targets = fixed_test_set(args.input_length + 1, args.batch_size)
    digits, targets = digits.to(device), targets.to(device)
    common = dict(seq_length=args.input_length, input_dim=args.input_dim,
                  num_hidden=args.num_hidden, num_classes=10, device=device)
    untrained = {"RNN untrained (uniform W_hh)": VanillaRNN(**common, recurrent_init="same"),
                 "RNN untrained (orthogonal W_hh)": VanillaRNN(**common, recurrent_init="orthogonal"),
                 "LSTM untrained (b_f = 1)": LSTM(**common, forget_bias=1.0),
                 "LSTM untrained (chrono)": LSTM(**common, chrono=True)}
    curves = {}
    # float64 so that gradients down to 1e-300 are measured instead of flushed to zero
    for name, model in untrained.items():
        model = model.double()
        curves[name] = curve_record(gradient_norms(model, digits, targets, args.input_dim),
                                    extras=model_extras(model, digits, targets, args.input_dim))
    for name, path, cls in (("RNN trained", args.rnn_model, VanillaRNN),
                            ("LSTM trained", args.lstm_model, LSTM)):
        if path:
            model, result = load_trained(path, device)
            if not isinstance(model, cls):
                raise UserError(f"'{path}' holds a {type(model).__name__}, not a {cls.__name__}")
            model = model.double()
            norms = gradient_norms(model, digits, targets, model.input_dim)
            curves[name] = curve_record(norms, result, source=path,
                                        extras=model_extras(model, digits, targets, model.input_dim))
    return curves


def main() -> int:
    args = parse_args()
    device = resolve_device(args.device)
    seed_everything(args.seed)
    curves = measure(args, device)
    out = prepare_out_dir(args.out_dir)
    columns = {name: c["norms"] for name, c in curves.items()}
    columns.update({f"{name}, dL/dc": c["cell_norms"] for name, c in curves.items()
                    if "cell_norms" in c})
    rows = [{"t": t + 1, **{name: f"{v[t]:.6e}" for name, v in columns.items()}}
            for t in range(args.input_length)]
    write_csv(out / "grads_over_time.csv", rows, ["t", *columns])
    write_json(out / "grads_over_time.json", {"input_length": args.input_length,
                                              "batch_size": args.batch_size, "seed": args.seed,
                                              "curves": curves})
    write_json(out / "config.json", {"args": vars(args), "environment": environment_info()})
    plot({name: c["norms"] for name, c in curves.items()}, out / "grads_over_time.png",
         args.input_length)
    for name, c in curves.items():
        if not args.quiet:
            print(f"{name:32s} ||dL/dh(T)|| = {c['last']:.3e}   ||dL/dh(1)|| = {c['first']:.3e}   "
                  f"ratio h(1)/h(T) = {c['ratio']:.3e}")
    print(f"wrote {out / 'grads_over_time.png'}, {out / 'grads_over_time.csv'} and "
          f"{out / 'grads_over_time.json'}")
    return 0


if __name__ == "__main__":
    run_main(main)
