"""How far back does the gradient reach? ||dL/dh(t)|| over the T steps of each model (question 1.7).

For one palindrome of input length T (100 by default; ``--batch_size`` averages over more) the loss is
the cross-entropy of the final prediction. Each model of part1/train.py's MODELS hands out its hidden
states h(t) (and the LSTM its cell states c(t)) as nodes of the graph, so autograd gives dL/dh(t) for
every t; a vanishing gradient shows as a curve that falls by orders of magnitude towards t = 1, the
step that holds the digit to remember. Untrained models are shown with the initialisations the study
compares (RNN: uniform or orthogonal W_hh; LSTM: forget bias 1 or chrono), trained ones are read from
the ``model.pt`` files of part1/train.py.

    python part1/grads_over_time.py                          # untrained models
    python part1/grads_over_time.py --trained results/part1/RNN_T100_d10_s0/model.pt

Writes ``grads_over_time.png``, ``grads_over_time.csv`` (column ``t`` and one column per curve) and
``grads_over_time.json``: ``{"input_length", "batch_size", "seed", "curves": {name: {"norms", "first",
"last", "ratio", "trained", "held_out_accuracy", "held_out_size", "source"}}}`` with ``norms[t-1]`` =
||dL/dh(t)||, ``first``/``last`` its values at t = 1 and T and ``ratio`` = first / last. A curve of a
model with a cell state also has ``cell_norms`` (||dL/dc(t)||), one of the RNN ``w_hh_singular_values``
and ``spectral_radius`` of its W_hh, which decide how fast dL/dh(t) changes going back in time.
"""
from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch
import torch.nn.functional as F

from part1.dataset import encode_input, fixed_test_set
from part1.train import MODELS, UserError, build_model

# The untrained variants of a model, by the label its curve gets; a model not listed gets one curve.
UNTRAINED = {"RNN": {"uniform W_hh": {"recurrent_init": "uniform"},
                     "orthogonal W_hh": {"recurrent_init": "orthogonal"}},
             "LSTM": {"b_f = 1": {"forget_bias": 1.0}, "chrono": {"chrono": True}}}
COLOURS = {"RNN": "tab:red", "LSTM": "tab:blue", "GRU": "tab:green"}


def curve(model, digits, targets, input_dim, result=None, source=None):
    """One curve of grads_over_time.json: mean over the batch of ||dL_b/dh_b(t)|| (and ||dL_b/dc_b(t)||)
    for t = 1..T, the loss summed over the batch so that each example's gradient is its own."""
    model = model.double()  # gradients down to 1e-300 are measured instead of flushed to zero
    logits, states = model(encode_input(digits, input_dim), return_states=True)
    names = list(states)  # "h", and "c" for the LSTM
    grads = torch.autograd.grad(F.cross_entropy(logits, targets, reduction="sum"),
                                [s for name in names for s in states[name]])
    T = len(states["h"])
    norms = {name: [float(g.norm(dim=1).mean()) for g in grads[k * T:(k + 1) * T]]
             for k, name in enumerate(names)}
    h = norms["h"]
    record = {"norms": h, "first": h[0], "last": h[-1], "ratio": h[0] / h[-1],
              "trained": source is not None, "held_out_accuracy": (result or {}).get("test_accuracy"),
              "held_out_size": (result or {}).get("test_size"), "source": source}
    if "c" in norms:
        record["cell_norms"] = norms["c"]
    if hasattr(model, "W_hh"):
        W_hh = model.W_hh.detach()
        record["w_hh_singular_values"] = [float(v) for v in torch.linalg.svdvals(W_hh)]
        record["spectral_radius"] = float(torch.linalg.eigvals(W_hh).abs().max())
    return record


def load_trained(path, device):
    """A model.pt of part1/train.py, rebuilt with its flags, and the result it recorded."""
    try:
        state = torch.load(path, map_location=device, weights_only=True)
    except FileNotFoundError:
        raise UserError(f"no model at '{path}'; train one with part1/train.py (it writes model.pt)") from None
    except Exception as exc:
        raise UserError(f"cannot read '{path}' ({type(exc).__name__}); pass a model.pt of part1/train.py") from None
    config = state.get("config") if isinstance(state, dict) else None
    if not (isinstance(config, dict) and config.get("model_type") in MODELS and "model" in state):
        raise UserError(f"'{path}' is not a model.pt of part1/train.py")
    try:
        model = build_model(argparse.Namespace(**config), device)
        model.load_state_dict(state["model"])
    except (AttributeError, TypeError, RuntimeError) as exc:
        raise UserError(f"'{path}' is not a complete part-1 model.pt ({type(exc).__name__})") from None
    return model, config, state.get("result") or {}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--input_length", type=int, default=100, help="T, the digits read")
    p.add_argument("--batch_size", type=int, default=1, help="palindromes averaged over")
    p.add_argument("--models", nargs="+", choices=list(MODELS), default=list(MODELS), help="untrained models to show")
    p.add_argument("--input_dim", type=int, choices=[1, 10], default=10, help="untrained models: 1 digit as a number, 10 one-hot")
    p.add_argument("--num_hidden", type=int, default=128, help="untrained models: hidden units n")
    p.add_argument("--trained", nargs="*", default=[], metavar="MODEL_PT", help="model.pt files of part1/train.py")
    p.add_argument("--seed", type=int, default=0, help="seed of the untrained weights")
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    p.add_argument("--out_dir", default="results/grads_over_time", help="output folder")
    p.add_argument("--quiet", action="store_true", help="no line per curve")
    args = p.parse_args(argv)
    if args.input_length < 2 or args.batch_size < 1:
        p.error("--input_length must be at least 2 and --batch_size at least 1")
    digits, targets = (t.to(args.device) for t in fixed_test_set(args.input_length + 1, args.batch_size))
    torch.manual_seed(args.seed)
    curves = {}
    for name in args.models:
        for label, options in UNTRAINED.get(name, {"": {}}).items():
            model = MODELS[name](args.input_length, args.input_dim, args.num_hidden, 10, args.device, **options)
            curves[f"{name} untrained" + (f" ({label})" if label else "")] = curve(
                model, digits, targets, args.input_dim)
    for path in args.trained:
        model, config, result = load_trained(path, args.device)
        curves[f"{config['model_type']} trained"] = curve(model, digits, targets, config["input_dim"], result, str(path))

    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    columns = {name: c["norms"] for name, c in curves.items()}
    columns.update({f"{name}, dL/dc": c["cell_norms"] for name, c in curves.items() if "cell_norms" in c})
    with open(out / "grads_over_time.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["t", *columns])
        writer.writerows([t + 1, *(f"{v[t]:.6e}" for v in columns.values())] for t in range(args.input_length))
    (out / "grads_over_time.json").write_text(json.dumps(
        {"input_length": args.input_length, "batch_size": args.batch_size, "seed": args.seed,
         "curves": curves}, indent=2) + "\n")
    (out / "config.json").write_text(json.dumps(vars(args), indent=2) + "\n")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2))
    for name, c in curves.items():
        style = "-" if c["trained"] else "--" if name.endswith(("orthogonal W_hh)", "chrono)")) else ":"
        ax.semilogy(range(1, args.input_length + 1), [max(v, 1e-300) for v in c["norms"]], style,
                    color=COLOURS.get(name.split()[0]), label=name)
    ax.set(xlabel="time step t (the digit to remember is read at t = 1)", ylabel=r"$\|\partial L / \partial h^{(t)}\|$",
           title=f"Gradient of the final loss with respect to h(t), T = {args.input_length}")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "grads_over_time.png", dpi=120)
    plt.close(fig)
    for name, c in curves.items():
        if not args.quiet:
            print(f"{name:32s} ||dL/dh(T)|| = {c['last']:.3e}   ||dL/dh(1)|| = {c['first']:.3e}   "
                  f"ratio h(1)/h(T) = {c['ratio']:.3e}")
    print(f"wrote {out / 'grads_over_time.png'}, {out / 'grads_over_time.csv'} and {out / 'grads_over_time.json'}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except UserError as exc:
        sys.exit(print(f"error: {exc}", file=sys.stderr) or 2)
