"""The grading kit (grading/, issue 16).

This repository's own modules get full marks; copies of them with planted bugs lose exactly the
checks the bug breaks; a submission in another style passes; hangs, crashes and import errors are
contained in the check they happen in; batch mode writes its CSV and JSONs and resumes.

Planted bugs are graded on the checks of the part they live in: every check imports only the
modules of its own part, so a bug in part 1 cannot change a part-2 check (and it keeps the run short).
"""
from __future__ import annotations

import ast
import csv
import json
import shutil
from pathlib import Path

import pytest

from grading.batch import grade_batch
from grading.checks.source import forbidden_uses
from grading import sandbox
from grading.grade import grade_submission
from grading.registry import CHECKS
from grading.rubric import load_rubric, select_checks
from grading.sandbox import Limits
from tests.conftest import ROOT, assert_one_line_error, run_script

FIXTURES = Path(__file__).with_name("grading_fixtures")
STYLE_B = FIXTURES / "style_b"
RUBRIC = load_rubric()
LIMITS = Limits(timeout=60, memory_gb=3)


def grade(path: Path, only: str = "all", limits: Limits = LIMITS) -> dict:
    return grade_submission(path, select_checks(only), RUBRIC, limits, workers=2)


def failed(result: dict) -> set[str]:
    return {row["name"] for row in result["checks"] if row["status"] != "pass"}


def messages(result: dict) -> dict[str, str]:
    return {row["name"]: row["message"] for row in result["checks"]}


def assert_costs_exactly(result: dict, expected: dict[str, str]) -> None:
    """Exactly the checks named in ``expected`` fail, each with its message fragment."""
    assert failed(result) == set(expected), messages(result)
    for name, fragment in expected.items():
        assert fragment in messages(result)[name]


def copy_repository(tmp_path: Path) -> Path:
    """This repository's skeleton files and the packages they import, as a submission."""
    root = tmp_path / "submission"
    for folder in ("part1", "part2", "common", "assets"):
        shutil.copytree(ROOT / folder, root / folder, ignore=shutil.ignore_patterns("__pycache__", "*.txt"))
    return root


def plant(root: Path, relative: str, old: str, new: str) -> None:
    """Replace ``old`` by ``new``; ``old`` must occur exactly once, so a changed source fails loudly."""
    path = root / relative
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{relative} changed: {old!r} is no longer there once; pick another anchor"
    path.write_text(text.replace(old, new), encoding="utf-8")


def assert_edit_costs(tmp_path: Path, fixture: str, edits, only: str, expected: dict[str, str],
                      note: tuple[str, str] | None = None) -> None:
    """A copy of ``fixture`` with ``edits`` planted costs exactly ``expected``; ``note``: (check,
    fragment) the report must say of it."""
    root = tmp_path / "submission"
    shutil.copytree(FIXTURES / fixture, root)
    for edit in edits:
        plant(root, *edit)
    result = grade(root, only=only)
    assert_costs_exactly(result, expected)
    if note:
        name, fragment = note
        assert fragment in messages(result)[name]


LINEAR_READOUT = [
    ("part1/vanilla_rnn.py", "self.W_ph = nn.Parameter(torch.empty(K, n, device=device).uniform_(-bound, bound))",
     "self.readout = nn.Linear(n, K, device=device)\n        self.W_ph = self.readout.weight"),
    ("part1/vanilla_rnn.py", "self.b_p = nn.Parameter(torch.zeros(K, device=device))", "self.b_p = self.readout.bias"),
    ("part1/vanilla_rnn.py", "p = h @ self.W_ph.T + self.b_p", "p = self.readout(h)"),
]
BUGS = {  # edits, the part graded, the checks that must fail with a fragment of their messages
    "sigmoid candidate": ([("part1/lstm.py", "g = torch.tanh(x_t @ self.W_gx.T", "g = torch.sigmoid(x_t @ self.W_gx.T")],
                          "part1", {"lstm_parity": "a sigmoid instead of tanh for the candidate g(t)"}),
    "no forget gate": ([("part1/lstm.py", "c = g * i + c * f", "c = g * i + c")], "part1",
                       {"lstm_parity": "no forget gate", "lstm_gradients": "W_fx gets no gradient"}),
    "nn.Linear in the RNN": (LINEAR_READOUT, "part1", {"rnn_no_builtin": "the model contains Linear (readout)"}),
    "unsorted vocabulary": ([("part2/dataset.py", "self.chars = sorted(set(text))", "self.chars = list(set(text))")],
                            "part2", {"text_vocab_stable": "sorted(set(text))"}),
    "targets not shifted": ([("part2/dataset.py", "return window[:-1], window[1:]", "return window[:-1], window[:-1]")],
                            "part2", {"text_targets_shifted": "equal its inputs"}),
}


def test_this_repository_gets_full_marks():
    result = grade(ROOT)
    assert failed(result) == set(), json.dumps(result["checks"], indent=1)
    assert (result["total"], result["max"]) == (100, 100)
    for parity in ("rnn_parity", "lstm_parity"):  # compared with nn.RNN / nn.LSTM, not skipped
        assert "weights stored (out, in)" in messages(result)[parity]


@pytest.mark.parametrize("bug", BUGS)
def test_a_planted_bug_costs_exactly_the_checks_it_breaks(tmp_path, bug):
    edits, part, expected = BUGS[bug]
    root = copy_repository(tmp_path)
    for edit in edits:
        plant(root, *edit)
    result = grade(root, only=part)
    assert_costs_exactly(result, expected)


def test_a_submission_in_another_style_gets_full_marks():
    result = grade(STYLE_B)
    assert failed(result) == set(), messages(result)
    found = messages(result)
    assert found["rnn_shapes"] == "output (B, 10) for (B, T) digits with input_dim=1, and for a batch of one"
    assert "weights stored (in, out)" in found["rnn_parity"] and "(in, out)" in found["lstm_parity"]
    assert "palindromes of seq_length + 1 digits" in found["palindromes"]
    assert "time-major (T, B, V)" in found["text_model_shapes"]


# Other correct styles (each fixture's README.md says what it holds), with what the report must say.
STYLES = {
    # unscaled torch.randn: the slowest correct sanity run (its step count varies with the CPU's kernels)
    "classic_2019": {"rnn_sanity_t5": "input (B, T, 1) digits with input_dim=1, T=5",
                     "text_model_shapes": "time-major (T, B) indices -> logits time-major (T, B, V)"},
    "fused_gates": {"rnn_parity": "parameters matched by shape (Wx = the input weights",
                    "lstm_parity": "W = the weights on [x, h], b = the gate bias, W_out = W_ph, b_out = b_p; "
                                   "gates in the order g, i, f, o"},
    "onehot_timemajor": {"rnn_shapes": "output (B, 10) for time-major one-hot (T, B, 10) with input_dim=10",
                         "lstm_parity": "Wx[0..3] = the input weights",
                         "text_model_shapes": "input one-hot (B, T, V) -> logits (B, T, V)"},
}


@pytest.mark.parametrize("style", STYLES)
def test_submissions_in_other_styles_get_full_marks(style):
    result = grade(FIXTURES / style)
    assert failed(result) == set() and result["total"] == 100, messages(result)
    for name, fragment in STYLES[style].items():
        assert fragment in messages(result)[name]


RNN_B_P = "        self.b_p = nn.Parameter(torch.zeros(num_classes))\n"
FIXTURE_BUGS = {  # fixture, edits, the checks run, the checks that must fail with a fragment of their messages
    "fused sigmoid candidate": (
        "fused_gates", [("part1/lstm.py", "torch.tanh(g), torch.sigmoid(i)", "torch.sigmoid(g), torch.sigmoid(i)")],
        "lstm_parity", {"lstm_parity": "a sigmoid instead of tanh for the candidate g(t)"}),
    "p from the first step": (
        "fused_gates", [("part1/vanilla_rnn.py", "range(x.size(1))", "range(1)")], "rnn_parity,rnn_gradients",
        {"rnn_parity": "p computed from h(1), the first step", "rnn_gradients": "Wh's gradient is exactly zero"}),
    "no output gate": (
        "classic_2019", [("part1/lstm.py", "h = torch.tanh(c) * o", "h = torch.tanh(c)")], "lstm_parity,lstm_gradients",
        {"lstm_parity": "no output gate: h(t) = tanh(c(t))", "lstm_gradients": "W_ox gets no gradient"}),
    "b_p missing": (  # a forgotten parameter fails the comparison instead of skipping it
        "classic_2019", [("part1/vanilla_rnn.py", RNN_B_P, ""), ("part1/vanilla_rnn.py", " + self.b_p", "")],
        "rnn_parity,rnn_param_count", {"rnn_parity": "no parameter named b_p", "rnn_param_count": "133 parameters"}),
    "log-probabilities": (  # fine with nn.NLLLoss: passes, with a note
        "classic_2019", [("part1/vanilla_rnn.py", "        return p\n", "        return p.log_softmax(1)\n")],
        "rnn_parity", {}),
    "W_hh used the other way round": (  # h @ W_hh with W_hx (out, in): another storage of a square matrix
        "classic_2019", [("part1/vanilla_rnn.py", "h @ self.W_hh.t()", "h @ self.W_hh")], "rnn_parity", {}),
    "x.squeeze() in the RNN": (
        "classic_2019", [("part1/vanilla_rnn.py", "        h = torch.zeros(x.size(0)", "        x = x.squeeze()\n"
                          "        h = torch.zeros(x.size(0)")],
        "rnn_shapes", {"rnn_shapes": "but a batch of one sequence fails"}),
    "flattened logits": (  # (T*B, V) for the loss: fine
        "fused_gates", [("part2/model.py", "return self.head(out)", "return self.head(out).flatten(0, 1)")],
        "text_model_shapes", {}),
    "dropout left on in eval mode": (  # not what these checks are about: the causality test is not fooled
        "fused_gates", [("part2/model.py", "self.head(out)", "self.head(nn.functional.dropout(out, 0.3))")],
        "text_model_shapes", {}),
    "convert_to_string written for tensors": (  # ix.item(): the grader passes a tensor when a list fails
        "onehot_timemajor", [("part2/dataset.py", "self._ix_to_char[int(ix)]", "self._ix_to_char[ix.item()]")],
        "text_roundtrip,text_vocab_stable", {}),
    "a batch of one crashes": (
        "onehot_timemajor", [("part2/model.py", "self.lstm(x)", "self.lstm(x.squeeze())")], "text_model_shapes",
        {"text_model_shapes": "a batch of one sequence, as sampling feeds, fails"}),
}
FIXTURE_NOTES = {  # what the report says of the edits that cost nothing
    "log-probabilities": ("rnn_parity", "the outputs are log-probabilities"),
    "W_hh used the other way round": ("rnn_parity", "(out, in) as in the equations, the square ones (in, out)"),
    "flattened logits": ("text_model_shapes", "logits time-major (T*B, V), flattened"),
}


@pytest.mark.parametrize("bug", FIXTURE_BUGS)
def test_an_edit_of_another_style_costs_exactly_the_checks_it_breaks(tmp_path, bug):
    assert_edit_costs(tmp_path, *FIXTURE_BUGS[bug], note=FIXTURE_NOTES.get(bug))


CRASHES = {  # a first statement for the RNN's forward, and what the report must say
    "hang": ("while True: pass", ["stopped after 3 s", "at part1/vanilla_rnn.py:19 in forward"]),
    "sys.exit": ("sys.exit(3)", ["the code called sys.exit(3) at part1/vanilla_rnn.py:19 in forward"]),
    # the builtin exit() raises from <frozen _sitebuiltins>, which is not the student's file
    "exit()": ("exit()", ["the code called sys.exit(None) at part1/vanilla_rnn.py:19 in forward"]),
    "os._exit": ("os._exit(0)", ["exited with code 0 before the check finished"]),
    "segfault": ("os.kill(os.getpid(), signal.SIGSEGV)", ["crashed with SIGSEGV at part1/vanilla_rnn.py:19"]),
    "memory": ("torch.ones(2**31)", ["can't allocate memory", "the memory limit per check was reached"]),
}


def rnn_with_first_statement(tmp_path, imports: str, statement: str) -> Path:
    """A copy of the style-B submission whose RNN forward starts with ``statement`` (on line 19)."""
    root = tmp_path / "submission"
    shutil.copytree(STYLE_B, root)
    plant(root, "part1/vanilla_rnn.py", "import torch\n", f"{imports}\nimport torch\n")
    first = "        x = x.t().unsqueeze(-1)"  # the statement lands on line 19, after the added import
    plant(root, "part1/vanilla_rnn.py", first, f"        {statement}\n{first}")
    return root


@pytest.mark.parametrize("crash", CRASHES)
def test_a_hang_or_a_crash_costs_only_its_check(tmp_path, crash):
    statement, fragments = CRASHES[crash]
    root = rnn_with_first_statement(tmp_path, "import os, signal, sys", statement)
    result = grade(root, only="rnn_shapes,palindromes", limits=Limits(timeout=3, memory_gb=3))
    assert failed(result) == {"rnn_shapes"}
    for fragment in fragments:
        assert fragment in messages(result)["rnn_shapes"]


RUNAWAYS = {  # a first statement for the RNN's forward that never ends, and what the report must say
    # an endless loop grows memory (here 1 MB a millisecond): stopped before RLIMIT_AS aborts it blindly
    "memory": ("grow = [torch.ones(2**18) for _ in iter(int, 1) if not time.sleep(0.001)]",
               "stopped at 90% of the memory limit per check (2 GB of address space) at part1/vanilla_rnn.py:19"),
    "prints": ("grow = [print('x' * 1000) for _ in iter(int, 1)]",
               "stopped after printing more than 1 MB at part1/vanilla_rnn.py:19"),
}


@pytest.mark.parametrize("runaway", RUNAWAYS)
def test_runaway_memory_or_output_is_stopped_at_the_students_line(tmp_path, monkeypatch, runaway):
    statement, fragment = RUNAWAYS[runaway]
    monkeypatch.setattr(sandbox, "MAX_LOG_BYTES", 2**20)  # the parent watches the log
    root = rnn_with_first_statement(tmp_path, "import time", statement)
    result = grade(root, only="rnn_shapes", limits=Limits(timeout=30, memory_gb=2))
    assert failed(result) == {"rnn_shapes"}
    assert fragment in messages(result)["rnn_shapes"]


def test_a_module_that_does_not_import_costs_only_the_checks_that_need_it(tmp_path):
    root = copy_repository(tmp_path)
    plant(root, "part1/lstm.py", "import torch\n", "import torch\nimport a_package_that_is_not_installed\n")
    result = grade(root, only="part1")
    assert failed(result) == {c.name for c in CHECKS if c.name.startswith("lstm_")}
    for name in failed(result):
        assert messages(result)[name].startswith("cannot import part1/lstm.py: ModuleNotFoundError")
    assert result["total"] == 35  # palindromes and the RNN


def test_batch_mode_writes_a_csv_and_a_json_per_submission_and_resumes(tmp_path):
    batch, out = tmp_path / "submissions", tmp_path / "out"
    shutil.copytree(STYLE_B, batch / "alice")
    (batch / "bob").mkdir()  # handed in nothing: nothing earns points
    checks = select_checks("palindromes,rnn_builds,text_targets_shifted")
    results, finished = grade_batch(batch, out, checks, RUBRIC, LIMITS, workers=2, quiet=True)
    assert finished == 0
    with open(out / "grades.csv", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["submission"], r["palindromes"], r["total"], r["max"]) for r in rows] == \
        [("alice", "5", "13", "13"), ("bob", "0", "0", "13")]
    bob = json.loads((out / "bob.json").read_text(encoding="utf-8"))
    assert all(row["status"] == "fail" and "not found" in row["message"] for row in bob["checks"])

    _, finished = grade_batch(batch, out, checks, {**RUBRIC, "palindromes": 10}, LIMITS, quiet=True)
    assert finished == 2  # nothing run again, only re-scored with the new rubric
    assert json.loads((out / "alice.json").read_text(encoding="utf-8"))["total"] == 18
    shutil.copytree(STYLE_B / "part1", batch / "bob" / "part1")
    results, finished = grade_batch(batch, out, checks, RUBRIC, LIMITS, quiet=True)
    assert finished == 1 and results[1]["total"] == 7  # bob changed: graded again
    _, finished = grade_batch(batch, out, checks, RUBRIC, LIMITS, force=True, quiet=True)
    assert finished == 0


def test_the_command_line_prints_a_report_and_writes_json(tmp_path):
    proc = run_script("-m", "grading", STYLE_B, "--only", "palindromes", "--json", tmp_path / "r.json", "--quiet")
    assert proc.returncode == 0, proc.stderr
    assert "PASS    5/5  palindromes" in proc.stdout and "Total: 5 / 5 (100.0%)" in proc.stdout
    assert json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))["total"] == 5


@pytest.mark.parametrize("args, fragment", [
    (["no/such/folder"], "does not exist"),
    ([".", "--only", "nonsense"], "'nonsense' matches no check"),
    ([".", "--rubric", "grading_fixtures_rubric.toml"], "does not exist"),
    ([], "either a SUBMISSION folder or --batch"),
    ([".", "--timeout", "0"], "must be a positive number"),
])
def test_user_mistakes_are_one_line_errors(args, fragment):
    assert_one_line_error(run_script("-m", "grading", *args), fragment)


def test_a_rubric_with_an_unknown_check_is_one_line_error(tmp_path):
    rubric = tmp_path / "rubric.toml"
    rubric.write_text((ROOT / "grading/rubric.toml").read_text(encoding="utf-8") + "rnn_speed = 3\n", encoding="utf-8")
    assert_one_line_error(run_script("-m", "grading", ".", "--rubric", rubric), "unknown checks: rnn_speed")


def test_help_shows_every_default():
    proc = run_script("-m", "grading", "--help")
    assert proc.returncode == 0
    shown = " ".join(proc.stdout.split())
    for default in ("120.0", "3.0", "1", "results/grading", "all", "grading/rubric.toml"):
        assert f"{default})" in shown


def test_the_default_rubric_gives_100_points_for_every_check():
    assert list(RUBRIC) == [c.name for c in CHECKS] and sum(RUBRIC.values()) == 100


@pytest.mark.parametrize("source, expected", [
    ("import torch\nx = torch.nn.LSTM(1, 2)", [(2, "torch.nn.LSTM")]),
    ("from torch import nn as tnn\nx = tnn.modules.rnn.RNN(1, 2)", [(2, "tnn.modules.rnn.RNN")]),
    ("from torch.nn import Linear as L\nx = L(1, 2)", [(2, "L")]),
    ("from torch.nn import *\nx = GRUCell(1, 2)", [(2, "GRUCell")]),
    ("import torch\nh = torch.lstm_cell(x, hx, w, w)", [(2, "torch.lstm_cell")]),
    ("import torch\nh = torch._VF.rnn_tanh(x)", [(2, "torch._VF.rnn_tanh")]),
    ("import torch.nn.functional as F\ny = F.linear(x, W, b)", []),  # allowed: one affine map
    ('"""Not nn.LSTM, not nn.Linear."""\n# nn.RNN would be easier\nimport torch\nh = torch.tanh(x)', []),
    ("from torch import nn\nnn.init.orthogonal_(W)", []),
])
def test_the_source_scan_resolves_aliases_and_ignores_comments(source, expected):
    assert forbidden_uses(ast.parse(source)) == expected
