"""Gradescope: write an autograder bundle, and run the kit inside it.

``python -m grading --gradescope_bundle OUT`` writes ``OUT/`` (and ``OUT/autograder.zip`` to upload):
``setup.sh`` (installs torch, NumPy and tqdm in a virtual environment), ``run_autograder``, the kit
(``grading/``), ``rubric.toml`` (points, questions and per-check visibility; edit it before
uploading) and ``requirements.txt``. Gradescope unpacks the zip into ``/autograder/source`` and runs
``run_autograder``, which calls ``python -m grading.gradescope``: it grades ``/autograder/submission``
and writes ``/autograder/results/results.json`` in Gradescope's format: a test per check (its
question number, its points on the assignment's scale, its message), a test per student script run
(0 points), and the score, the time taken and the peak memory. Whatever goes wrong, a results file
saying so is written. ``GRADESCOPE_ROOT`` replaces ``/autograder`` (tests simulate it in a folder).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import threading
import time
import traceback
import zipfile
from importlib import metadata
from pathlib import Path

from grading import GradingError, deliverables, sandbox
from grading.grade import find_root, grade_submission, readable, score
from grading.intake import open_folder
from grading.official import check_points, official
from grading.report import atomic_write
from grading.rubric import load_questions, load_rubric, load_visibility, select_checks

PACKAGE = Path(__file__).resolve().parent
BUNDLED = ("setup.sh", "run_autograder", "rubric.toml", "requirements.txt")
WORKERS = 1  # one check process at a time: Gradescope's default container has 768 MB
BUDGET_SECONDS = 540  # of Gradescope's default 600 s, with time left to write the results
MIN_CHECK_SECONDS = 10
SETUP = """#!/usr/bin/env bash
# Gradescope runs this once, when it builds the autograder's image. The kit needs Python >= 3.11
# (choose an Ubuntu 24.04 base image); torch, NumPy and tqdm go into a virtual environment.
set -euo pipefail
apt-get update -q && apt-get install -y -q python3 python3-venv python3-pip
python3 -c 'import sys; assert sys.version_info >= (3, 11), "the grading kit needs Python 3.11 or newer"'
python3 -m venv /autograder/venv
/autograder/venv/bin/pip install -q -r /autograder/source/requirements.txt
"""
RUN = """#!/usr/bin/env bash
# Gradescope runs this for every submission; the kit writes results/results.json. Should the kit
# itself fail to start, a results file still says so.
ROOT="${GRADESCOPE_ROOT:-/autograder}"
PY="$ROOT/venv/bin/python"; [ -x "$PY" ] || PY=python3
mkdir -p "$ROOT/results"
cd "$ROOT/source" && "$PY" -m grading.gradescope --root "$ROOT" --rubric "$ROOT/source/rubric.toml" \
  --only "${GRADING_ONLY:-all}"
code=$?
if [ ! -s "$ROOT/results/results.json" ]; then
  printf '{"score": 0, "output": "The autograder failed to start (exit code %s); nothing was graded. Please tell the course staff.", "tests": []}\\n' "$code" > "$ROOT/results/results.json"
fi
"""


def write_bundle(out: Path, rubric: Path) -> str:
    """The autograder folder and its zip; returns what to tell the user."""
    load_rubric(rubric), load_questions(rubric), load_visibility(rubric)  # a bad rubric fails here, not on Gradescope
    out.mkdir(parents=True, exist_ok=True)
    kit = out / "grading"
    if kit.exists():
        shutil.rmtree(kit)
    shutil.copytree(PACKAGE, kit, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "README.md"))
    shutil.copyfile(rubric, out / "rubric.toml")
    versions = []
    for package in ("torch", "numpy", "tqdm"):
        try:
            versions.append(f"{package}=={metadata.version(package).split('+')[0]}")
        except metadata.PackageNotFoundError:
            versions.append(package)
    (out / "requirements.txt").write_text("\n".join(versions) + "\n", encoding="utf-8")
    for name, text in (("setup.sh", SETUP), ("run_autograder", RUN)):
        (out / name).write_text(text, encoding="utf-8")
        (out / name).chmod(0o755)
    archive = out / "autograder.zip"
    with zipfile.ZipFile(archive.with_suffix(".tmp"), "w", zipfile.ZIP_DEFLATED) as zipped:
        files = [out / name for name in BUNDLED] + sorted(p for p in kit.rglob("*") if p.is_file())
        for path in files:  # ZipInfo.from_file keeps the executable bits of the two scripts
            zipped.writestr(zipfile.ZipInfo.from_file(path, str(path.relative_to(out))), path.read_bytes(),
                            zipfile.ZIP_DEFLATED)
    os.replace(archive.with_suffix(".tmp"), archive)
    return f"wrote the Gradescope autograder to {out}/; upload {archive} (setup.sh, run_autograder, grading/, rubric.toml)"


# --- inside Gradescope -----------------------------------------------------------------------------

class PeakMemory:
    """The peak of the resident memory summed over this process and all its descendants (shared
    pages counted in each, so an upper bound), per phase, sampled every ``every`` seconds (Linux)."""

    def __init__(self, every: float = 0.1) -> None:
        self.phase, self.peaks, self.processes = "checks", {}, {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(every,), daemon=True)

    @property
    def peak(self) -> int:
        return max(self.peaks.values(), default=0)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self, every: float) -> None:
        while not self._stop.wait(every):
            sizes, phase = tree_rss(os.getpid()), self.phase
            if sum(sizes) > self.peaks.get(phase, 0):
                self.peaks[phase], self.processes[phase] = sum(sizes), len(sizes)

    def describe(self) -> str:
        return ", ".join(f"{self.peaks[p] / 2**20:.0f} MB in {self.processes[p]} processes ({p})" for p in self.peaks)


def tree_rss(root: int) -> list[int]:
    """The resident bytes of ``root`` and of every process below it."""
    parents, rss = {}, {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/status", encoding="ascii", errors="replace") as status:
                fields = dict(line.split(":", 1) for line in status if ":" in line)
            parents[int(entry)] = int(fields["PPid"])
            rss[int(entry)] = int(fields.get("VmRSS", "0 kB").split()[0]) * 1024
        except (OSError, KeyError, ValueError):
            continue
    inside, changed = {root}, True
    while changed:
        grown = inside | {pid for pid, parent in parents.items() if parent in inside}
        changed, inside = grown != inside, grown
    return [rss.get(pid, 0) for pid in inside]


def results_json(result: dict, questions, visibility: dict[str, str], seconds: float, memory: PeakMemory) -> dict:
    """Gradescope's results format from the kit's result."""
    scaled = check_points(result, questions)
    owner = {name: q.key for q in questions for name in q.checks}
    tests, counter = [], {}
    for row in result["checks"]:
        key = owner.get(row["name"], "-")
        counter[key] = counter.get(key, 0) + 1
        earned, most = scaled.get(row["name"], (0.0, 0.0))
        test = {"name": f"{row['name']}: {row['title']}", "number": f"{key}.{counter[key]}",
                "score": round(earned, 3), "max_score": round(most, 3), "output": row["message"],
                "visibility": visibility.get(row["name"], "visible")}
        if row["status"] != "skip":  # a skipped check has neither status nor points
            test["status"] = "passed" if row["status"] == "pass" else "failed"
        tests.append(test)
    for number, row in enumerate(result.get("deliverables", []), 1):
        tests.append({"name": f"{row['name']}: {row['title']} (not scored)", "number": f"run.{number}",
                      "score": 0, "max_score": 0, "status": "passed" if row["status"] == "pass" else "failed",
                      "output": row["message"], "visibility": "visible"})
    sheet = official(result, questions)
    lines = [f"Code share of the assignment's points: {sheet['code']:g} of {sheet['code_max']:g}; the written "
             f"answers are marked by the TAs."]
    if result.get("note"):
        lines.append(f"Note: {result['note']}")
    if result.get("missing"):
        lines.append("Missing from the deliverables: " + ", ".join(result["missing"]))
    lines.append(f"Graded in {seconds:.0f} s; peak memory {memory.peak / 2**20:.0f} MB, resident and summed over the "
                 f"kit's processes: {memory.describe()}; torch {result['versions'].get('torch')}, NumPy "
                 f"{result['versions'].get('numpy')}, Python {result['versions'].get('python')}.")
    return {"score": sheet["code"], "execution_time": round(seconds), "output": "\n".join(lines),
            "visibility": "visible", "stdout_visibility": "hidden", "tests": tests}


def failure_json(message: str, seconds: float) -> dict:
    return {"score": 0, "execution_time": round(seconds), "visibility": "visible", "stdout_visibility": "hidden",
            "output": f"The autograder could not grade this submission: {message}. Please tell the course staff.",
            "tests": []}


def _grade_within(submission: Path, checks: list, points: dict, deadline: float) -> dict:
    """The checks one at a time, each with at most the time left before ``deadline``: a submission
    that hangs in every check still gets its results file before Gradescope stops the run."""
    result, rows = None, []
    for check in checks:
        left = deadline - time.monotonic()
        if left < MIN_CHECK_SECONDS:
            rows.append({"name": check.name, "part": check.part, "title": check.title, "status": "fail",
                         "message": f"not run: the autograder's {BUDGET_SECONDS} s were used up", "seconds": 0.0})
            continue
        limits = sandbox.Limits(timeout=min(sandbox.Limits.timeout, left))
        result = grade_submission(submission, [check], points, limits, WORKERS)
        rows += result["checks"]
    result = result or grade_submission(submission, [], points, sandbox.Limits(), WORKERS)
    result["checks"] = rows
    return score(result, points)


def _scripts_within(submission: Path, deadline: float) -> list[dict]:
    """The student's scripts, each only when its worst case fits before ``deadline``."""
    rows = []
    with readable(find_root(submission)[0]) as (found, _):
        for name, (title, script, runs, seconds) in deliverables.SCRIPTS.items():
            if deadline - time.monotonic() < seconds * len(runs) + MIN_CHECK_SECONDS:
                rows.append({"name": name, "part": script.split("/")[0], "title": title, "status": "fail",
                             "message": f"not run: the autograder's {BUDGET_SECONDS} s were used up", "seconds": 0.0})
            else:
                rows.append(deliverables.run_one(found, name, sandbox.Limits()))
    return rows


def run(root: Path, rubric: Path, scripts: bool = True, only: str = "all") -> dict:
    """Grade ``root/submission`` and write ``root/results/results.json``; never raises."""
    start, out = time.monotonic(), root / "results" / "results.json"
    deadline = start + BUDGET_SECONDS
    os.environ["GRADING_PRELOAD_DYNAMO"] = "0"  # 70 MB less in the fork server and in every check
    try:
        with PeakMemory() as memory, tempfile.TemporaryDirectory(prefix="gradescope-") as scratch:
            points, questions, visibility = load_rubric(rubric), load_questions(rubric), load_visibility(rubric)
            submission, _ = open_folder(root / "submission", Path(scratch) / "submission")
            result = _grade_within(submission, select_checks(only), points, deadline)
            if scripts:  # with the fork server gone: each script's interpreter holds torch itself
                server = sandbox.zygote()
                server.process.stdin.close()  # the end of its input: the server exits
                server.process.wait()
                memory.phase = "the student's scripts"
                result["deliverables"] = _scripts_within(submission, deadline)
        results = results_json(result, questions, visibility, time.monotonic() - start, memory)
    except GradingError as exc:
        results = failure_json(str(exc), time.monotonic() - start)
    except BaseException as exc:  # the kit's own bug: still a results file, with where it happened
        where = traceback.extract_tb(exc.__traceback__)[-1]
        results = failure_json(f"{type(exc).__name__}: {exc} (grading kit, {Path(where.filename).name}:{where.lineno})",
                               time.monotonic() - start)
    atomic_write(out, lambda handle: json.dump(results, handle, indent=2, ensure_ascii=False))
    return results


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m grading.gradescope", formatter_class=argparse.ArgumentDefaultsHelpFormatter,
                                     description="Grade ROOT/submission and write ROOT/results/results.json (Gradescope).")
    parser.add_argument("--root", type=Path, default=Path(os.environ.get("GRADESCOPE_ROOT", "/autograder")),
                        help="Gradescope's folder (GRADESCOPE_ROOT)")
    parser.add_argument("--rubric", type=Path, default=PACKAGE / "rubric.toml", help="the rubric")
    parser.add_argument("--deliverables", action=argparse.BooleanOptionalAction, default=True,
                        help="also run the student's scripts (reported, not scored)")
    parser.add_argument("--only", default="all", help="the checks to run, as for python -m grading (GRADING_ONLY)")
    args = parser.parse_args(argv)
    results = run(args.root, args.rubric, args.deliverables, args.only)
    print(results["output"])
    sys.exit(0)


if __name__ == "__main__":
    main()
