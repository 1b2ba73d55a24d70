"""The grading kit on Gradescope (grading/gradescope.py), simulated in a temporary folder that stands
for /autograder, and the student's own scripts run (grading/deliverables.py)."""
from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from grading import deliverables, gradescope
from grading.rubric import VISIBILITIES
from grading.sandbox import Limits
from tests.conftest import ROOT, run_script

STYLE_B = Path(__file__).with_name("grading_fixtures") / "style_b"
CHEAP = "palindromes,rnn_builds,rnn_parity,text_targets_shifted"
TEST_KEYS = {"name", "number", "score", "max_score", "output", "visibility"}


def bundle(tmp_path: Path, rubric: Path = ROOT / "grading/rubric.toml") -> Path:
    """The autograder written by the command line and unpacked as Gradescope does: the zip's files in
    ROOT/source, run_autograder beside it, the student's upload in ROOT/submission."""
    out = tmp_path / "bundle"
    proc = run_script("-m", "grading", "--gradescope_bundle", out, "--rubric", rubric)
    assert proc.returncode == 0, proc.stderr
    root = tmp_path / "autograder"
    with zipfile.ZipFile(out / "autograder.zip") as zipped:
        zipped.extractall(root / "source")
        modes = {info.filename: info.external_attr >> 16 for info in zipped.infolist()}
    assert modes["setup.sh"] & stat.S_IXUSR and modes["run_autograder"] & stat.S_IXUSR
    shutil.copy(root / "source/run_autograder", root / "run_autograder")
    (root / "run_autograder").chmod(0o755)
    (root / "submission").mkdir()
    return root


def run_autograder(root: Path, only: str = CHEAP) -> dict:
    env = {**os.environ, "GRADESCOPE_ROOT": str(root), "GRADING_ONLY": only}
    proc = subprocess.run(["bash", str(root / "run_autograder")], capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr
    return json.loads((root / "results/results.json").read_text(encoding="utf-8"))


def assert_gradescope_schema(results: dict) -> None:
    assert isinstance(results["score"], (int, float)) and isinstance(results["execution_time"], int)
    assert isinstance(results["output"], str) and results["visibility"] in VISIBILITIES
    for test in results["tests"]:
        assert TEST_KEYS <= set(test) and set(test) <= TEST_KEYS | {"status"}, test
        assert isinstance(test["number"], str) and test["visibility"] in VISIBILITIES
        assert 0 <= test["score"] <= test["max_score"] or test["max_score"] == 0
        assert test.get("status", "passed") in ("passed", "failed")


def test_the_bundle_holds_setup_run_autograder_the_kit_and_the_rubric(tmp_path):
    root = bundle(tmp_path)
    source = root / "source"
    for name in ("setup.sh", "run_autograder", "rubric.toml", "requirements.txt", "grading/gradescope.py",
                 "grading/checks/parity.py", "grading/skeleton_lines.txt"):
        assert (source / name).is_file(), name
    assert not list(source.rglob("__pycache__"))
    assert "torch==" in (source / "requirements.txt").read_text(encoding="utf-8")
    assert "/autograder/venv/bin/pip install" in (source / "setup.sh").read_text(encoding="utf-8")


def test_a_simulated_gradescope_run_writes_results_in_its_schema(tmp_path):
    rubric = tmp_path / "rubric.toml"
    text = (ROOT / "grading/rubric.toml").read_text(encoding="utf-8")
    rubric.write_text(text.replace('default = "visible"\n', 'default = "visible"\n"rnn_*" = "after_due_date"\n'),
                      encoding="utf-8")
    root = bundle(tmp_path, rubric)
    with zipfile.ZipFile(root / "submission/lastname_assignment2.zip", "w") as zipped:  # uploaded as a zip
        for path in sorted(STYLE_B.rglob("*.py")):
            zipped.write(path, f"lastname_assignment_2/{path.relative_to(STYLE_B)}")
    results = run_autograder(root)
    assert_gradescope_schema(results)
    tests = {t["name"].split(":")[0]: t for t in results["tests"]}
    assert list(tests) == [*CHEAP.split(","), "run_part1_train", "run_grads_over_time", "run_part2_train"]
    assert [tests[n]["number"] for n in CHEAP.split(",")] == ["1.2.1", "1.2.2", "1.2.3", "2.1a.1"]
    assert all(tests[n]["status"] == "passed" for n in CHEAP.split(","))
    assert tests["rnn_parity"]["visibility"] == "after_due_date" and tests["palindromes"]["visibility"] == "visible"
    # the question's code share (7 of 1.2) split by the checks' rubric points (5, 2, 10)
    assert tests["rnn_parity"]["max_score"] == pytest.approx(7 * 10 / 17, abs=1e-3)
    assert results["score"] == pytest.approx(sum(t["score"] for t in results["tests"]), abs=0.01)
    assert tests["run_part1_train"]["status"] == "failed" and "not found" in tests["run_part1_train"]["output"]
    assert tests["run_part1_train"]["max_score"] == 0
    assert "peak memory" in results["output"] and "Missing from the deliverables" in results["output"]
    assert "graded lastname_assignment2/lastname_assignment_2/" in results["output"]


def test_a_crash_of_the_kit_still_writes_a_results_file(tmp_path, monkeypatch):
    root = tmp_path / "autograder"
    (root / "submission").mkdir(parents=True)

    def crash(*args, **kwargs):
        raise RuntimeError("a bug in the kit")
    monkeypatch.setattr(gradescope, "grade_submission", crash)
    results = gradescope.run(root, ROOT / "grading/rubric.toml", scripts=False)
    assert results == json.loads((root / "results/results.json").read_text(encoding="utf-8"))
    assert results["score"] == 0 and results["tests"] == []
    assert "could not grade this submission: RuntimeError: a bug in the kit (grading kit, " in results["output"]
    monkeypatch.undo()
    results = gradescope.run(root, ROOT / "grading/rubric.toml", only="nonsense")
    assert "'nonsense' matches no check" in results["output"]


def test_a_submission_that_hangs_everywhere_still_gets_results_within_the_budget(tmp_path, monkeypatch):
    root = tmp_path / "autograder"
    shutil.copytree(STYLE_B, root / "submission")
    path = root / "submission/part1/vanilla_rnn.py"
    first = "        x = x.t().unsqueeze(-1)"
    assert path.read_text(encoding="utf-8").count(first) == 1
    path.write_text(path.read_text(encoding="utf-8").replace(first, f"        while True: pass\n{first}"), encoding="utf-8")
    monkeypatch.setattr(gradescope, "BUDGET_SECONDS", 4)
    monkeypatch.setattr(gradescope, "MIN_CHECK_SECONDS", 1)
    results = gradescope.run(root, ROOT / "grading/rubric.toml", only="rnn_shapes,rnn_gradients")
    outputs = [t["output"] for t in results["tests"]]
    assert outputs[0].startswith("stopped after") and "at part1/vanilla_rnn.py" in outputs[0]
    assert outputs[1:] == ["not run: the autograder's 4 s were used up"] * 4  # a check and the three scripts


def test_a_kit_that_cannot_start_leaves_a_results_file_from_the_script(tmp_path):
    root = bundle(tmp_path)
    shutil.rmtree(root / "source/grading")  # python -m grading.gradescope cannot even be imported
    results = run_autograder(root)
    assert results["score"] == 0 and "failed to start" in results["output"]


def test_peak_memory_sums_the_process_tree():
    with gradescope.PeakMemory(every=0.02) as memory:
        subprocess.run([sys.executable, "-c", "import time; x = bytearray(60 * 2**20); time.sleep(0.5)"], check=True)
    assert memory.peak > 60 * 2**20 and memory.processes["checks"] >= 2


# --- the student's scripts --------------------------------------------------------------------------

PART1_TRAIN = '''import argparse, importlib.util
parser = argparse.ArgumentParser()
for flag in ("--model_type", "--input_length", "--batch_size", "--train_steps", "--device"):
    parser.add_argument(flag)
config = parser.parse_args()
assert config.device == "cpu" and int(config.train_steps) <= 50, config
assert "class VanillaRNN" in open(importlib.util.find_spec("part1.vanilla_rnn").origin).read()  # skeleton imports work
model, optimizer = None, None
for step in range(3):
    torch.nn.utils.clip_grad_norm(model.parameters(), 10) if False else None
    loss.backward() if False else None
print("Done training.")
'''
PART2_TRAIN = '''import argparse
parser = argparse.ArgumentParser()
parser.add_argument("--txt_file", required=True)
config, _ = parser.parse_known_args()
text = open(config.txt_file, encoding="utf-8").read()
raise ValueError(f"read {len(text)} characters, then failed")
'''


def scripted_submission(tmp_path: Path) -> Path:
    root = tmp_path / "submission"
    shutil.copytree(STYLE_B, root)
    (root / "part1/train.py").write_text(PART1_TRAIN, encoding="utf-8")
    (root / "part1/grads_over_time.py").write_text("import time\nwhile True:\n    time.sleep(0.1)\n", encoding="utf-8")
    (root / "part2/train.py").write_text(PART2_TRAIN, encoding="utf-8")
    return root


def test_the_students_scripts_run_with_the_skeletons_flags_and_limits(tmp_path, monkeypatch):
    root = scripted_submission(tmp_path)
    title, script, runs, _ = deliverables.SCRIPTS["run_grads_over_time"]
    monkeypatch.setitem(deliverables.SCRIPTS, "run_grads_over_time", (title, script, runs, 2))
    rows = {row["name"]: row for row in (deliverables.run_one(root, name, Limits()) for name in deliverables.SCRIPTS)}
    train = rows["run_part1_train"]
    assert train["status"] == "pass", train["message"]
    assert "--model_type RNN --input_length 5" in train["message"] and "--model_type LSTM" in train["message"]
    assert "clip_grad_norm comes before backward() (line 11)" in train["message"]
    assert "no zero_grad()" in train["message"]
    assert rows["run_grads_over_time"]["status"] == "fail"
    assert "still running after 2 s" in rows["run_grads_over_time"]["message"]
    part2 = rows["run_part2_train"]
    assert part2["status"] == "fail"
    assert "exit code 1: ValueError: read 4078 characters, then failed" in part2["message"]
    assert not list(root.rglob("summaries"))  # the runs work in copies


@pytest.mark.parametrize("source, notes", [
    ("loss.backward()\nclip_grad_norm_(p, 1)\noptimizer.step()\noptimizer.zero_grad()\n", []),
    ("def train():\n    clip_grad_norm_(p, 1)\n    loss.backward()\n", ["clip_grad_norm_ comes before backward()",
                                                                      "no zero_grad()"]),
    ("model.zero_grad()\nloss.backward()\n", []),
])
def test_static_notes_on_the_training_loop(tmp_path, source, notes):
    (tmp_path / "part1").mkdir()
    (tmp_path / "part1/train.py").write_text(source, encoding="utf-8")
    found = deliverables.static_notes(tmp_path, "part1/train.py")
    assert len(found) == len(notes) and all(n in f for n, f in zip(notes, found)), found
