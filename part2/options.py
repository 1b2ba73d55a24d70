"""The flags of ``part2/train.py``: the parser, the tested presets and which flags a resumed run may
change. A library module, so that the training benchmark configures its loop with the same flags."""
from __future__ import annotations

import argparse
import sys

from common.args import (drop_probability, given_flags, make_parser, nonnegative_int, open_unit_interval,
                         positive_float, positive_int, unit_interval)
from common.optim import OPTIMIZERS

# The best configuration found within the 15-minute CPU budget (see part2/README.md for the runs).
PRESETS = {
    "best": {"seq_length": 100, "lstm_num_hidden": 256, "lstm_num_layers": 2, "batch_size": 64,
             "learning_rate": 4e-3, "learning_rate_decay": 0.9, "learning_rate_step": 1000,
             "dropout_keep_prob": 0.7, "weight_drop": 0.25, "train_steps": 4400, "val_every": 500},
}
# Flags that may change when a run is resumed; everything else is taken from the checkpoint.
RESUME_OVERRIDABLE = {"train_steps", "print_every", "sample_every", "val_every", "checkpoint_every",
                      "device", "time_limit", "summary_path", "checkpoint_dir", "resume", "overwrite",
                      "quiet", "txt_file", "book"}


def _data_flags(parser: argparse.ArgumentParser) -> None:
    data = parser.add_argument_group("data")
    data.add_argument("--txt_file", type=str, default=None,
                      help="UTF-8 text to train on; without it the --book is used")
    data.add_argument("--book", type=str, default="grimm",
                      help="used when --txt_file is absent: grimm is the copy shipped in assets/, any other "
                           "Gutenberg short name or id is downloaded into assets/cache/")
    data.add_argument("--val_fraction", type=open_unit_interval, default=0.1,
                      help="share of the text, at its end, held out for validation")
    data.add_argument("--keep_gutenberg_header", action="store_true",
                      help="train on the Project Gutenberg header and licence too (stripped by default)")


def _model_flags(parser: argparse.ArgumentParser) -> None:
    model = parser.add_argument_group("model")
    model.add_argument("--seq_length", type=positive_int, default=30, help="characters per training example")
    model.add_argument("--lstm_num_hidden", type=positive_int, default=128, help="units per LSTM layer")
    model.add_argument("--lstm_num_layers", type=positive_int, default=2, help="stacked LSTM layers")
    model.add_argument("--embedding_dim", type=nonnegative_int, default=64,
                       help="character embedding size; 0 feeds one-hot vectors")
    model.add_argument("--dropout_keep_prob", type=unit_interval, default=1.0,
                       help="keep probability of dropout between and after the LSTM layers, in (0, 1]")
    model.add_argument("--weight_drop", type=drop_probability, default=0.0,
                       help="DropConnect on the LSTM's hidden-to-hidden weights W_hh while training: the "
                            "probability of dropping an entry (one mask per batch, all time steps); 0 = off")


def _optimisation_flags(parser: argparse.ArgumentParser) -> None:
    optim = parser.add_argument_group("optimisation")
    optim.add_argument("--batch_size", type=positive_int, default=64, help="sequences per step")
    optim.add_argument("--optimizer", choices=OPTIMIZERS, default="adam",
                       help="sgd is plain SGD, momentum is SGD with momentum 0.9")
    optim.add_argument("--learning_rate", type=positive_float, default=2e-3, help="initial learning rate")
    optim.add_argument("--learning_rate_decay", type=unit_interval, default=0.96,
                       help="factor applied to the learning rate every --learning_rate_step steps")
    optim.add_argument("--learning_rate_step", type=positive_int, default=5000,
                       help="steps between learning-rate decays")
    optim.add_argument("--train_steps", type=positive_int, default=20000, help="number of training steps")
    optim.add_argument("--max_norm", type=positive_float, default=5.0, help="gradient-norm clipping threshold")
    optim.add_argument("--carry_state", action="store_true",
                       help="read the training text as --batch_size consecutive streams with the LSTM state "
                            "carried from batch to batch (truncated BPTT, as char-rnn) instead of random "
                            "windows that each start from a zero state")
    optim.add_argument("--preset", choices=sorted(PRESETS), default=None,
                       help="a tested configuration; flags given explicitly still win. "
                            + "; ".join(f"{k}: " + ", ".join(f"{a}={v}" for a, v in p.items())
                                        for k, p in PRESETS.items()))
    optim.add_argument("--time_limit", type=positive_float, default=None,
                       help="stop (with a checkpoint) after this many seconds of training in this session")


def _bookkeeping_flags(parser: argparse.ArgumentParser) -> None:
    books = parser.add_argument_group("bookkeeping")
    books.add_argument("--summary_path", type=str, default="./summaries/",
                       help="TensorBoard events, metrics.csv, samples.txt, samples.jsonl, curves.png, "
                            "config.json, result.json")
    books.add_argument("--print_every", type=positive_int, default=5, help="steps between train-metric logs")
    books.add_argument("--sample_every", type=nonnegative_int, default=100,
                       help="steps between sample dumps (0: never)")
    books.add_argument("--val_every", type=nonnegative_int, default=500,
                       help="steps between validation passes (0: only at the end)")
    books.add_argument("--checkpoint_dir", type=str, default="./checkpoints/part2/",
                       help="where last.pt and best.pt are written")
    books.add_argument("--checkpoint_every", type=positive_int, default=1000, help="steps between checkpoints")
    books.add_argument("--resume", nargs="?", const="auto", default=None, metavar="CHECKPOINT",
                       help="continue a run: alone from <checkpoint_dir>/last.pt, or from CHECKPOINT")
    books.add_argument("--overwrite", action="store_true",
                       help="start afresh even if --checkpoint_dir/--summary_path hold a previous run")
    books.add_argument("--device", type=str, default="auto", help="auto, cpu, cuda or cuda:N")
    books.add_argument("--seed", type=nonnegative_int, default=0, help="random seed")
    books.add_argument("--quiet", action="store_true",
                       help="no progress bar and no line per validation (the first and last lines stay)")


def build_parser() -> argparse.ArgumentParser:
    parser = make_parser("Train a character-level LSTM on a text (part 2 of the RNN/GNN assignment).")
    parser.allow_abbrev = False
    for add in (_data_flags, _model_flags, _optimisation_flags, _bookkeeping_flags):
        add(parser)
    return parser


def parse_args(argv=None):
    """Parse, apply ``--preset`` to flags not given explicitly, and return ``(args, given)``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    given = given_flags(parser, argv)
    if args.preset:
        for key, value in PRESETS[args.preset].items():
            if key not in given:
                setattr(args, key, value)
    return args, given
