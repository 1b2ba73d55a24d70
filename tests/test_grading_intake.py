"""The grading kit's intake (grading/intake.py), the assignment's questions and the TA's marks
(grading/official.py), the gradebook CSV and identical code across submissions (grading/similarity.py).

Submissions are built here from the style-B fixture; the graded checks are cheap ones (palindromes),
so the whole file runs in seconds.
"""
from __future__ import annotations

import csv
import io
import json
import shutil
import stat
import zipfile
from pathlib import Path

import pytest

from grading import GradingError, intake
from grading.batch import grade_batch
from grading.official import MARKS_NAME, official, read_marks
from grading.rubric import Question, load_questions, load_rubric, select_checks
from grading.sandbox import Limits
from grading.similarity import identical_pairs
from tests.conftest import ROOT, assert_one_line_error, run_script

STYLE_B = Path(__file__).with_name("grading_fixtures") / "style_b"
RUBRIC, QUESTIONS = load_rubric(), load_questions()
LIMITS = Limits(timeout=60, memory_gb=3)
CHECKS = select_checks("palindromes")


def zip_folder(folder: Path, prefix: str = "", extra: dict[str, bytes] | None = None) -> bytes:
    """``folder``'s files as a zip, under ``prefix/`` (and ``extra`` members), in memory."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zipped:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                zipped.write(path, f"{prefix}{path.relative_to(folder)}")
        for name, data in (extra or {}).items():
            zipped.writestr(name, data)
    return buffer.getvalue()


def student_zip(tmp_path: Path, layout: str = "part1", broken: bool = False, pdf: bool = True) -> bytes:
    """The style-B submission zipped as the course README asks (``lastname_assignment_2/...``), its
    folders named ``part1/`` or ``part_1/``; ``broken`` makes the palindromes fail."""
    folder = tmp_path / "build" / f"{layout}-{broken}-{pdf}"
    for part in ("1", "2"):
        shutil.copytree(STYLE_B / f"part{part}", folder / layout.replace("1", part))
    if broken:
        (folder / layout / "dataset.py").write_text("raise ImportError('broken on purpose')\n", encoding="utf-8")
    extra = {"lastname_assignment_2/report_lastname.pdf": b"%PDF-1.4 report"} if pdf else {}
    return zip_folder(folder, "lastname_assignment_2/", extra)


def bomb(size: int = 4 * 2**20) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zipped:
        zipped.writestr("part1/zeros.txt", b"\0" * size)
    return buffer.getvalue()


def write_zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zipped:
        for name, data in members.items():
            zipped.writestr(name, data)
    return path


# --- unpacking safely ------------------------------------------------------------------------------

@pytest.mark.parametrize("member, fragment", [
    ("../evil.py", "points outside the folder"),
    ("/etc/evil.py", "points outside the folder"),
    ("a/../../evil.py", "points outside the folder"),
    ("C:/evil.py", "points outside the folder"),
])
def test_a_member_that_leaves_the_target_refuses_the_archive(tmp_path, member, fragment):
    archive = write_zip(tmp_path / "x.zip", {"part1/ok.py": b"x = 1\n", member: b"print('escaped')\n"})
    with pytest.raises(GradingError, match=fragment):
        intake.unpack(archive, tmp_path / "out")
    assert not (tmp_path / "evil.py").exists()


def test_a_symbolic_link_in_a_zip_is_refused(tmp_path):
    link = zipfile.ZipInfo("part1/link")
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    with zipfile.ZipFile(tmp_path / "x.zip", "w") as zipped:
        zipped.writestr(link, "/etc/passwd")
    with pytest.raises(GradingError, match="symbolic link"):
        intake.unpack(tmp_path / "x.zip", tmp_path / "out")


def test_zip_bombs_and_too_many_files_are_refused(tmp_path, monkeypatch):
    (tmp_path / "bomb.zip").write_bytes(bomb())
    with pytest.raises(GradingError, match="expands .* times"):
        intake.unpack(tmp_path / "bomb.zip", tmp_path / "out")
    monkeypatch.setattr(intake, "MAX_BYTES", 1000)  # the declared sizes are over the limit
    archive = write_zip(tmp_path / "big.zip", {"part1/a.txt": b"a" * 600, "part1/b.txt": b"b" * 600})
    with pytest.raises(GradingError, match="unpacks to .* more than"):
        intake.unpack(archive, tmp_path / "out2")
    monkeypatch.setattr(intake, "MAX_BYTES", 10**6)
    monkeypatch.setattr(intake, "MAX_FILES", 3)
    archive = write_zip(tmp_path / "many.zip", {f"part1/{i}.py": b"" for i in range(5)})
    with pytest.raises(GradingError, match="more than 3 files"):
        intake.unpack(archive, tmp_path / "out3")


def test_nested_zips_are_unpacked_in_place_up_to_a_depth(tmp_path):
    inner = write_zip(tmp_path / "inner.zip", {"part1/dataset.py": b"x = 1\n"}).read_bytes()
    outer = write_zip(tmp_path / "outer.zip", {"sub/inner.zip": inner, "__MACOSX/._junk": b"", "notes.txt": b"hi"})
    intake.unpack(outer, tmp_path / "out")
    assert (tmp_path / "out/sub/inner/part1/dataset.py").read_text() == "x = 1\n"
    assert not (tmp_path / "out/sub/inner.zip").exists() and not (tmp_path / "out/__MACOSX").exists()
    deep = inner
    for level in range(intake.MAX_DEPTH):
        deep = write_zip(tmp_path / f"d{level}.zip", {f"d{level}.zip": deep}).read_bytes()
    (tmp_path / "deep.zip").write_bytes(deep)
    with pytest.raises(GradingError, match="nested more than"):
        intake.unpack(tmp_path / "deep.zip", tmp_path / "out_deep")


# --- Canvas names ----------------------------------------------------------------------------------

def test_canvas_names_are_grouped_by_user_keeping_the_latest_submission():
    names = ["doejane_101_900_doe_assignment2.zip",          # an older submission of Jane's
             "doejane_LATE_101_950_doe_assignment2.zip",
             "doejane_LATE_101_950_doe_assignment2-1.zip",   # the same name handed in again: this one
             "doejane_LATE_101_950_report_doe.pdf",
             "roejohn_102_951_roe_assignment_2.zip",
             "README.txt"]
    latest = intake.latest_files(names)
    assert list(latest) == ["101", "102"]
    assert [f["file"] for f in latest["101"]] == ["doejane_LATE_101_950_doe_assignment2-1.zip",
                                                 "doejane_LATE_101_950_report_doe.pdf"]
    assert all(f["late"] for f in latest["101"]) and not latest["102"][0]["late"]
    assert intake.canvas_fields("README.txt") is None


# --- a course's batch --------------------------------------------------------------------------------

def canvas_download(tmp_path: Path) -> Path:
    """A Canvas bulk download of five students: a good one, a late one who handed in again (the
    first upload broken), one with loose files only, a zip bomb and a path that leaves the folder."""
    good, broken = student_zip(tmp_path), student_zip(tmp_path, broken=True, pdf=False)
    fixed = student_zip(tmp_path, layout="part_1", pdf=False)
    return write_zip(tmp_path / "submissions.zip", {
        "smithalice_101_5001_smith_assignment2.zip": good,
        "jonesbob_LATE_102_5002_jones_assignment2.zip": broken,
        "jonesbob_LATE_102_5002_jones_assignment2-1.zip": fixed,
        "leecarol_103_5003_vanilla_rnn.py": (STYLE_B / "part1/vanilla_rnn.py").read_bytes(),
        "leecarol_103_5003_report_lee.pdf": b"%PDF-1.4",
        "kimdave_104_5004_kim_assignment2.zip": bomb(),
        "parkeve_105_5005_park.zip": write_zip(tmp_path / "evil.zip", {"../../evil.py": b"x"}).read_bytes(),
        "index.html": b"<html></html>",
    })


def read_csv(path: Path) -> list[dict]:
    with open(path, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def test_a_canvas_bulk_zip_gives_one_row_per_student(tmp_path):
    out = tmp_path / "out"
    results, finished = grade_batch(canvas_download(tmp_path), out, CHECKS, RUBRIC, LIMITS, workers=2, quiet=True)
    rows = {row["user_id"]: row for row in read_csv(out / "grades.csv")}
    assert sorted(rows) == ["101", "102", "103", "104", "105"] and finished == 0
    alice, bob, carol, dave, eve = (rows[str(i)] for i in range(101, 106))
    assert (alice["student"], alice["palindromes"], alice["late"], alice["missing"]) == \
        ("smithalice", "5", "", "part1/train.py; part1/grads_over_time.py; part2/train.py")
    # the later upload (-1, with part_1/ as the course README writes it) is graded, not the broken one
    assert (bob["late"], bob["palindromes"], bob["files"]) == ("yes", "5", "jones_assignment2-1.zip")
    assert "report PDF" in bob["missing"]
    assert carol["palindromes"] == "0" and "part1/;" in carol["missing"] and "report PDF" not in carol["missing"]
    assert "a zip bomb?" in dave["missing"] and "points outside the folder" in eve["missing"]
    assert not any((out / "unpacked/kimdave_104").iterdir())  # nothing half-unpacked is graded or kept
    assert not (tmp_path / "evil.py").exists() and not (out / "evil.py").exists()
    bob_json = json.loads((out / "jonesbob_102.json").read_text(encoding="utf-8"))
    assert "part_1/ read as part1/" in bob_json["note"]
    assert set(bob_json["versions"]) == {"python", "torch", "numpy"}
    assert read_csv(out / "gradebook.csv")[0] == {"student": "smithalice", "user_id": "101",
                                                   "total": alice["grade"]}


def test_the_tas_marks_are_merged_and_kept_across_runs(tmp_path):
    batch, out = tmp_path / "submissions", tmp_path / "out"
    shutil.copytree(STYLE_B, batch / "alice")
    (batch / "bob").mkdir()
    grade_batch(batch, out, CHECKS, RUBRIC, LIMITS, quiet=True)
    marks = out / MARKS_NAME
    lines = marks.read_text(encoding="utf-8").splitlines()
    written = [q for q in QUESTIONS if q.written > 0]
    assert lines[0] == ",".join(["submission", "student", "user_id", *(q.key for q in written), "comment"])
    assert lines[1].startswith("(max),,,10,3,")  # 1.1 is all written, 1.2 has 3 of 10 for the TA
    assert [line.split(",")[0] for line in lines[2:]] == ["alice", "bob"]
    rows = read_csv(marks)
    rows[1]["1.1"], rows[1]["3.4"], rows[1]["comment"] = "8", "7.5", "good derivation"
    with open(marks, "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    shutil.copytree(STYLE_B, batch / "carol")  # a new student: a row is added, alice's marks stay
    results, finished = grade_batch(batch, out, CHECKS, RUBRIC, LIMITS, quiet=True)
    assert finished == 2
    alice = next(r for r in results if r["submission"] == "alice")
    code = alice["official"]["code"]
    assert code == pytest.approx(7 * 5 / 5)  # palindromes, the only 1.2 check run, passed: 1.2's code share
    assert alice["official"]["grade"] == pytest.approx(code + 15.5)
    assert "1.1" not in alice["official"]["unmarked"] and "1.4" in alice["official"]["unmarked"]
    again = read_csv(marks)
    assert [r["submission"] for r in again] == ["(max)", "alice", "bob", "carol"]
    assert again[1]["comment"] == "good derivation"
    assert read_csv(out / "gradebook.csv")[0]["total"] == f"{alice['official']['grade']:g}"


def test_a_mark_above_the_question_is_a_one_line_error(tmp_path):
    marks = tmp_path / MARKS_NAME
    marks.write_text("submission,student,user_id,1.1\nalice,,,11\n", encoding="utf-8")
    with pytest.raises(GradingError, match="question 1.1: 11 is outside 0-10"):
        read_marks(marks, QUESTIONS)
    marks.write_text("submission,student,user_id,1.1\nalice,,,good\n", encoding="utf-8")
    with pytest.raises(GradingError, match="'good' is not a number"):
        read_marks(marks, QUESTIONS)
    marks.write_text("submission;student;user_id;1.1\nalice;;;8\n", encoding="utf-8")  # a spreadsheet's ';'
    with pytest.raises(GradingError, match="no 'submission' column"):
        read_marks(marks, QUESTIONS)


def test_the_default_rubric_has_the_assignments_points():
    points = {q.key: q.points for q in QUESTIONS}
    assert sum(p for q, p in points.items() if q.startswith("1.")) == 50
    assert sum(q.points for q in QUESTIONS if q.key.startswith("2.") and not q.bonus) == 30
    assert sum(q.points for q in QUESTIONS if q.bonus) == 5
    assert sum(p for q, p in points.items() if q.startswith("3.")) == 20
    assert {q.key for q in QUESTIONS if q.code} == {"1.2", "1.3", "1.6", "2.1a"}
    assert (points["1.5a"], points["1.5b"], points["1.6"], points["1.7"]) == (3, 2, 10, 5)


def test_a_skipped_check_leaves_its_question_to_the_others():
    result = {"checks": [{"name": "rnn_parity", "status": "skip", "max_points": 10},
                         {"name": "rnn_builds", "status": "pass", "max_points": 2},
                         {"name": "rnn_shapes", "status": "fail", "max_points": 3}]}
    question = Question("1.2", 10, 5, ("rnn_builds", "rnn_shapes", "rnn_parity"))
    sheet = official(result, [question], {"1.2": 4})
    assert sheet["questions"]["1.2"]["code"] == pytest.approx(2.0) and sheet["grade"] == pytest.approx(6.0)


@pytest.mark.parametrize("entry, fragment", [
    ('"9.9" = { points = 5, checks = ["rnn_builds"] }', "rnn_builds is in questions 1.2 and 9.9"),
    ('"9.9" = { points = 5, code = 6, checks = ["zzz"] }', "code share 6 exceeds its 5 points"),
    ('"9.9" = { points = 5, checks = ["zzz"] }', "names 'zzz', which matches no check"),
])
def test_a_bad_question_table_is_a_one_line_error(tmp_path, entry, fragment):
    text = (ROOT / "grading/rubric.toml").read_text(encoding="utf-8").replace("[visibility]", f"{entry}\n\n[visibility]")
    (tmp_path / "rubric.toml").write_text(text, encoding="utf-8")
    assert_one_line_error(run_script("-m", "grading", STYLE_B, "--rubric", tmp_path / "rubric.toml"), fragment)


# --- one student's zip -----------------------------------------------------------------------------

def test_a_student_checks_their_own_zip(tmp_path):
    archive = tmp_path / "lastname_assignment2.zip"
    archive.write_bytes(student_zip(tmp_path, layout="part_1"))
    proc = run_script("-m", "grading", archive, "--only", "palindromes", "--quiet", "--json", tmp_path / "r.json")
    assert proc.returncode == 0, proc.stderr
    assert "graded lastname_assignment_2/, the folder inside that holds the parts; part_1/ read as part1/" in proc.stdout
    assert "PASS    5/5  palindromes" in proc.stdout
    assert "Missing from the deliverables: part1/train.py, part1/grads_over_time.py, part2/train.py" in proc.stdout
    assert "report PDF" not in proc.stdout
    result = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    assert result["path"] == str(archive) and result["deliverables"] == []


def test_a_zip_bomb_given_to_the_command_line_is_a_one_line_error(tmp_path):
    (tmp_path / "bomb.zip").write_bytes(bomb())
    assert_one_line_error(run_script("-m", "grading", tmp_path / "bomb.zip"), "a zip bomb?")
    (tmp_path / "notes.txt").write_text("not a zip", encoding="utf-8")
    assert_one_line_error(run_script("-m", "grading", tmp_path / "notes.txt"), "is not a zip file")
    assert_one_line_error(run_script("-m", "grading", "--batch", tmp_path / "notes.txt"), "neither a folder nor a zip")


def test_the_parts_are_found_at_any_depth(tmp_path):
    deep = tmp_path / "alice" / "Downloads" / "final" / "assignment 2"
    shutil.copytree(STYLE_B / "part1", deep / "part_1")
    assert intake.find_roots(tmp_path / "alice") == [deep]
    assert intake.missing(deep, tmp_path / "alice")[:2] == ["part1/train.py", "part1/grads_over_time.py"]


# --- identical code --------------------------------------------------------------------------------

def test_identical_code_is_flagged_per_pair_despite_comments_and_whitespace(tmp_path):
    source = (STYLE_B / "part1/lstm.py").read_text(encoding="utf-8")
    for name in ("alice", "bob", "carol"):
        (tmp_path / name / "part1").mkdir(parents=True)
    (tmp_path / "alice/part1/lstm.py").write_text(source, encoding="utf-8")
    disguised = "\n".join(f"{line}   # my own comment" if line.strip() and not line.rstrip().endswith(("\\", ",", "("))
                          and '"""' not in line else line for line in source.splitlines())
    (tmp_path / "bob/part1/my_lstm.py").write_text('"""My LSTM."""\n\n' + disguised.replace("    ", "\t"),
                                                   encoding="utf-8")
    (tmp_path / "carol/part1/lstm.py").write_text(source.replace("torch.sigmoid", "torch.tanh"), encoding="utf-8")
    skeleton = "import torch\nimport torch.nn as nn\n\nclass LSTM(nn.Module):\n    def forward(self, x):\n        pass\n"
    for name in ("alice", "carol"):  # the skeleton's own lines are everyone's: never flagged
        (tmp_path / name / "part1/train.py").write_text(skeleton, encoding="utf-8")
    roots = {name: tmp_path / name for name in ("alice", "bob", "carol")}
    assert identical_pairs(roots) == [{"a": "alice", "file_a": "part1/lstm.py", "b": "bob",
                                       "file_b": "part1/my_lstm.py", "lines": pytest.approx(30, rel=1)}]


def test_the_batch_report_lists_identical_files(tmp_path):
    batch, out = tmp_path / "submissions", tmp_path / "out"
    shutil.copytree(STYLE_B, batch / "alice")
    shutil.copytree(STYLE_B, batch / "bob")
    grade_batch(batch, out, CHECKS, RUBRIC, LIMITS, quiet=True)
    pairs = read_csv(out / "identical_code.csv")
    assert {(p["a"], p["b"], p["file_a"]) for p in pairs} >= {("alice", "bob", "part1/lstm.py")}
    alice = next(r for r in read_csv(out / "grades.csv") if r["submission"] == "alice")
    assert "bob: part1/lstm.py = part1/lstm.py" in alice["identical_to"]


def test_batch_takes_one_students_zip_and_refuses_a_single_submission_folder(tmp_path):
    archive = tmp_path / "lastname_assignment2.zip"
    archive.write_bytes(student_zip(tmp_path))
    subs, notes = intake.submissions_from(archive, tmp_path / "out/unpacked")
    assert [(s.name, s.files, s.problem) for s in subs] == [("lastname_assignment2", ["lastname_assignment2.zip"], "")]
    assert intake.find_roots(subs[0].path) == [subs[0].path / "lastname_assignment_2"] and notes == []
    with pytest.raises(GradingError, match="holds the parts itself: grade it without --batch"):
        intake.submissions_from(STYLE_B, tmp_path / "out/unpacked")


def test_a_folder_holding_only_a_students_zip_is_unpacked(tmp_path):
    (tmp_path / "submissions/alice").mkdir(parents=True)
    (tmp_path / "submissions/alice/smith_assignment2.zip").write_bytes(student_zip(tmp_path))
    (tmp_path / "submissions/bob").mkdir()
    subs, _ = intake.submissions_from(tmp_path / "submissions", tmp_path / "out/unpacked")
    alice, bob = subs
    assert (alice.name, alice.files, bob.path) == ("alice", ["smith_assignment2.zip"], tmp_path / "submissions/bob")
    assert intake.find_roots(alice.path) == [alice.path / "smith_assignment2/lastname_assignment_2"]


def test_a_damaged_zip_is_refused_in_one_line(tmp_path):
    archive = write_zip(tmp_path / "x.zip", {"part1/dataset.py": b"x = 1\n" * 1000})
    data = bytearray(archive.read_bytes())
    data[60:80] = b"\xff" * 20  # the compressed bytes (after the 46-byte header): inflating or the CRC fails
    archive.write_bytes(bytes(data))
    with pytest.raises(GradingError, match="x.zip: (cannot be unpacked|not a readable zip file)"):
        intake.unpack(archive, tmp_path / "out")
