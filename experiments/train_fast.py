"""``part1/train.py`` with the hand-written backward through time of part1/bptt.py (RNN and LSTM).

The same flags, outputs and results as part1/train.py, about twice as fast on a CPU: the
reproduction's chrono x learning-rate square, optimizer comparison and gradient models train so.

    python experiments/train_fast.py --model_type LSTM --input_length 20 --input_dim 10 --chrono
"""
from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from part1.bptt import FAST
from part1.train import MODELS, main

if __name__ == "__main__":
    sys.exit(main(models={**MODELS, **FAST}))
