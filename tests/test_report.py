"""The one-command reproduction (reproduce.py) and the rendered report.

One ``--smoke`` run into a temporary folder (tiny budgets, about a minute and a half on two cores)
is shared by the tests of this module; a second run checks that finished pieces are skipped.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.conftest import ROOT, assert_one_line_error, run_script

TEMPLATE = ROOT / "report" / "REPORT.template.md"
QUESTIONS = ["1.1", "1.2", "1.3", "1.4", "1.5", "1.6", "1.7", "2.1", "2.2", "2.3",
             "3.1", "3.2", "3.3", "3.4"]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    proc = run_script("reproduce.py", "--smoke", "--out", out, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return out, proc


def report_text(out: Path) -> str:
    return (out / "REPORT.md").read_text(encoding="utf-8")


def section(text: str, number: str) -> str:
    """The text under the heading of question ``number`` up to the next heading of that level."""
    match = re.search(rf"^### {re.escape(number)} .*?(?=^### |^## |\Z)", text, re.M | re.S)
    assert match, f"no heading for question {number}"
    return match.group(0)


def test_every_piece_ran_and_the_report_was_written(smoke):
    out, proc = smoke
    assert "10 piece(s) ran, 0 skipped, 0 failed" in proc.stdout, proc.stdout
    assert (out / "REPORT.md").is_file()
    values = json.loads((out / "values.json").read_text(encoding="utf-8"))
    assert values["run.mode"] == "smoke"
    assert all(str(v) != "" for v in values.values())


def test_every_question_has_its_heading(smoke):
    text = report_text(smoke[0])
    for number in QUESTIONS:
        assert re.search(rf"^### {re.escape(number)} \S", text, re.M), number
    assert re.search(r"^## References", text, re.M)
    for part in ("(a)", "(b)", "(c)"):
        assert f"**{part}" in section(text, "2.1"), part
    for part in ("(a)", "(b)"):
        assert f"**{part}" in section(text, "3.4"), part


def test_no_placeholder_is_left_unrendered(smoke):
    text = report_text(smoke[0])
    assert not re.search(r"\{\{\s*[a-z]+\s*:", text), "a {{kind:name}} placeholder was left"
    assert "[missing" not in text


def test_every_linked_figure_and_table_exists(smoke):
    out = smoke[0]
    text = report_text(out)
    figures = re.findall(r"!\[[^\]]*\]\(([^)\s]+)\)", text)
    assert len(figures) >= 8, figures
    for target in figures:
        path = out / target
        assert target.startswith("figures/") and path.is_file(), target
        assert path.read_bytes()[:8] == PNG_MAGIC and path.stat().st_size > 2000, target
    for target in re.findall(r"\]\(((?:tables|figures)/[^)\s]+)\)", text):
        assert (out / target).is_file(), target


def test_every_table_of_the_template_was_generated_and_inlined(smoke):
    out = smoke[0]
    template = TEMPLATE.read_text(encoding="utf-8")
    names = re.findall(r"\{\{table:([^}]+)\}\}", template)
    assert len(names) >= 20, names
    text = report_text(out)
    for name in names:
        table = (out / "tables" / name).read_text(encoding="utf-8").strip()
        assert table, name
        assert table.splitlines()[0] in text, name


def test_generated_numbers_come_from_the_runs(smoke):
    """Spot checks that the tables hold what the scripts computed, not fixed text."""
    out = smoke[0]
    text = report_text(out)
    hops = (out / "tables" / "figure2_hops.md").read_text(encoding="utf-8")
    row_e = next(line for line in hops.splitlines() if line.startswith("| E |"))
    cells = [c.strip() for c in row_e.strip("|").split("|")]
    assert cells[3] == "3"  # column C of row E
    assert "**3** updates" in text
    params = (out / "tables" / "param_count.md").read_text(encoding="utf-8")
    assert "| NO |" not in params and params.count("| yes |") == 4
    assert "4(nd + n² + n) = 71,168" in params  # d=10, n=128: 4 * (1280 + 16384 + 128)
    timings = (out / "tables" / "timings.md").read_text(encoding="utf-8")
    assert timings.count("| smoke | ran |") == 10


def test_a_second_run_skips_finished_pieces(smoke):
    out = smoke[0]
    before = (out / ".cache" / "length_study" / "done.json").read_text(encoding="utf-8")
    proc = run_script("reproduce.py", "--smoke", "--out", out, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "0 piece(s) ran, 10 skipped, 0 failed" in proc.stdout, proc.stdout
    assert proc.stdout.count("[skip]") == 10
    assert (out / ".cache" / "length_study" / "done.json").read_text(encoding="utf-8") == before
    assert "[missing" not in report_text(out)


def test_force_reruns_only_the_selected_piece(smoke):
    out = smoke[0]
    proc = run_script("reproduce.py", "--smoke", "--out", out, "--only", "temperature,figure2",
                      "--force", timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "2 piece(s) ran, 0 skipped, 0 failed" in proc.stdout, proc.stdout
    assert "[run ] figure2" in proc.stdout and "[run ] length_study" not in proc.stdout


def test_the_renderer_reports_what_is_missing(tmp_path):
    from report.render import render_text

    (tmp_path / "tables").mkdir()
    (tmp_path / "tables" / "t.md").write_text("| a |\n|---|\n| 1 |\n", encoding="utf-8")
    (tmp_path / "values.json").write_text(json.dumps({"x.y": "42"}), encoding="utf-8")
    text, problems = render_text("{{table:t.md}} {{value:x.y}}", tmp_path)
    assert problems == [] and "| 1 |" in text and "42" in text
    text, problems = render_text("{{table:nope.md}} {{value:no.key}} ![f](figures/none.png)",
                                 tmp_path)
    assert len(problems) == 3 and text.count("[missing") == 3


@pytest.mark.parametrize("flags, fragment", [
    (["--only", "bogus"], "unknown piece"),
    (["--only", ""], "unknown piece"),
    (["--quick", "--smoke"], "not allowed with"),
    (["--smoke", "--frobnicate"], "unrecognized arguments"),
])
def test_bad_flags_give_one_line_errors(flags, fragment):
    assert_one_line_error(run_script("reproduce.py", *flags, timeout=120), fragment)


def test_an_output_path_that_is_a_file_is_refused(tmp_path):
    target = tmp_path / "a_file"
    target.write_text("x", encoding="utf-8")
    assert_one_line_error(run_script("reproduce.py", "--smoke", "--out", target, timeout=120),
                          "not a folder")


def test_the_number_of_workers_is_passed_on_but_does_not_change_the_hash(tmp_path):
    import reproduce

    study = next(p for p in reproduce.PIECES if p.name == "length_study")
    one, two = (reproduce.Context(out=tmp_path, mode="full", cfg=reproduce.MODES["full"], workers=w)
                for w in (1, 2))
    assert "--workers" in map(str, study.commands(two)[0])
    assert "--workers" not in map(str, study.commands(one)[0])
    assert reproduce.config_hash(one, study) == reproduce.config_hash(two, study)
