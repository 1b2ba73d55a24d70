"""The best part-2 configuration found within a 15-minute CPU budget (an extra beyond question 2.1):
part2/train.py with a larger model, longer windows, dropout and weight drop.

    python experiments/part2_best.py                        # the preset (part2/README.md has the runs)
    python experiments/part2_best.py --weight_drop 0.35     # any part2/train.py flag changes it
    python experiments/part2_best.py --resume               # the same command plus --resume

Weight drop is DropConnect on each layer's hidden-to-hidden matrix W_hh, as in AWD-LSTM: while
training, one mask per batch drops entries of W_hh at every time step, so the recurrent connection
itself is regularised while nn.LSTM's fused kernel still does the work. The trained model is a plain
TextGenerationModel: part2/sample.py reads its checkpoints. Outputs as part2/train.py's.
"""
from __future__ import annotations

import sys
from functools import partial
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch
from torch import nn

from part2.model import TextGenerationModel
from part2.train import build_parser, main

PRESET = {"seq_length": 100, "lstm_num_hidden": 256, "lstm_num_layers": 2, "batch_size": 64,
          "learning_rate": 4e-3, "learning_rate_decay": 0.9, "learning_rate_step": 1000,
          "dropout_keep_prob": 0.7, "train_steps": 4400, "eval_every": 500, "weight_drop": 0.25}


class WeightDropLSTM(TextGenerationModel):
    """:class:`TextGenerationModel` whose ``W_hh`` entries are dropped with probability ``weight_drop``
    while training (the dropped entries get no gradient); in eval mode it is the plain model."""

    def __init__(self, *args, weight_drop: float = 0.0, **kwargs):
        super().__init__(*args, **kwargs)
        self.weight_drop = weight_drop

    def forward(self, x, state=None):
        if not (self.training and self.weight_drop > 0):
            return super().forward(x, state)
        dropped = {f"weight_hh_l{k}": nn.functional.dropout(getattr(self.lstm, f"weight_hh_l{k}"), self.weight_drop)
                   for k in range(self.lstm_num_layers)}                        # (4H, H) each, one mask per batch
        hidden, state = torch.func.functional_call(self.lstm, dropped, (self.encode_input(x), state))
        return self.output(self.dropout(hidden)), state


def parser():
    p = build_parser()
    p.description = __doc__.split("\n\n")[0]
    p.add_argument("--weight_drop", type=float, default=0.0,
                   help="probability of dropping an entry of each W_hh while training (0: off)")
    p.set_defaults(**PRESET)  # flags given on the command line still win
    return p


if __name__ == "__main__":
    p = parser()
    drop = p.parse_known_args()[0].weight_drop
    if not 0 <= drop < 1:
        p.error(f"argument --weight_drop: must be in [0, 1), got {drop}")
    sys.exit(main(parser=p, Model=partial(WeightDropLSTM, weight_drop=drop)))
