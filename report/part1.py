"""Part 1 of the report: the length study (q. 1.3, 1.6), the optimizers (q. 1.4), the gradients over
time (q. 1.7) and the parameter count (q. 1.5), from what the part-1 scripts wrote under
``<out>/.cache/<piece>/``."""
from __future__ import annotations

import math

from common.io import markdown_table, read_csv, read_json
from part1.study import recipe_kind
from report.store import Context, need, pct, put_figure, put_file, put_table, put_values, pyplot, savefig

OPTIMIZERS = ["sgd", "momentum", "rmsprop", "adam"]


def _is_curriculum(row: dict) -> bool:
    return recipe_kind(row) == "curriculum"


def _from_scratch(rows: list[dict]) -> list[dict]:
    """The rows of the tuned length study; those of its curriculum and baseline variants
    (``length_study.py --curriculum`` / ``--baseline``) are separate series, never mixed in."""
    return [r for r in rows if recipe_kind(r) == "tuned"]


def _longest_solved(rows: list[dict], model: str, threshold: float = 0.99):
    """Longest T such that every studied length up to T has every seed at or above ``threshold``
    (from-scratch rows only), and the accuracies by length it was judged on."""
    by_len: dict[int, list[float]] = {}
    for r in _from_scratch(rows):
        if r["model_type"] == model:
            by_len.setdefault(int(r["input_length"]), []).append(float(r["test_accuracy"]))
    best = None
    for length in sorted(by_len):
        if min(by_len[length]) < threshold:
            break
        best = length
    return best, by_len


def _mean_steps(rows: list[dict], model: str, length: int) -> str:
    steps = [int(r["steps"]) for r in rows if r["model_type"] == model and int(r["input_length"]) == length]
    return f"{sum(steps) / len(steps):,.0f}" if steps else "-"


def _recipe_table(rows: list[dict]) -> str:
    """One row per (model, length): the hyper-parameters the study trained it with."""
    seen, table = set(), []
    for r in rows:
        key = (r["model_type"], int(r["input_length"]))
        if key in seen:
            continue
        seen.add(key)
        rnn = r["model_type"] == "RNN"
        init = r["init"] + (f", W_hh {r['recurrent_init']}" if rnn else "")
        gates = "chrono" if r["chrono"] else ("-" if rnn else "b_f = 1")
        table.append([r["model_type"], r["input_length"], r["optimizer"], r["learning_rate"],
                      r["batch_size"], r["input_dim"], r["num_hidden"], init, gates,
                      r["max_norm"], r["train_steps"], r["time_limit"]])
    return markdown_table(
        ["model", "T", "optimizer", "learning rate", "batch", "input dim", "hidden", "init",
         "gate biases", "clip norm", "step budget", "time limit (s)"], table)


def _length_study_values(rows: list[dict]) -> dict:
    """The study's headline numbers (from-scratch rows only)."""
    values = {}
    for model in ("LSTM", "RNN"):
        solved, by_len = _longest_solved(rows, model)
        if not by_len:
            continue
        longest, key = max(by_len), f"length_study.{model.lower()}"
        values[f"{key}_max_length_99"] = str(solved) if solved else "none"
        values[f"{key}_longest"] = str(longest)
        values[f"{key}_acc_longest"] = pct(sum(by_len[longest]) / len(by_len[longest]))
        values[f"{key}_lengths"] = ", ".join(map(str, sorted(by_len)))
        values[f"{key}_steps_longest"] = _mean_steps(rows, model, longest)
    unfinished = [f"{r['model_type']} T={r['input_length']} seed {r['seed']} ({r['status']}, "
                  f"{pct(r['test_accuracy'])})" for r in rows if r["status"] != "early_stop"]
    values["length_study.unfinished"] = "; ".join(unfinished) if unfinished else "none"
    values["length_study.seeds"] = str(len({r["seed"] for r in rows}))
    common = sorted(set.intersection(*[{int(r["input_length"]) for r in rows if r["model_type"] == m}
                                       for m in ("LSTM", "RNN")]) or {0})
    values["length_study.common_longest"] = str(common[-1]) if common[-1] else "none"
    for model in ("LSTM", "RNN"):
        values[f"length_study.{model.lower()}_steps_common"] = _mean_steps(rows, model, common[-1])
    return values


def _curriculum_sentence(rows: list[dict]) -> str:
    """One sentence on the curriculum rows of the study folder (``length_study.py --curriculum``)."""
    warm = [r for r in rows if _is_curriculum(r)]
    if not warm:
        return ("No curriculum run (`part1/length_study.py --curriculum`) was recorded in this "
                "study folder.")
    parts = []
    for model in sorted({r["model_type"] for r in warm}):
        mine = [r for r in warm if r["model_type"] == model]
        lengths = sorted({int(r["input_length"]) for r in mine})
        steps = sum(int(r["steps"]) for r in mine) / len(mine)
        parts.append(f"the {model}, warm-started at each length from the next shorter one, reached "
                     f"at least {pct(min(float(r['test_accuracy']) for r in mine))} held-out "
                     f"accuracy at every length from {lengths[0]} to {lengths[-1]} and every seed, "
                     f"after {steps:,.0f} steps per length on average")
    return ("With the curriculum variant (`part1/length_study.py --curriculum`, the "
            "\"(curriculum)\" rows and dotted series above) " + "; ".join(parts) + ".")


def collect_length_study(ctx: Context) -> None:
    c = ctx.cache("length_study")
    put_figure(ctx, c / "accuracy_vs_length.png", "length_study.png")
    put_table(ctx, "length_study.md", need(c / "accuracy_vs_length.md").read_text(encoding="utf-8"))
    put_file(ctx, c / "results.csv", "length_study.csv")
    every = read_csv(c / "results.csv")
    rows = _from_scratch(every)
    put_table(ctx, "length_study_recipes.md", _recipe_table(rows))
    values = _length_study_values(rows)
    sizes = {read_json(p).get("test_size") for p in (c / "runs").glob("*/result.json")}
    values["length_study.test_size"] = ", ".join(f"{s:,}" for s in sorted(s for s in sizes if s))
    values["length_study.curriculum"] = _curriculum_sentence(every)
    put_values(ctx, values)


def collect_optimizers(ctx: Context) -> None:
    c = ctx.cache("optimizers")
    plt = pyplot()
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.8))
    rows, values = [], {}
    for opt in OPTIMIZERS:
        metrics = read_csv(need(c / opt / "metrics.csv"))
        result = read_json(need(c / opt / "result.json"))
        config = read_json(need(c / opt / "config.json"))
        args = config["args"]
        lr, length = args["learning_rate"], args["input_length"]
        steps = [int(m["step"]) for m in metrics]
        acc = [float(m["val_accuracy"]) for m in metrics]
        ax1.plot(steps, acc, marker=".", label=opt)
        ax2.plot(steps, [float(m["val_loss"]) for m in metrics], marker=".", label=opt)
        first = next((s for s, a in zip(steps, acc) if a >= 0.99), None)
        norms = sorted(float(m["grad_norm"]) for m in metrics)
        rows.append([opt, args["learning_rate"], result["steps"], pct(result["test_accuracy"]),
                     f"{result['test_loss']:.4f}", first if first is not None else "never",
                     f"{norms[len(norms) // 2]:.3f}" if norms else "-",
                     f"{result['train_seconds']:.0f}"])
        values[f"optimizers.{opt}_accuracy"] = pct(result["test_accuracy"])
        values[f"optimizers.{opt}_loss"] = f"{result['test_loss']:.3f}"
    ax1.axhline(0.1, color="gray", ls=":", label="chance")
    ax1.set(xlabel="training step", ylabel="validation accuracy", ylim=(0, 1.02),
            title=f"LSTM, T = {length}, learning rate {lr:g}")
    ax2.set(xlabel="training step", ylabel="validation cross-entropy", yscale="log")
    for ax in (ax1, ax2):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    savefig(fig, ctx.figures / "optimizers.png")
    put_table(ctx, "optimizers.md", markdown_table(
        ["optimizer", "learning rate", "steps run", "held-out accuracy", "held-out loss",
         "first evaluation at >= 99%", "median gradient norm", "seconds"], rows))
    values.update({"optimizers.length": str(length), "optimizers.learning_rate": f"{lr:g}",
                   "optimizers.steps": str(args["train_steps"]),
                   "optimizers.time_limit": f"{args['time_limit']:g}"})
    put_values(ctx, values)


def _curve_slug(name: str) -> str:
    """'RNN untrained (uniform W_hh)' -> 'rnn_untrained_uniform'; 'RNN trained' -> 'rnn_trained'."""
    slug = name.split(" (")[0].replace(" ", "_").lower()
    if "(" in name:
        slug += "_" + name.split("(")[1].rstrip(")").split()[0].replace("=", "").lower()
    return slug


def collect_grads(ctx: Context) -> None:
    c = ctx.cache("grads")
    put_figure(ctx, c / "curves" / "grads_over_time.png", "grads_over_time.png")
    put_file(ctx, c / "curves" / "grads_over_time.csv", "grads_over_time.csv")
    measured = read_json(need(c / "curves" / "grads_over_time.json"))
    curves = measured["curves"]
    rows, values = [], {}
    for name, curve in curves.items():
        ratio = curve["ratio"]
        rows.append([name, f"{curve['last']:.2e}", f"{curve['first']:.2e}", f"{ratio:.1e}",
                     f"{math.log10(ratio):.1f}" if ratio > 0 else "-"])
        values[f"grads.ratio_{_curve_slug(name)}"] = f"{ratio:.1e}"
    put_table(ctx, "grads_summary.md", markdown_table(
        ["model", "‖∂L/∂h(T)‖", "‖∂L/∂h(1)‖", "ratio h(1)/h(T)", "log10 ratio"], rows))
    model_rows = []
    for model in ("RNN", "LSTM"):
        result, key = read_json(need(c / model / "result.json")), f"grads.{model.lower()}"
        model_rows.append([model, result["input_length"], result["steps"],
                           pct(result["test_accuracy"]), result["status"],
                           f"{result['train_seconds']:.0f}"])
        values[f"{key}_trained_accuracy"] = pct(result["test_accuracy"])
        values[f"{key}_trained_steps"] = str(result["steps"])
        ratio = curves[f"{model} trained"]["ratio"]
        values[f"{key}_trained_trend"] = (
            f"grows by a factor of {ratio:.2g} from h(T) back to h(1)" if ratio >= 1 else
            f"shrinks by a factor of {1 / ratio:.2g} from h(T) back to h(1)")
    put_table(ctx, "grads_models.md", markdown_table(
        ["trained model", "T", "steps", "held-out accuracy", "stopped by", "seconds"], model_rows))
    trained = read_json(need(c / "RNN" / "config.json"))["args"]
    values.update({"grads.length": str(measured["input_length"]),
                   "grads.batch": str(measured["batch_size"]),
                   "grads.time_limit": f"{trained['time_limit']:g}"})
    put_values(ctx, values)


def collect_param_count(ctx: Context) -> None:
    """Parameters of both cells counted in the code, against the formulas of question 1.5."""
    from part1.lstm import LSTM
    from part1.vanilla_rnn import VanillaRNN

    rows, values = [], {}
    n, K = 128, 10
    for d in (10, 1):
        for name, model, cell_formula, cell_text in (
                ("LSTM", LSTM(seq_length=10, input_dim=d, num_hidden=n, num_classes=K),
                 4 * (n * d + n * n + n), "4(nd + n² + n)"),
                ("RNN", VanillaRNN(seq_length=10, input_dim=d, num_hidden=n, num_classes=K),
                 n * d + n * n + n, "nd + n² + n")):
            params = dict(model.named_parameters())
            out_code = params["W_ph"].numel() + params["b_p"].numel()
            cell_code = sum(p.numel() for k, p in params.items() if k not in ("W_ph", "b_p"))
            total = sum(p.numel() for p in model.parameters())
            out_formula = K * n + K
            ok = "yes" if (cell_code, total) == (cell_formula, cell_formula + out_formula) else "NO"
            rows.append([name, d, n, K, f"{cell_text} = {cell_formula:,}", f"{cell_code:,}",
                         f"Kn + K = {out_formula:,}", f"{out_code:,}", f"{total:,}", ok])
            key = f"param.{name.lower()}_d{d}"
            values.update({f"{key}_cell": f"{cell_code:,}", f"{key}_total": f"{total:,}",
                           f"{key}_output": f"{out_code:,}"})
    put_table(ctx, "param_count.md", markdown_table(
        ["model", "d", "n", "K", "cell, formula", "cell, sum(p.numel())", "output layer, formula",
         "output, code", "total, code", "match"], rows))
    put_values(ctx, values)


def collect_baseline(ctx: Context) -> None:
    """To be written: the baseline series (the length study's table and figure read it)."""


def collect_curriculum(ctx: Context) -> None:
    """To be written: the curriculum rows."""


def collect_chrono_ablation(ctx: Context) -> None:
    """To be written: the chrono x learning-rate square."""
