"""The one-command reproduction (reproduce.py) and the rendered report.

One ``--smoke`` run (tiny budgets) is shared by the tests of this module, and it is a newcomer's
run: from a fresh git repository holding the project's files and nothing beside it (no
``../shared``), with downloads pointed at a closed port, exactly ``python reproduce.py --smoke``.
Later tests re-run it to check that finished pieces are skipped, ``--force`` and a killed piece.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT, assert_one_line_error, run_script
from report.pieces import PIECE_NAMES
from report.render import INCLUDE, read_template

TEMPLATE = ROOT / "report" / "REPORT.template.md"
QUESTIONS = ["1.1", "1.2", "1.3", "1.4", "1.5", "1.6", "1.7", "2.1", "2.2", "2.3",
             "3.1", "3.2", "3.3", "3.4"]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
OFFLINE = {"HTTP_PROXY": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9",
           "http_proxy": "http://127.0.0.1:9", "https_proxy": "http://127.0.0.1:9"}
N_PIECES = len(PIECE_NAMES)


def git(*args, cwd) -> str:
    proc = subprocess.run(["git", "-c", "user.name=newcomer", "-c", "user.email=newcomer@example.org",
                           *args], cwd=cwd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def fresh_clone(target: Path) -> Path:
    """The tracked files of the working tree (as they are now, so uncommitted edits are tested; a new
    file counts once it is added) in a new git repository, in a folder with nothing beside it."""
    clone = target / "project"
    names = git("ls-files", "-z", cwd=ROOT)
    for name in filter(None, names.split("\0")):
        source = ROOT / name
        if source.is_file():  # a file deleted in the working tree is not part of it
            (clone / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, clone / name)
    git("init", "-q", cwd=clone)
    git("add", "-A", cwd=clone)
    git("commit", "-q", "-m", "fresh clone", cwd=clone)
    return clone


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    clone = fresh_clone(tmp_path_factory.mktemp("newcomer"))
    assert not (clone.parent / "shared").exists()
    proc = run_script("reproduce.py", "--smoke", cwd=clone, timeout=900, env=OFFLINE)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return clone, clone / "results" / "report_smoke", proc


def report_text(out: Path) -> str:
    return (out / "REPORT.md").read_text(encoding="utf-8")


def section(text: str, number: str) -> str:
    """The text under the heading of question ``number`` up to the next heading of that level."""
    match = re.search(rf"^### {re.escape(number)} .*?(?=^### |^## |\Z)", text, re.M | re.S)
    assert match, f"no heading for question {number}"
    return match.group(0)


def test_a_newcomers_smoke_run_leaves_the_clone_clean_and_says_where_the_report_is(smoke):
    clone, out, proc = smoke
    assert git("status", "--porcelain", cwd=clone) == ""  # no tracked change, no stray file
    assert (out / "REPORT.md").is_file() and not (clone / "report" / ".cache").exists()
    last = proc.stdout.strip().splitlines()[-3:]
    assert any("results/report_smoke/REPORT.md" in line for line in last), last
    assert "open it" in last[-1], last


def test_every_piece_ran_and_recorded_its_provenance(smoke):
    clone, out, proc = smoke
    assert f"{N_PIECES} piece(s) ran, 0 skipped, 0 failed" in proc.stdout, proc.stdout
    values = json.loads((out / "values.json").read_text(encoding="utf-8"))
    assert values["run.mode"] == "smoke"
    assert all(str(v) != "" for v in values.values())
    head = git("rev-parse", "--short", "HEAD", cwd=clone).strip()
    pieces = {key.split(".")[1] for key in values if key.startswith("provenance.")}
    assert len(pieces) == N_PIECES
    for piece in pieces:
        assert values[f"provenance.{piece}.mode"] == "smoke"
        assert values[f"provenance.{piece}.commit"] == head  # the clone is unmodified


def test_every_question_has_its_heading(smoke):
    text = report_text(smoke[1])
    for number in QUESTIONS:
        assert re.search(rf"^### {re.escape(number)} \S", text, re.M), number
    assert re.search(r"^## References", text, re.M)
    for part in ("(a)", "(b)", "(c)"):
        assert f"**{part}" in section(text, "2.1"), part
    for part in ("(a)", "(b)"):
        assert f"**{part}" in section(text, "3.4"), part


def test_no_placeholder_is_left_unrendered(smoke):
    text = report_text(smoke[1])
    assert not re.search(r"\{\{\s*[a-z]+\s*:", text), "a {{kind:name}} placeholder was left"
    assert "[missing" not in text


def test_every_link_of_the_report_resolves_from_where_it_was_written(smoke):
    out = smoke[1]
    text = report_text(out)
    figures = re.findall(r"!\[[^\]]*\]\(([^)\s]+)\)", text)
    assert len(figures) >= 8, figures
    for target in figures:
        path = out / target
        assert target.startswith("figures/") and path.is_file(), target
        assert path.read_bytes()[:8] == PNG_MAGIC and path.stat().st_size > 2000, target
    relative = [t.split("#")[0] for t in re.findall(r"\]\(([^)\s]+)\)", text)
                if not t.startswith(("http", "#"))]
    assert any(t.startswith("../../part1/") for t in relative), "project links were not rewritten"
    for target in relative:
        assert (out / target).exists(), target


def test_every_table_of_the_template_was_generated_and_inlined(smoke):
    out = smoke[1]
    names = re.findall(r"\{\{table:([^}]+)\}\}", read_template(TEMPLATE))
    assert len(names) >= 15, names  # the regex found the template's tables
    text = report_text(out)
    for name in names:
        table = (out / "tables" / name).read_text(encoding="utf-8").strip()
        assert table, name
        assert table.splitlines()[0] in text, name


def test_generated_numbers_come_from_the_runs(smoke):
    """Spot checks that the tables hold what the scripts computed, not fixed text."""
    out = smoke[1]
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
    assert timings.count("| smoke | ran |") == N_PIECES
    values = json.loads((out / "values.json").read_text(encoding="utf-8"))
    assert values["part2.book"] == "book_EN_grimms_fairy_tails.txt"  # the shipped book


def test_a_second_run_skips_finished_pieces(smoke):
    clone, out, _ = smoke
    before = (out / ".cache" / "length_study" / "done.json").read_text(encoding="utf-8")
    proc = run_script("reproduce.py", "--smoke", "--quiet", cwd=clone, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert f"0 piece(s) ran, {N_PIECES} skipped, 0 failed" in proc.stdout, proc.stdout
    assert "[skip]" not in proc.stdout  # --quiet: only the closing lines
    assert (out / ".cache" / "length_study" / "done.json").read_text(encoding="utf-8") == before
    assert "[missing" not in report_text(out)


def test_force_reruns_only_the_selected_piece(smoke):
    clone = smoke[0]
    proc = run_script("reproduce.py", "--smoke", "--only", "temperature,figure2", "--force",
                      cwd=clone, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "2 piece(s) ran, 0 skipped, 0 failed" in proc.stdout, proc.stdout
    assert "[run ] figure2" in proc.stdout and "[run ] length_study" not in proc.stdout


def test_a_killed_training_piece_resumes_from_its_checkpoint(smoke):
    clone, out = smoke[0], smoke[1]
    only = ("reproduce.py", "--smoke", "--only", "part2_train")
    killed = run_script(*only, "--force", cwd=clone, timeout=300,
                        env={"SIGNAL_AT_STEP": "15:SIGKILL"})
    assert killed.returncode != 0 and "[fail] part2_train" in killed.stdout, killed.stdout
    proc = run_script(*only, cwd=clone, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    commands = [line for line in (out / ".cache" / "part2_train" / "log.txt")
                .read_text(encoding="utf-8").splitlines() if line.startswith("$ part2/train.py")]
    assert len(commands) == 2 and commands[0].endswith("--overwrite"), commands
    assert commands[1].endswith("--resume"), commands


def test_rendering_the_committed_values_gives_the_committed_report():
    from report.render import render_text

    text, problems = render_text(read_template(TEMPLATE), ROOT / "report", TEMPLATE.parent)
    assert problems == []
    assert text == (ROOT / "report" / "REPORT.md").read_text(encoding="utf-8")


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
    (["--smoke", "--txt_file", "no/such/book.txt"], "not a file"),
])
def test_bad_flags_give_one_line_errors_before_writing_anything(tmp_path, flags, fragment):
    out = tmp_path / "out"
    assert_one_line_error(run_script("reproduce.py", *flags, "--out_dir", out, timeout=120),
                          fragment)
    assert not out.exists()


def test_an_output_path_that_is_a_file_is_refused(tmp_path):
    target = tmp_path / "a_file"
    target.write_text("x", encoding="utf-8")
    assert_one_line_error(run_script("reproduce.py", "--smoke", "--out_dir", target, timeout=120),
                          "not a folder")


def test_the_number_of_workers_is_passed_on_but_does_not_change_the_hash(tmp_path):
    from report.pieces import MODES, PIECES
    from report.runner import config_hash
    from report.store import Context

    study = next(p for p in PIECES if p.name == "length_study")
    one, two = (Context(out=tmp_path, mode="full", cfg=MODES["full"], workers=w) for w in (1, 2))
    assert "--workers" in map(str, study.commands(two)[0])
    assert "--workers" not in map(str, study.commands(one)[0])
    assert config_hash(one, study) == config_hash(two, study)


@pytest.mark.parametrize("piece", ["optimizers", "grads"])
def test_part1_runs_train_with_the_length_studys_recipe(tmp_path, piece):
    """Every flag of ``experiments.length_study.recipe`` reaches the trainer unless the mode's budget sets it
    (a hand-made copy of the recipe once dropped --early_stop_patience)."""
    from experiments.length_study import recipe
    from report.pieces import MODES, PIECES
    from report.store import Context

    budget = MODES["full"][piece]
    ctx = Context(out=tmp_path, mode="full", cfg=MODES["full"])
    commands = [c for c in next(p for p in PIECES if p.name == piece).commands(ctx)
                if c[0] == "experiments/train_fast.py"]
    assert commands
    for cmd in map(lambda c: [str(a) for a in c], commands):
        model = cmd[cmd.index("--model_type") + 1]
        for key, value in recipe(model, budget["length"]).items():
            if key in budget or (piece == "optimizers" and key == "optimizer"):
                continue
            flag = f"--{key}"
            assert flag in cmd, (flag, cmd)
            if value is not True:
                assert cmd[cmd.index(flag) + 1] == str(value), (flag, cmd)


# Digits the template may hold outside placeholders: each an exact phrase, with why it is not a
# measurement. Keep it short; a count, size, step, rate or result belongs in a {{value:...}}.
ALLOWED_PHRASES = {
    "Grimm's": "not a digit, a guard that the scanner tolerates apostrophes (kept as an example)",
}
QUESTION = r"[1-3]\.[1-7][a-c]?"
# A question number as the text names it ("1.1", "2.1b", "2.1b–2.3"), not a measured 1.5× or 1.5 %.
QUESTION_REF = (rf"(?<![\d.~≈])(?<!factor of )(?<!by )(?:{'|'.join(map(re.escape, QUESTIONS))})"
                rf"[a-c]?(?:–{QUESTION})?(?![\d%×]|\.\d| ?x\b)")
# What a digit may stand in, masked before the scan (the order matters: code before math, link
# texts before link targets).
MASKS = [
    r"^```.*?^```",  # fenced code blocks
    r"\$\$.+?\$\$", r"\$[^$\n]+\$",  # display and inline math
    r"`[^`\n]+`",  # code spans
    r"\{\{[^}]*\}\}",  # placeholders
    rf"(?<=\[){QUESTION}(?=\]\()",  # contents links
    r"\]\([^)\s]*\)",  # link and image targets, anchors included
    rf"\b(?:Figures?|Tables?|[Pp]arts?) [1-9]\d?(?:\.\d+)?[a-z]?\b",  # figure, table, part numbers
    r"\beq(?:uations?|s?\.) ?\(?\d+[a-z]?\)?",  # equation numbers
    QUESTION_REF,
    r",\s+(?:19|20)\d\d[a-z]?(?=[);,.:])", r"\((?:19|20)\d\d[a-z]?\)",  # citation years
    r"(?<=[A-Za-z])-?\d+",  # digits inside a name: L2, UTF-8
]
NUMBER = re.compile(r"\d")


def template_files() -> list[Path]:
    """The top-level template and every file it includes (what read_template joins)."""
    text = TEMPLATE.read_text(encoding="utf-8")
    read_template(TEMPLATE)  # raises if an include is missing
    return [TEMPLATE, *(TEMPLATE.parent / name for name in INCLUDE.findall(text))]


def digits_outside_placeholders(text: str) -> list[tuple[int, str]]:
    """(line number, line) of every line with a digit left after masking what may hold one."""
    masked = text
    for phrase in ALLOWED_PHRASES:
        masked = masked.replace(phrase, " " * len(phrase))
    for pattern in MASKS:
        masked = re.sub(pattern, lambda m: re.sub(r"[^\n]", " ", m.group(0)), masked,
                        flags=re.M | re.S)
    original = text.splitlines()
    return [(i + 1, original[i]) for i, line in enumerate(masked.splitlines())
            if NUMBER.search(line)]


def test_the_digit_scanner_finds_typed_numbers_and_passes_allowed_ones():
    allowed = ("### 1.3 The vanilla RNN\nSee Figure 2, eq. (4), Table 1.3 and $T = 30$, `--seed 3`,"
               " {{value:x.y2}} [3.2](#32-the-graph) (Kipf & Welling, 2017) part 1, in 3.1 (3.2).")
    assert digits_outside_placeholders(allowed) == []
    typed = "The loss stopped at about 1.29.\nIt took 40 passes.\nA 16-dimensional input."
    assert [n for n, _ in digits_outside_placeholders(typed)] == [1, 2, 3]


def test_no_measured_number_is_typed_into_the_template():
    offending = [f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
                 for path in template_files()
                 for number, line in digits_outside_placeholders(path.read_text(encoding="utf-8"))]
    assert not offending, ("digits typed outside placeholders (generate them as {{value:...}}, or "
                           "add an assignment constant to ALLOWED_PHRASES with its reason):\n"
                           + "\n".join(offending))


def test_every_contents_anchor_names_a_heading():
    text = read_template(TEMPLATE)
    slugs = {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-")
             for h in re.findall(r"^#+ (.+)$", text, re.M)}
    missing = [a for a in re.findall(r"\]\(#([^)]+)\)", text) if a not in slugs]
    assert not missing, missing


def test_every_reference_is_cited():
    text = read_template(TEMPLATE)
    body, refs = text.split("## References", 1)
    uncited = []
    for name, year in re.findall(r"^\* ([^,]+),.*?\(((?:19|20)\d\d)\)", refs, re.M):
        if not re.search(rf"{re.escape(name)}\b[^()]{{0,80}}?{year}", body, re.S):
            uncited.append(f"{name} ({year})")
    assert not uncited, f"references not cited in the text: {uncited}"


def committed_report() -> str:
    return (ROOT / "report" / "REPORT.md").read_text(encoding="utf-8")


def test_the_committed_report_is_under_8000_words():
    words = len(committed_report().split())
    assert words < 8000, f"report/REPORT.md has {words} words"


def test_the_committed_report_has_no_nan_leftover_or_missing_marker():
    text = re.sub(r"`[^`\n]*`", "", committed_report())  # generated samples may hold any text
    problems = [f"line {i + 1}: {line.strip()}" for i, line in enumerate(text.splitlines())
                if re.search(r"\w\(s\)|\[missing", line)
                or line.startswith("|") and re.search(r"(?i)(?<![\w'])nan(?![\w'])", line)]
    assert not problems, "\n".join(problems)


def test_percentages_and_fixed_decimals_never_print_a_bound_they_do_not_reach():
    from report.store import fixed, pct, plural

    assert pct(0.9995) == "99.95%" and pct(0.98765) == "98.8%" and pct(1.0) == "100.0%"
    assert pct(0.0004) == "0.04%" and pct(0.0) == "0.0%"
    assert not pct(1 - 1e-12).startswith("100") and float(fixed(0.99997, 3)) < 1
    assert plural(1, "seed") == "1 seed" and plural(3, "seed") == "3 seeds"


def test_the_header_states_each_pieces_mode_commit_and_date():
    from report.runner import provenance_sentence

    values = {}
    for name, mode, commit, date in [("a", "full", "x1", "2026-12-01 05:00:00 UTC"),
                                     ("b", "full", "x1", "2026-11-30 05:00:00 UTC"),
                                     ("c", "quick", "y2", "2026-11-22 01:00:00 UTC")]:
        values.update({f"provenance.{name}.mode": mode, f"provenance.{name}.commit": commit,
                       f"provenance.{name}.date": date})
    assert provenance_sentence(["a", "b"], values, 2) == (
        "All 2 pieces ran in mode full at commit `x1` between 2026-11-30 and 2026-12-01.")
    mixed = provenance_sentence(["a", "b", "c"], values, 4)
    assert mixed.startswith("1 of 4 pieces has no result yet; the others ran in mode full")
    assert "in mode quick at commit `y2` on 2026-11-22: `c`" in mixed
