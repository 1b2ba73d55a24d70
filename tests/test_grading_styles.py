"""The grading kit reads the correct styles real students write (issue 22): a fixture submission per
style in tests/grading_fixtures/ (its README.md says what it holds) gets full marks, with what the
report must say of the style, and an edit of it that plants a bug costs exactly the checks it breaks.
"""
from __future__ import annotations


import pytest
import torch

from grading.checks import common
from grading.checks.common import CheckFailed, construct, pick_output
from tests.conftest import run_script
from tests.test_grading import FIXTURES, assert_edit_costs, failed, grade, messages

STYLES = {  # fixture: {check: a fragment of its message}
    "logits_bvt": {"text_model_shapes": "logits (B, V, T), as nn.CrossEntropyLoss takes, causal in time"},
    "float64_params": {"rnn_shapes": "inputs given in float64, the parameters' dtype",
                       "lstm_parity": "weights stored (out, in) as in the equations"},
    "tuple_outputs": {"rnn_shapes": "output (B, 10) (element 2 of the 2 forward returns)",
                      "lstm_sanity_t5": "held-out accuracy after",
                      "text_model_shapes": "logits (B, T, V) (element 2 of the 2 forward returns)"},
    "learnable_h0": {"rnn_param_count": "plus 7 of the learnable initial state h_init",
                     "rnn_parity": "the learnable h_init as h(0)",
                     "lstm_param_count": "plus 14 of the learnable initial state h_0 and c_0",
                     "lstm_parity": "the learnable h_0 as h(0), the learnable c_0 as c(0)"},
    "mixed_orientation": {"rnn_parity": "weights stored (in, out), W_hx (out, in) as in the equations",
                          "lstm_parity": "W_gx, W_ix, W_fx, W_ox (out, in)"},
    "extra_argument": {"text_model_shapes": "TextGenerationModel requires dropout_keep_prob, given the "
                                            "skeleton train.py's default dropout_keep_prob=1.0"},
}


@pytest.mark.parametrize("style", STYLES)
def test_a_correct_submission_in_each_style_gets_full_marks(style):
    result = grade(FIXTURES / style)
    assert failed(result) == set() and result["total"] == 100, messages(result)
    for name, fragment in STYLES[style].items():
        assert fragment in messages(result)[name]


BUGS = {  # fixture, edits, the checks run, the checks that must fail with a fragment of their messages
    "(B, V, T) by reshape, not permute": (
        "logits_bvt", [("part2/model.py", ".permute(0, 2, 1)", ".reshape(x.shape[0], -1, x.shape[1])")],
        "text_model_shapes", {"text_model_shapes": "moves outputs of earlier steps or of other sequences"}),
    "float64 LSTM without the tanh on c": (
        "float64_params", [("part1/lstm.py", "h = torch.tanh(c) * o", "h = c * o")], "lstm_parity",
        {"lstm_parity": "h(t) = c(t)*o(t), without the tanh"}),
    "W_hh through .data in a tuple output": (
        "tuple_outputs", [("part1/vanilla_rnn.py", "F.linear(h, self.W_hh)", "F.linear(h, self.W_hh.data)")],
        "rnn_gradients,rnn_parity", {"rnn_gradients": "W_hh gets no gradient",
                                     "rnn_parity": "the gradients of W_hh (inf) differ"}),
    "h_init through .data": (
        "learnable_h0", [("part1/vanilla_rnn.py", "self.h_init.expand", "self.h_init.data.expand")],
        "rnn_gradients,rnn_parity,rnn_param_count", {"rnn_gradients": "h_init gets no gradient",
                                                     "rnn_parity": "the gradients of h_init (inf) differ"}),
    "h_0 and c_0 used the other way round": (  # only names: mapped the other way, no cost
        "learnable_h0", [("part1/lstm.py", "h, c = self.h_0, self.c_0", "h, c = self.c_0, self.h_0")],
        "lstm_parity", {}),
    "other names, orientation per matrix": (  # matched by shape: W_hy (H, C) beside W_in (H, D)
        "mixed_orientation", [("part1/vanilla_rnn.py", "self.W_hx = nn", "self.W_in = nn"),
                              ("part1/vanilla_rnn.py", "@ self.W_hx.T", "@ self.W_in.T"),
                              ("part1/vanilla_rnn.py", "self.W_ph = nn", "self.W_hy = nn"),
                              ("part1/vanilla_rnn.py", "self.b_p = nn", "self.b_y = nn"),
                              ("part1/vanilla_rnn.py", "h @ self.W_ph + self.b_p", "h @ self.W_hy + self.b_y")],
        "rnn_parity", {}),
    "a learnt h0 beside parameters matched by shape": (
        "fused_gates", [("part1/vanilla_rnn.py", "self.by = nn.Parameter(torch.zeros(num_classes))",
                         "self.by = nn.Parameter(torch.zeros(num_classes))\n        self.h0 = nn.Parameter(torch.zeros(num_hidden))"),
                        ("part1/vanilla_rnn.py", "h = x.new_zeros(x.size(0), self.hidden)", "h = self.h0.expand(x.size(0), -1)")],
        "rnn_parity,rnn_param_count", {}),
    "the LSTM's readout under other names": (  # the cell named as in the assignment, W_out and b_out by shape
        "mixed_orientation", [("part1/lstm.py", "self.W_ph = nn", "self.W_out = nn"), ("part1/lstm.py", "self.b_p = nn", "self.b_out = nn"),
                              ("part1/lstm.py", "h @ self.W_ph + self.b_p", "h @ self.W_out + self.b_out")],
        "lstm_parity", {}),
    "input and forget gates swapped": (
        "mixed_orientation", [("part1/lstm.py", "c = g * i + c * f", "c = g * f + c * i")], "lstm_parity",
        {"lstm_parity": "they match the equations with the input and forget gates swapped"}),
    "an argument the skeleton has no flag for": (
        "extra_argument", [("part2/model.py", "device, dropout_keep_prob)", "device, keep)"),
                           ("part2/model.py", "1 - dropout_keep_prob", "1 - keep"),
                           ("part1/vanilla_rnn.py", "num_classes, device='cpu'", "num_classes, num_layers, device='cpu'")],
        "text_model_shapes,rnn_builds",
        {"text_model_shapes": "it also requires keep, which the skeleton's constructor does not have",
         "rnn_builds": "it also requires num_layers, which the skeleton's constructor does not have"}),
}
NOTES = {"the LSTM's readout under other names": ("lstm_parity", "W_gx, W_ix, W_fx, W_ox (out, in) as in the "
                                                                "equations; W_out = W_ph, b_out = b_p by shape"),
         "a learnt h0 beside parameters matched by shape": ("rnn_parity", "weights stored (in, out); the learnable h0 as h(0)"),
         "h_0 and c_0 used the other way round": ("lstm_parity", "the learnable c_0 as h(0), the learnable h_0 as c(0)"),
         "other names, orientation per matrix": ("rnn_parity", "W_hy = W_ph, b_y = b_p), weights stored (in, out), "
                                                               "W_in (out, in)")}


@pytest.mark.parametrize("bug", BUGS)
def test_a_bug_in_a_style_costs_exactly_the_checks_it_breaks(tmp_path, bug):
    assert_edit_costs(tmp_path, *BUGS[bug], note=NOTES.get(bug))


class Flagged(torch.nn.Module):
    def __init__(self, seq_length, lstm_num_hidden, dropout_keep_prob, device="cpu"):
        super().__init__()
        self.keep = dropout_keep_prob


def test_a_required_skeleton_flag_gets_its_default_and_an_unknown_one_is_named(monkeypatch):
    monkeypatch.setattr(common, "GIVEN", {})
    model = construct(Flagged, {"seq_length": 5, "lstm_num_hidden": 8}, part="part2")
    assert model.keep == 1.0 and "requires dropout_keep_prob" in common.given_note()
    with pytest.raises(CheckFailed, match="it also requires dropout_keep_prob, which the skeleton's"):
        construct(Flagged, {"seq_length": 5, "lstm_num_hidden": 8})  # a dataset: no flags
    positional = construct(Flagged, {"a": 5, "b": 8}, part="part2")  # other names: by position
    assert positional.keep == 1.0


def test_the_element_shaped_like_logits_is_picked_and_logits_beat_probabilities():
    logits, state = torch.randn(3, 10), torch.randn(3, 7)
    assert pick_output((state, logits), lambda t: t.shape == (3, 10)) is logits
    assert pick_output((logits.softmax(-1), logits), lambda t: t.shape == (3, 10)) is logits
    assert pick_output((state,), lambda t: t.shape == (3, 10)) is state  # for the message's shape


def test_the_sanity_spread_bench_prints_a_range_per_model():
    proc = run_script("bench/bench_grading_sanity.py", FIXTURES / "tuple_outputs", "--kinds", "rnn", "--seeds", "0", "1")
    assert proc.returncode == 0, proc.stderr
    assert "tuple_outputs rnn seed 1: " in proc.stdout and "steps over 2 seeds" in proc.stdout, proc.stdout
