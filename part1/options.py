"""The flags of one part-1 training run (``part1/train.py``), parsed and checked.

The length study builds its runs from the same parser (in-process, through :func:`parse_args`), so
a flag means one thing whoever passes it.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from common.args import (make_parser, nonnegative_float, nonnegative_int, positive_float,
                         positive_int, unit_interval)
from common.optim import OPTIMIZERS
from part1.initialisation import RECURRENT_SCHEMES, SCHEMES

DESCRIPTION = "Train a hand-written VanillaRNN or LSTM on the palindrome-digit task."
# On --resume every flag is taken from the checkpoint except these: the stopping, evaluation and
# checkpoint schedule may be given anew (else the checkpoint's is kept) ...
RESUME_OVERRIDABLE = {"train_steps", "time_limit", "eval_every", "checkpoint_every",
                      "early_stop_accuracy", "early_stop_patience", "no_early_stop", "bptt"}
# ... and these always come from the command line. A flag outside both, given with another value
# than the checkpoint's, is an error.
RESUME_CURRENT = {"out_dir", "resume", "overwrite", "device", "quiet"}
# --init_from cannot be given with --resume (the checkpoint already holds the weights); the
# checkpoint's value is kept, so that config.json still names where the run was warm-started from.
RESUME_SAVED = {"init_from"}
# The flags that fix the shapes of the weights: an --init_from model.pt must agree on all of them.
ARCHITECTURE = ("model_type", "input_dim", "num_hidden", "num_classes")
AUTO = "auto"  # the value of a bare --resume: the checkpoint.pt of the run's own --out_dir


def _model_flags(parser: argparse.ArgumentParser) -> None:
    model = parser.add_argument_group("model")
    model.add_argument("--model_type", choices=["RNN", "LSTM"], default="RNN",
                       help="hand-written VanillaRNN or LSTM")
    model.add_argument("--input_length", type=positive_int, default=10,
                       help="T, the number of digits the network reads (the palindrome has T+1)")
    model.add_argument("--input_dim", type=int, choices=[1, 10], default=1,
                       help="1: each digit as a number; 10: each digit one-hot")
    model.add_argument("--num_classes", type=int, choices=[10], default=10,
                       help="number of output classes (the ten digits)")
    model.add_argument("--num_hidden", type=positive_int, default=128, help="hidden units n")
    model.add_argument("--init", choices=SCHEMES, default="uniform",
                       help="initialisation of every weight matrix: uniform U(+-1/sqrt(n)) "
                            "(PyTorch's default) or glorot")
    model.add_argument("--recurrent_init", choices=RECURRENT_SCHEMES, default="orthogonal",
                       help="RNN only: W_hh as --init ('same') or a random orthogonal matrix")
    model.add_argument("--forget_bias", type=float, default=1.0,
                       help="LSTM only: initial forget-gate bias b_f (ignored with --chrono)")
    model.add_argument("--chrono", action="store_true",
                       help="LSTM only: chrono initialisation b_f ~ log U(1, T-1), b_i = -b_f")
    model.add_argument("--bptt", choices=["manual", "autograd"], default="manual",
                       help="backward through time written by hand (part1/bptt.py) or recorded "
                            "step by step by autograd; both give the same gradients")
    model.add_argument("--init_from", metavar="PATH", default=None,
                       help="start from the weights in the model.pt of an earlier part-1 run (same "
                            "--model_type, --input_dim, --num_hidden and --num_classes; any "
                            "--input_length) instead of a fresh initialisation, so --init, "
                            "--recurrent_init, --forget_bias and --chrono do not shape the weights; "
                            "not with --resume")


def _optimisation_flags(parser: argparse.ArgumentParser) -> None:
    optim = parser.add_argument_group("optimisation")
    optim.add_argument("--optimizer", choices=OPTIMIZERS, default="rmsprop",
                       help="sgd is plain SGD, momentum is SGD with momentum 0.9")
    optim.add_argument("--learning_rate", type=positive_float, default=1e-3, help="learning rate")
    optim.add_argument("--weight_decay", type=nonnegative_float, default=None,
                       help="weight decay (default: the optimizer's own, 0 or 0.01 for adamw; "
                            "decoupled from the gradient in adamw, added to it otherwise)")
    optim.add_argument("--batch_size", type=positive_int, default=128, help="palindromes per step")
    optim.add_argument("--train_steps", type=positive_int, default=10000,
                       help="the most optimisation steps")
    optim.add_argument("--max_norm", type=positive_float, default=10.0,
                       help="clip the global gradient norm to this value")
    optim.add_argument("--time_limit", type=positive_float, default=None, metavar="SECONDS",
                       help="stop training after this many seconds of training, summed over "
                            "resumed sessions (checked at evaluations)")


def _bookkeeping_flags(parser: argparse.ArgumentParser) -> None:
    book = parser.add_argument_group("evaluation and bookkeeping")
    book.add_argument("--eval_every", type=positive_int, default=100,
                      help="evaluate on the validation set every N steps")
    book.add_argument("--eval_size", type=positive_int, default=1000,
                      help="palindromes of the validation set (its own generator, apart from the "
                           "test set) scored every --eval_every steps for early stopping")
    book.add_argument("--test_size", type=positive_int, default=10000,
                      help="palindromes of the fixed test set used for the final score only")
    book.add_argument("--early_stop_accuracy", type=unit_interval, default=0.999,
                      help="stop once validation accuracy is at least this value ...")
    book.add_argument("--early_stop_patience", type=positive_int, default=3,
                      help="... at this many consecutive evaluations")
    book.add_argument("--no_early_stop", action="store_true", help="always run --train_steps")
    book.add_argument("--seed", type=nonnegative_int, default=0, help="seed of weights and batches")
    book.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda, cuda:N")
    book.add_argument("--out_dir", default=None,
                      help="output folder (default: results/part1/<model>_T<len>_d<dim>_s<seed>, "
                           "or the folder of --resume PATH)")
    book.add_argument("--checkpoint_every", type=nonnegative_int, default=500,
                      help="write checkpoint.pt every N steps (0: only at the end and on a signal)")
    book.add_argument("--resume", nargs="?", const=AUTO, default=None, metavar="PATH",
                      help="continue a run: bare, from checkpoint.pt in --out_dir; with PATH, from "
                           "that checkpoint file (its flags are kept)")
    book.add_argument("--overwrite", action="store_true",
                      help="start afresh even if the output folder holds a checkpoint")
    book.add_argument("--quiet", action="store_true", help="no progress bar or progress lines")


def build_parser() -> argparse.ArgumentParser:
    parser = make_parser(DESCRIPTION)
    _model_flags(parser)
    _optimisation_flags(parser)
    _bookkeeping_flags(parser)
    return parser


def parse_args(argv=None) -> argparse.Namespace:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.input_length < 2:
        parser.error(f"--input_length must be at least 2 (the network must read past the first "
                     f"digit), got {args.input_length}")
    if args.resume and args.overwrite:
        parser.error("--resume and --overwrite exclude each other")
    if args.resume and args.init_from:
        parser.error("--init_from and --resume exclude each other (a resumed run continues from "
                     "the weights in its checkpoint)")
    if args.out_dir is None:
        resumed = resume_path(args)
        args.out_dir = str(resumed.parent if resumed else Path("results") / "part1" /
                           default_run_name(args))
    return args


def default_run_name(args) -> str:
    return f"{args.model_type}_T{args.input_length}_d{args.input_dim}_s{args.seed}"


def resume_path(args) -> Path | None:
    """The checkpoint file ``--resume PATH`` names, or None (no --resume, or a bare one)."""
    return Path(args.resume) if args.resume not in (None, AUTO) else None


def checkpoint_to_resume(args) -> Path:
    """The checkpoint a resumed run starts from: ``--resume PATH`` or ``<out_dir>/checkpoint.pt``."""
    return resume_path(args) or Path(args.out_dir) / "checkpoint.pt"
