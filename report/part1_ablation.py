"""The chrono x learning-rate square of question 1.6: the LSTM at one length with chrono
initialisation on or off and the learning rate 1e-3 or the tuned recipe's. Two corners are the
``chrono_ablation`` piece's own runs; the other two are the tuned study's and the baseline's cells
at the same length and seeds."""
from __future__ import annotations

import math

from common.io import markdown_table, read_json
from report.part1_study import finished, study_rows
from report.store import Context, pct_floor, plural, put_table, put_values

CORNERS = (("nochrono_lr1e-3", "off", "baseline"), ("chrono_lr1e-3", "on", "chrono_lr1e-3"),
           ("nochrono_lr_recipe", "off", "nochrono_lr_recipe"), ("chrono_lr_recipe", "on", "tuned"))


def _own_runs(ctx: Context) -> dict:
    """label -> {seed: run} for the piece's own two corners, and (T, recipe lr)."""
    c, runs, length, lr = ctx.cache("chrono_ablation"), {}, None, None
    for folder in sorted(c.glob("*_s*")):
        result, config = folder / "result.json", folder / "config.json"
        if not (result.exists() and config.exists()):
            continue
        r, args = read_json(result), read_json(config)["args"]
        label, seed = folder.name.rsplit("_s", 1)
        runs.setdefault(label, {})[int(seed)] = {
            "seed": int(seed), "steps": r["steps"], "status": r["status"],
            "acc": r["test_accuracy"], "cap": args["train_steps"], "lr": args["learning_rate"]}
        length = r["input_length"]
        if label == "nochrono_lr_recipe":
            lr = args["learning_rate"]
    return runs, length, lr


def corners(ctx: Context) -> tuple[dict, int | None, float | None]:
    """corner label -> list of runs (seed order), the length and the recipe's learning rate."""
    own, length, lr = _own_runs(ctx)
    if length is None:
        return {}, None, None
    seeds = sorted({s for runs in own.values() for s in runs})
    study = {"tuned": {}, "baseline": {}}
    for r in study_rows(ctx):
        if r["model_type"] == "LSTM" and int(r["input_length"]) == length and r["kind"] in study:
            study[r["kind"]][int(r["seed"])] = {
                "seed": int(r["seed"]), "steps": int(r["steps"]), "status": r["status"],
                "acc": float(r["test_accuracy"]), "cap": int(r["train_steps"]),
                "lr": float(r["learning_rate"])}
    out = {}
    for label, _, source in CORNERS:
        runs = own.get(source) if source in own else study.get(source, {})
        picked = [runs[s] for s in seeds if s in (runs or {})]
        if picked:
            out[label] = picked
    return out, length, lr


def _mean_steps(runs: list[dict]) -> float:
    return sum(r["steps"] for r in runs) / len(runs)


def _table(square: dict) -> str:
    rows = []
    for label, chrono, _ in CORNERS:
        runs = square.get(label)
        if not runs:
            rows.append([chrono, "-", "-", "not measured in this run", "-", "-"])
            continue
        steps = ", ".join(f"{r['steps']:,}{'†' if r['status'] != 'early_stop' else ''}"
                          for r in runs)
        accs = ", ".join(pct_floor(r["acc"]) for r in runs)
        rows.append([chrono, f"{runs[0]['lr']:g}", f"{runs[0]['cap']:,}", steps, accs,
                     f"{_mean_steps(runs):,.0f}"])
    return markdown_table(["chrono init", "learning rate", "step cap",
                           "steps per seed (†: cap or time limit)", "test accuracy per seed",
                           "mean steps"], rows)


def square_sentence(square: dict, lr: float) -> str:
    """What the square shows, chosen by comparing its measured mean step counts; no ranking when a
    mean is only a lower bound (a seed ran to its cap) or the caps differ."""
    if len(square) < len(CORNERS):
        return "The square is incomplete in this run (a piece it reads did not finish)."
    runs = [square[label] for label, _, _ in CORNERS]
    low = runs[0][0]["lr"]
    names = (f"no chrono at {low:g}", f"chrono at {low:g}", f"no chrono at {lr:g}",
             f"chrono at {lr:g}")
    caps = sorted({r["cap"] for rs in runs for r in rs})
    if len(caps) > 1:
        return ("The corners ran with different step caps in this run ("
                + ", ".join(f"{c:,}" for c in caps) + "), so their steps are not compared.")
    done = [n for n, rs in zip(names, runs) if all(r["status"] == "early_stop" for r in rs)]
    if len(done) < len(names):
        return ("Every seed stopped early only in " + (", ".join(done) or "no corner") + "; in the "
                "other corners a seed stopped at its cap or time limit, so their mean is a lower "
                "bound and the two factors are not ranked by steps.")
    a, b, c, d = (_mean_steps(rs) for rs in runs)
    chrono = [b < a, d < c]  # does chrono cut the steps at the low rate, at the recipe's?
    rate = [c < a, d < b]  # does the larger rate cut them without chrono, with it?
    if all(chrono) and all(rate):
        verdict = "each change cuts them on its own"
    elif chrono == [False, True] and rate == [False, True]:
        verdict = ("chrono cuts them only at the larger rate and the larger rate only with chrono: "
                   "here the two help only together")
    else:
        verdict = (f"chrono cuts them {_where(chrono, f'at {low:g}', f'at {lr:g}')}, the larger "
                   f"rate {_where(rate, 'without chrono', 'with chrono')}")
    return f"In mean steps (last column), {verdict}."


def _where(helps: list[bool], first: str, second: str) -> str:
    return ("in both cases" if all(helps) else "in neither case" if not any(helps) else
            f"only {first}" if helps[0] else f"only {second}")


def without_chrono(square: dict, lr: float) -> str:
    """Whether the larger rate trains without chrono: the claim the square was made to test."""
    runs = square.get("nochrono_lr_recipe")
    if not runs:
        return ""
    stopped = sum(r["status"] == "early_stop" for r in runs)
    outcome = ("every seed met the early-stopping criterion" if stopped == len(runs) else
               f"{stopped} of {plural(len(runs), 'seed')} met the early-stopping criterion")
    since = (", so at this length chrono is not what makes the larger rate usable"
             if stopped == len(runs) else "")
    return (f"Without chrono initialisation, at the larger learning rate {lr:g}, {outcome} "
            f"(lowest test accuracy {pct_floor(min(r['acc'] for r in runs))}){since}.")


def build_ablation(ctx: Context) -> None:
    if not finished(ctx, "chrono_ablation"):
        return
    square, length, lr = corners(ctx)
    if not square:
        return
    put_table(ctx, "chrono_ablation.md", _table(square))
    seeds = {r["seed"] for runs in square.values() for r in runs}
    put_values(ctx, {"chrono_ablation.length": str(length),
                     "chrono_ablation.seeds": plural(len(seeds), "seed"),
                     "chrono_ablation.lr": f"{lr:g}",
                     "chrono_ablation.summary": square_sentence(square, lr),
                     "chrono_ablation.without_chrono": without_chrono(square, lr)})
