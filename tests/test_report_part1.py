"""The part-1 collectors' number formatting and generated claims, on small hand-made inputs."""
from report.part1 import shape, sig, spread, where_it_changes
from report.part1_ablation import CORNERS, square_sentence
from report.part1_study import (cap_sentence, capped_sentence, overlap_sentence, pct_floor,
                                series_sentence)


def test_pct_floor_never_rounds_up():
    assert pct_floor(0.99995) == "99.99%"
    assert pct_floor(0.9999) == "99.99%"
    assert pct_floor(1.0) == "100.00%"
    assert pct_floor(0.9987, 1) == "99.8%"


def _cell(mean, low, steps=100, capped=(), seeds=3, seen=12_800, most=None, cap=3000):
    return {"mean": mean, "min": low, "max": 1.0, "seeds": seeds, "steps": steps,
            "most": most or steps, "capped": list(capped), "cap": cap, "lr": 1e-3,
            "test_size": 10_000, "seen": seen, "seen_max": 2 * seen}


def test_series_sentence_names_the_first_failing_length():
    stats = {("RNN", "baseline"): {5: _cell(1.0, 1.0), 10: _cell(0.995, 0.991),
                                   20: _cell(0.4, 0.2), 30: _cell(0.1, 0.09)}}
    text = series_sentence(stats, ("RNN", "baseline"))
    assert "up to $T$ = 10" in text
    assert "first below it at $T$ = 20 (mean 40.00%, min 20.00%)" in text
    assert "below it also at $T$ = 30 (mean 10.00%, min 9.00%)" in text
    stats[("RNN", "baseline")][40] = _cell(0.999, 0.995)
    text = series_sentence(stats, ("RNN", "baseline"))
    assert "below it also at $T$ = 30; at $T$ = 40 mean 99.90%, min 99.50%" in text


def test_overlap_counts_the_distinct_palindromes():
    stats = {("RNN", "tuned"): {5: _cell(1.0, 1.0, seen=12_800), 10: _cell(1.0, 1.0, seen=12_800)}}
    text = overlap_sentence(stats)
    assert "only 1,000 distinct palindromes (the first 3 digits decide one)" in text
    assert "12,800 training examples" in text
    # at the second length, a ceiling: the most any seed saw (25,600 examples), rounded up
    assert "no run saw more than an expected 2.53% of the 1,000,000" in text


def test_cap_sentence_says_whether_the_higher_cap_was_used():
    tuned = {50: _cell(1.0, 1.0, most=1250, cap=6000), 60: _cell(1.0, 1.0, most=6000, cap=6000)}
    stats = {("RNN", "tuned"): tuned, ("RNN", "baseline"): {50: _cell(0.5, 0.1)}}
    assert "(6,000 against 3,000), but up to $T$ = 50 no tuned run took more than 1,250" in (
        cap_sentence(stats))
    tuned[50]["most"] = 4000
    assert "a tuned run took 4,000 steps, more than that" in cap_sentence(stats)
    tuned[50]["cap"] = tuned[60]["cap"] = 3000
    assert cap_sentence(stats) == ""


def test_capped_sentence_from_the_status_column():
    stats = {("RNN", "tuned"): {60: _cell(0.9, 0.8, capped=[{"seed": 2}])}}
    assert "RNN tuned at $T$ = 60 (1 of 3)" in capped_sentence(stats)
    assert capped_sentence({("RNN", "tuned"): {5: _cell(1.0, 1.0)}}).startswith("Every run")


def _runs(steps, status="early_stop", lr=1e-3, cap=3000):
    return [{"seed": s, "steps": steps, "status": status, "acc": 1.0, "cap": cap, "lr": lr}
            for s in range(3)]


def test_square_compares_only_complete_equal_cap_corners():
    labels = [label for label, _, _ in CORNERS]
    square = dict(zip(labels, [_runs(1000), _runs(900), _runs(300, lr=1e-2), _runs(250, lr=1e-2)]))
    assert "each change cuts them on its own" in square_sentence(square, 1e-2)
    together = dict(zip(labels, [_runs(683), _runs(1417), _runs(733, lr=1e-2), _runs(317, lr=1e-2)]))
    assert "the two help only together" in square_sentence(together, 1e-2)
    square[labels[1]] = _runs(3000, status="max_steps")
    assert "not ranked" in square_sentence(square, 1e-2)
    square[labels[1]] = _runs(100, cap=10)
    assert "different step caps" in square_sentence(square, 1e-2)


def test_curve_descriptions():
    rising = [100.0, 10.0, 1.0] + [1.2] + [0.9] * 6  # the change is over the first steps
    text = where_it_changes(rising)
    assert "within a factor 1.4 of its value at $t$ = 10 from $t$ = 10 back to $t$ = 3" in text
    assert "from there to $t$ = 1 it rises from 1.0 to 100" in text
    assert spread([0.014, 0.00399, 0.004]) == (
        "lies between 0.0039 and 0.014 at every $t$ (0.014 at $t$ = 1, 0.0040 at $t$ = 3)")
    assert (sig(1.4214, True), sig(51.08, False), sig(0.0999, False)) == ("1.5", "51", "0.099")
    assert shape([4.0, 1.0, 0.5, 1.0, 3.0]).startswith(
        "is U-shaped: its minimum, 0.5, is at $t$ = 3")


def test_study_pieces_train_only_the_models_the_report_draws(tmp_path):
    """The study trains every model of MODELS by default; the report's pieces ask for RNN and LSTM
    (the curriculum for the RNN alone), the series of the committed report."""
    from experiments.length_study import main as study_main  # noqa: F401 (the script the pieces run)
    from report.pieces import MODES, PIECES
    from report.store import Context

    ctx = Context(out=tmp_path, mode="full", cfg=MODES["full"])
    for name, models in (("length_study", ["RNN", "LSTM"]), ("baseline", ["RNN", "LSTM"]),
                         ("curriculum", ["RNN"])):
        (cmd,) = next(p for p in PIECES if p.name == name).commands(ctx)
        cmd = [str(a) for a in cmd]
        last = len(cmd) - 1 - cmd[::-1].index("--models")  # argparse keeps the last one given
        assert cmd[0] == "experiments/length_study.py"
        assert cmd[last + 1:last + 1 + len(models)] == models and not cmd[last + 1 + len(models)].isalpha()
