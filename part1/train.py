"""Train a hand-written VanillaRNN or LSTM on the palindrome-digit task.

    python part1/train.py --model_type LSTM --input_length 20 --input_dim 10
    python part1/train.py --model_type LSTM --input_length 20 --input_dim 10 --resume

Every ``--eval_every`` steps the model is scored on a fixed validation set; the run stops early once the
validation accuracy stays at or above ``--early_stop_accuracy`` for ``--early_stop_patience``
evaluations, or after ``--time_limit`` seconds; the final score is on a separate test set. The output folder receives ``config.json``,
``metrics.csv`` (one row per evaluation), ``result.json``, the final model ``model.pt`` and a
resumable ``checkpoint.pt`` (written atomically every ``--checkpoint_every`` steps and on Ctrl-C /
SIGTERM). ``--resume`` continues the run from its own checkpoint, ``--resume PATH`` from that
checkpoint file; both take the flags that define the run from the checkpoint. ``--init_from PATH``
warm-starts from the weights in another run's ``model.pt`` (same model type and architecture, any
input length). A loss that turns NaN or explodes stops the run, naming the step where it did, before
diverged weights can reach a checkpoint. The work is done by ``part1/training.py``.
"""
from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common.args import given_flags
from common.runtime import EXIT_INTERRUPTED, run_main
from part1.options import build_parser, parse_args
from part1.training import train


def main() -> int:
    argv = sys.argv[1:]
    args = parse_args(argv)
    result = train(args, given=given_flags(build_parser(), argv))
    if result["status"] == "interrupted":
        return EXIT_INTERRUPTED
    print(f"{args.model_type} T={args.input_length}: test accuracy "
          f"{result['test_accuracy']:.4f} on {args.test_size} palindromes after {result['steps']} "
          f"steps ({result['train_seconds']:.1f} s, {result['status']}); results in {args.out_dir}")
    return 0


if __name__ == "__main__":
    run_main(main)
