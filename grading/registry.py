"""The checks: their names (the rubric's keys), the part they grade and the code that runs them.

Kept free of torch so that the command line starts fast; the code of a check lives in
``grading/checks/`` and is only ever run inside the sandbox.
"""
from __future__ import annotations

from dataclasses import dataclass

PARTS = ("part1", "part2")
MODELS = {"rnn": "VanillaRNN", "lstm": "LSTM"}


@dataclass(frozen=True)
class Check:
    name: str    # key in the rubric, column in the CSV
    part: str    # the skeleton folder it grades; that folder (and only it) joins sys.path
    target: str  # "module:function" in grading.checks, called with a checks.common.Context
    kind: str    # "rnn" or "lstm" for the part-1 model checks, "" otherwise
    title: str   # one line for the report


def _model_checks(kind: str) -> list[Check]:
    name = MODELS[kind]
    return [
        Check(f"{kind}_builds", "part1", "recurrent:check_builds", kind, f"{name} imports and builds"),
        Check(f"{kind}_no_builtin", "part1", "source:check_no_builtin", kind,
              f"{name} is written from its equations (no nn.RNN/nn.LSTM/nn.Linear/...)"),
        Check(f"{kind}_shapes", "part1", "recurrent:check_shapes", kind, "output (B, num_classes)"),
        Check(f"{kind}_param_count", "part1", "recurrent:check_param_count", kind,
              "parameter count equals the assignment's formula"),
        Check(f"{kind}_gradients", "part1", "recurrent:check_gradients", kind,
              "every parameter gets a finite, non-zero gradient"),
        Check(f"{kind}_parity", "part1", "parity:check_parity", kind,
              f"equals nn.{'RNN' if kind == 'rnn' else 'LSTM'} in float64 (outputs and gradients)"),
        Check(f"{kind}_sanity_t5", "part1", "recurrent:check_sanity", kind,
              ">= 99% held-out accuracy on T=5 palindromes within the budget"),
    ]


CHECKS: tuple[Check, ...] = (
    Check("palindromes", "part1", "palindromes:check_palindromes", "",
          "PalindromeDataset items are palindromes with the last digit as target"),
    *_model_checks("rnn"),
    *_model_checks("lstm"),
    Check("text_roundtrip", "part2", "text:check_roundtrip", "",
          "TextDataset: UTF-8 text -> indices -> convert_to_string gives the text back"),
    Check("text_targets_shifted", "part2", "text:check_targets_shifted", "",
          "TextDataset: targets are the inputs shifted by one character"),
    Check("text_vocab_stable", "part2", "text:check_vocab_stable", "",
          "TextDataset: the same file gives the same vocabulary in every run"),
    Check("text_model_shapes", "part2", "text_model:check_shapes", "",
          "TextGenerationModel: logits (B, T, V) or (T, B, V), causal in time"),
    Check("text_model_loss", "part2", "text_model:check_loss_falls", "",
          "TextGenerationModel: the loss falls below the text's character entropy"),
)

BY_NAME = {check.name: check for check in CHECKS}
