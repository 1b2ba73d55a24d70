"""The length study of the report (q. 1.3, 1.6): the tuned recipes (piece ``length_study``), the
assignment's defaults (``baseline``) and the RNN curriculum (``curriculum``) in one table and one
Figure 1.3, and the chrono x learning-rate square at one length (``chrono_ablation``).

Each of the four collectors rebuilds the shared table, figure and values from whichever of the
study pieces has finished (``done.json``), so the one that runs last leaves the complete version
and a missing piece only leaves its series out.
"""
from __future__ import annotations

import math

from common.io import markdown_table, read_csv, read_json, write_csv
from report.store import (Context, pct_ceil, pct_floor, plural, put_file, put_table, put_values,
                          pyplot, savefig)

STUDY_PIECES = (("length_study", "tuned"), ("baseline", "baseline"), ("curriculum", "curriculum"))
# (model, kind) in table and legend order, with the figure's colour and marker
SERIES = ((("RNN", "tuned"), "tab:red", "s"), (("LSTM", "tuned"), "tab:blue", "o"),
          (("RNN", "baseline"), "tab:purple", "D"), (("LSTM", "baseline"), "tab:green", "^"),
          (("RNN", "curriculum"), "tab:orange", "v"), (("LSTM", "curriculum"), "tab:cyan", "<"))
KIND_LABEL = {"tuned": "tuned", "baseline": "baseline (assignment's training defaults)",
              "curriculum": "curriculum (separate study)"}
THRESHOLD = 0.99  # "solved": every seed's test accuracy at or above this


def recipe_kind(row: dict) -> str:
    """The row's ``recipe`` column; rows written before it existed are told by ``curriculum``."""
    return row.get("recipe") or ("curriculum" if row.get("curriculum") else "tuned")


def finished(ctx: Context, piece: str) -> bool:
    return (ctx.cache(piece) / "done.json").exists()


def study_rows(ctx: Context) -> list[dict]:
    """The rows of every finished study piece, each piece contributing its own kind only."""
    rows = []
    for piece, kind in STUDY_PIECES:
        c = ctx.cache(piece)
        if finished(ctx, piece) and (c / "results.csv").exists():
            config = read_json(c / "config.json") if (c / "config.json").exists() else {}
            recipes = config.get("recipes", {})
            for row in read_csv(c / "results.csv"):
                if recipe_kind(row) == kind:
                    cell = c / "cells" / f"{_cell_stem(row)}.json"
                    size = read_json(cell).get("test_size") if cell.exists() else None
                    size = size or recipes.get(f"{row['model_type']}_T{row['input_length']}",
                                               {}).get("test_size")
                    rows.append({**row, "kind": kind, "test_size": size})
    return rows


def _cell_stem(row: dict) -> str:
    suffix = {"tuned": "", "baseline": "_base", "curriculum": "_cur"}[recipe_kind(row)]
    return f"{row['model_type']}_T{int(row['input_length']):03d}_s{row['seed']}{suffix}"


def group(rows: list[dict]) -> dict:
    """(model, kind) -> {T: stats of its seeds}."""
    cells: dict = {}
    for r in rows:
        by_len = cells.setdefault((r["model_type"], r["kind"]), {})
        by_len.setdefault(int(r["input_length"]), []).append(r)
    out = {}
    for key, by_len in cells.items():
        out[key] = {}
        for length, seeds in sorted(by_len.items()):
            acc = [float(r["test_accuracy"]) for r in seeds]
            out[key][length] = {
                "mean": sum(acc) / len(acc), "min": min(acc), "max": max(acc), "seeds": len(acc),
                "steps": sum(int(r["steps"]) for r in seeds) / len(seeds),
                "most": max(int(r["steps"]) for r in seeds),
                "capped": [r for r in seeds if r["status"] != "early_stop"],
                "cap": int(seeds[0]["train_steps"]), "lr": float(seeds[0]["learning_rate"]),
                "test_size": max((r["test_size"] or 0) for r in seeds),
                "seen": min(int(r["steps"]) * int(r["batch_size"]) for r in seeds),
                "seen_max": max(int(r["steps"]) * int(r["batch_size"]) for r in seeds)}
    return out


def series_name(key) -> str:
    return f"{key[0]} {KIND_LABEL[key[1]]}"


def _inline_table(stats: dict) -> str:
    keys = [k for k, _, _ in SERIES if k in stats]
    lengths = sorted({t for k in keys for t in stats[k]})
    rows = []
    for t in lengths:
        row = [t]
        for k in keys:
            s = stats[k].get(t)
            row.append("" if s is None else
                       f"{pct_floor(s['min'])} ({s['steps']:,.0f}{'†' if s['capped'] else ''})")
        rows.append(row)
    return markdown_table(["T"] + [f"{k[0]} {k[1]}: min (mean steps)" for k in keys], rows)


def _full_table(stats: dict) -> str:
    rows = []
    for k, _, _ in SERIES:
        for t, s in stats.get(k, {}).items():
            capped = ", ".join(f"seed {r['seed']}: {r['status']} at {int(r['steps']):,}"
                               for r in s["capped"]) or "none"
            rows.append([series_name(k), t, s["seeds"], f"{s['lr']:g}", pct_floor(s["mean"]),
                         pct_floor(s["min"]), pct_floor(s["max"]), f"{s['steps']:,.0f}",
                         f"{s['cap']:,}", capped, f"{s['test_size']:,}" if s["test_size"] else "-"])
    return markdown_table(
        ["series", "T", "seeds", "learning rate", "mean test accuracy", "min", "max", "mean steps",
         "step cap", "seeds not stopped early", "test palindromes"], rows)


def _recipe_table(rows: list[dict]) -> str:
    """One row per (series, T): the flags it trained with."""
    seen, table = set(), []
    for r in rows:
        key = (r["model_type"], r["kind"], int(r["input_length"]))
        if key in seen:
            continue
        seen.add(key)
        rnn = r["model_type"] == "RNN"
        init = r["init"] + (f", W_hh {r['recurrent_init']}" if rnn else "")
        gates = "-" if rnn else "chrono" if r["chrono"] else "b_f = 1"
        table.append([series_name(key[:2]), key[2], r["optimizer"], r["learning_rate"],
                      r["batch_size"], r["input_dim"], r["num_hidden"], init, gates, r["max_norm"],
                      r["train_steps"], r["time_limit"]])
    return markdown_table(
        ["series", "T", "optimizer", "learning rate", "batch", "input dim", "hidden", "init",
         "gate biases", "clip norm", "step cap", "time limit (s)"], table)


def _figure(ctx: Context, stats: dict) -> tuple[int, int, float]:
    """Figure 1.3: test error rate on a log axis, mean over seeds with a min-max band. A zero error
    rate is drawn at a floor below the smallest non-zero mean (half of one error among all seeds'
    test answers), with an open marker. Returns the test-set size, the seeds and the floor."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(9, 4.4))
    cells = [s for k in stats for s in stats[k].values()]
    n = max((s["test_size"] or 0) for s in cells) or 1
    seeds = max(s["seeds"] for s in cells)
    floor = 0.5 / (n * seeds)
    for key, colour, marker in SERIES:
        if key not in stats:
            continue
        ts = list(stats[key])
        error = [1 - stats[key][t]["mean"] for t in ts]
        mean = [max(e, floor) for e in error]
        lo = [max(1 - stats[key][t]["max"], floor) for t in ts]
        hi = [max(1 - stats[key][t]["min"], floor) for t in ts]
        style = ":" if key[1] == "curriculum" else "-." if key[1] == "baseline" else "-"
        ax.plot(ts, mean, style, color=colour, label=series_name(key))
        ax.fill_between(ts, lo, hi, color=colour, alpha=0.15, lw=0)
        some = [(t, m) for t, m, e in zip(ts, mean, error) if e > 0]
        none = [t for t, e in zip(ts, error) if e <= 0]
        ax.plot([t for t, _ in some], [m for _, m in some], marker, color=colour, ls="none")
        ax.plot(none, [floor] * len(none), marker, color=colour, mfc="white", ls="none")
    ax.axhline(0.9, color="gray", ls=":", lw=1, label="chance (error 0.9)")
    ax.axhline(floor, color="black", lw=0.6, alpha=0.5, label=f"0 errors, drawn at {floor:.2g}")
    ax.set(xlabel="palindrome length T (digits read)", ylabel="test error rate (1 - accuracy)",
           yscale="log", title="Test error versus length: mean over seeds, band min-max")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))
    savefig(fig, ctx.figures / "length_study.png")
    return n, seeds, floor


def _early_stop_values(ctx: Context) -> dict:
    for piece, _ in STUDY_PIECES:
        path = ctx.cache(piece) / "config.json"
        if finished(ctx, piece) and path.exists():
            r = next(iter(read_json(path)["recipes"].values()))
            return {"length_study.eval_every": f"{r['eval_every']:,}",
                    "length_study.eval_size": f"{r['eval_size']:,}",
                    "length_study.early_stop_accuracy": pct_floor(r["early_stop_accuracy"], 1),
                    "length_study.patience": str(r["early_stop_patience"])}
    return {}


def _span(lengths: list[int]) -> str:
    return f"$T$ = {lengths[0]}" if len(lengths) == 1 else f"$T$ = {lengths[0]}–{lengths[-1]}"


def solved_up_to(series: dict):
    """Longest T such that at every studied length up to it every seed is at or above THRESHOLD,
    and the first length below it (None when there is none)."""
    best, fail = None, None
    for t, s in series.items():
        if s["min"] < THRESHOLD:
            fail = t
            break
        best = t
    return best, fail


def series_sentence(stats: dict, key) -> str:
    """What one series reached, e.g. 'every seed at or above 99% up to $T$ = 30; first below it at
    $T$ = 40 (mean 41.20%, min 10.11%); below it also at $T$ = 50 (mean 10.00%, min 9.87%)'."""
    series = stats[key]
    best, fail = solved_up_to(series)
    text = (f"every seed at or above {pct_floor(THRESHOLD, 0)} up to $T$ = {best}" if best else
            f"no length with every seed at or above {pct_floor(THRESHOLD, 0)}")
    below = [t for t, s in series.items() if s["min"] < THRESHOLD]
    last = max(series)

    def stat(t):
        return f"mean {pct_floor(series[t]['mean'])}, min {pct_floor(series[t]['min'])}"
    if fail is not None:
        text += f"; first below it at $T$ = {fail} ({stat(fail)})"
        also = below[1:]
        if also:
            text += "; below it also at $T$ = " + ", ".join(map(str, also))
            if last in also:
                text += f" ({stat(last)})" if also == [last] else f" (at $T$ = {last} {stat(last)})"
        elif last > fail:
            text += "; at or above it again at every longer length"
    if last not in below and last != best:
        text += f"; at $T$ = {last} {stat(last)}"
    return text


def overlap_sentence(stats: dict) -> str:
    """How much of the whole input space training saw at the two shortest lengths: at the shortest
    the least any run saw (a floor), at the next the most any run saw (a ceiling)."""
    lengths = sorted({t for series in stats.values() for t in series})
    parts = []
    for i, t in enumerate(lengths[:2]):
        digits = math.ceil((t + 1) / 2)
        distinct = 10 ** digits
        if i == 0:
            seen = min(series[t]["seen"] for series in stats.values() if t in series)
            cover = 1 - (1 - 1 / distinct) ** seen
            parts.append(
                f"At $T$ = {t} there are only {distinct:,} distinct palindromes (the first "
                f"{digits} digits decide one); even the shortest run there drew {seen:,} training "
                f"examples (steps × batch), an expected {pct_floor(cover)} of them, "
                + (f"so at $T$ = {t} the test set is not unseen data" if cover >= 0.5
                   else "so most test palindromes are still unseen there"))
        else:
            seen = max(series[t]["seen_max"] for series in stats.values() if t in series)
            cover = 1 - (1 - 1 / distinct) ** seen
            parts.append(f"at $T$ = {t} no run saw more than an expected {pct_ceil(cover)} of "
                         f"the {distinct:,}")
    return "; ".join(parts) + "." if parts else ""


def capped_sentence(stats: dict) -> str:
    """Which cells had seeds that ended on their step cap or time limit, from the status column."""
    parts = []
    for key, _, _ in SERIES:
        cells = [f"{t} ({len(s['capped'])} of {s['seeds']})"
                 for t, s in stats.get(key, {}).items() if s["capped"]]
        if cells:
            parts.append(f"{key[0]} {key[1]} at $T$ = " + ", ".join(cells))
    if not parts:
        return "Every run met the early-stopping criterion before its step cap."
    return ("Seeds that ended at their step cap or time limit (status column): "
            + "; ".join(parts) + ".")


def recipe_summary(stats: dict) -> str:
    """The tuned learning rates by length ('LSTM 0.003 at $T$ = 5–10, 0.01 at $T$ = 15–100')."""
    parts = []
    for model in ("RNN", "LSTM"):
        series = stats.get((model, "tuned"), {})
        by_lr: dict = {}
        for t, s in series.items():
            by_lr.setdefault(s["lr"], []).append(t)
        if by_lr:
            parts.append(f"{model} " + ", ".join(f"{lr:g} at {_span(ts)}"
                                                 for lr, ts in by_lr.items()))
    return "; ".join(parts) or "none (the tuned study did not finish)"


def curriculum_sentence(stats: dict) -> str:
    keys = [k for k in stats if k[1] == "curriculum"]
    if not keys:
        return "The curriculum study did not finish in this run."
    parts = []
    for key in keys:
        series = stats[key]
        low = min(s["min"] for s in series.values())
        steps = sum(s["steps"] for s in series.values()) / len(series)
        parts.append(f"the {key[0]} has a lowest test accuracy of {pct_floor(low)} over {_span(list(series))} and all "
                     f"seeds, after {steps:,.0f} steps per length on average")
    return "In the curriculum study " + "; ".join(parts) + "."


def compare_sentence(stats: dict) -> str:
    """Steps of the LSTM against the RNN at the longest length both tuned series were studied at
    (the baseline's longest lengths end mostly at the cap)."""
    pair = [stats.get((m, "tuned")) for m in ("LSTM", "RNN")]
    common = sorted(set(pair[0]) & set(pair[1])) if all(pair) else []
    if not common:
        return ""
    t = common[-1]
    lstm, rnn = (f"{'at least ' if p[t]['capped'] else ''}{p[t]['steps']:,.0f}" for p in pair)
    return (f"At $T$ = {t}, the longest length of both tuned series, the LSTM took {lstm} steps on "
            f"average, the RNN {rnn}.")


def cap_sentence(stats: dict) -> str:
    """The tuned RNN's step cap against the baseline's, and whether any tuned run up to the
    baseline's longest length needed more steps than the baseline was allowed."""
    tuned, base = stats.get(("RNN", "tuned")), stats.get(("RNN", "baseline"))
    if not (tuned and base):
        return ""
    cap_t, cap_b = max(s["cap"] for s in tuned.values()), max(s["cap"] for s in base.values())
    if cap_t <= cap_b:
        return ""
    last = max(base)
    most = max((s["most"] for t, s in tuned.items() if t <= last), default=0)
    verdict = (f"but up to $T$ = {last} no tuned run took more than {most:,} steps" if most <= cap_b
               else f"and up to $T$ = {last} a tuned run took {most:,} steps, more than that")
    return f"Its step cap is also higher ({cap_t:,} against {cap_b:,}), {verdict}."


def build_study(ctx: Context) -> None:
    """The length study's table, figure, CSV and values from every finished study piece."""
    rows = study_rows(ctx)
    if not rows:
        return
    stats = group(rows)
    n, most_seeds, floor = _figure(ctx, stats)
    put_table(ctx, "length_study.md", _inline_table(stats))
    put_table(ctx, "length_study_full.md", _full_table(stats))
    put_table(ctx, "length_study_recipes.md", _recipe_table(rows))
    fields = [k for k in rows[0] if k != "kind"]
    write_csv(ctx.tables / "length_study.csv", rows, fields)
    seeds = sorted({r["seed"] for r in rows})
    values = {"length_study.test_size": f"{n:,}", "length_study.floor": f"{floor:.2g}",
              "length_study.floor_seeds": str(most_seeds),
              "length_study.seeds": plural(len(seeds), "seed"),
              "length_study.overlap": overlap_sentence(stats),
              "length_study.capped": capped_sentence(stats),
              "length_study.recipes": recipe_summary(stats),
              "length_study.curriculum": curriculum_sentence(stats),
              "length_study.compare": compare_sentence(stats),
              "length_study.cap": cap_sentence(stats),
              "length_study.threshold": pct_floor(THRESHOLD, 0),
              **_early_stop_values(ctx)}
    for key, _, _ in SERIES:
        values[f"length_study.{key[0].lower()}_{key[1]}"] = (
            series_sentence(stats, key) if key in stats else "not measured in this run")
    put_values(ctx, values)
