"""Part 1 of the report: the length study (q. 1.3, 1.6; report/part1_study.py), the chrono x
learning-rate square (q. 1.6; report/part1_ablation.py), the optimizers (q. 1.4), the gradients
over time (q. 1.7) and the parameter count (q. 1.5), from what the part-1 scripts wrote under
``<out>/.cache/<piece>/``."""
from __future__ import annotations

import math

from common.io import markdown_table, read_csv, read_json
from report.part1_ablation import build_ablation
from report.part1_study import build_study
from report.store import (Context, need, pct_floor, put_figure, put_file, put_table, put_values, pyplot,
                          savefig)

OPTIMIZERS = ["sgd", "momentum", "rmsprop", "adam"]


def _rebuild(ctx: Context) -> None:
    """The study's table, figure and values and the square, from every piece finished so far: the
    last of the four collectors to run leaves the complete version."""
    build_study(ctx)
    build_ablation(ctx)


def collect_length_study(ctx: Context) -> None:
    need(ctx.cache("length_study") / "results.csv")
    _rebuild(ctx)


def collect_baseline(ctx: Context) -> None:
    need(ctx.cache("baseline") / "results.csv")
    _rebuild(ctx)


def collect_curriculum(ctx: Context) -> None:
    need(ctx.cache("curriculum") / "results.csv")
    _rebuild(ctx)


def collect_chrono_ablation(ctx: Context) -> None:
    if not any(ctx.cache("chrono_ablation").glob("*/result.json")):
        need(ctx.cache("chrono_ablation") / "result.json")  # names what is missing
    _rebuild(ctx)


def collect_optimizers(ctx: Context) -> None:
    c = ctx.cache("optimizers")
    plt = pyplot()
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.8))
    rows, values = [], {}
    for opt in OPTIMIZERS:
        metrics = read_csv(need(c / opt / "metrics.csv"))
        result = read_json(need(c / opt / "result.json"))
        args = read_json(need(c / opt / "config.json"))["args"]
        lr, length = args["learning_rate"], args["input_length"]
        steps = [int(m["step"]) for m in metrics]
        acc = [float(m["val_accuracy"]) for m in metrics]
        ax1.plot(steps, acc, marker=".", label=opt)
        ax2.plot(steps, [float(m["val_loss"]) for m in metrics], marker=".", label=opt)
        first = next((s for s, a in zip(steps, acc) if a >= 0.99), None)
        norms = sorted(float(m["grad_norm"]) for m in metrics)
        rows.append([opt, args["learning_rate"], f"{result['steps']:,}", result["status"],
                     pct_floor(result["test_accuracy"]), f"{result['test_loss']:.4f}",
                     f"{first:,}" if first is not None else "never",
                     f"{norms[len(norms) // 2]:.3g}" if norms else "-"])
        values[f"optimizers.{opt}_accuracy"] = pct_floor(result["test_accuracy"])
        values[f"optimizers.{opt}_loss"] = f"{result['test_loss']:.4f}"
        if norms:  # the length of a plain SGD step at the median gradient norm
            values[f"optimizers.{opt}_step"] = f"{lr * norms[len(norms) // 2]:.2g}"
    ax1.axhline(0.1, color="gray", ls=":", label="chance")
    ax1.set(xlabel="training step", ylabel="validation accuracy", ylim=(0, 1.02),
            title=f"LSTM, T = {length}, learning rate {lr:g}")
    ax2.set(xlabel="training step", ylabel="validation cross-entropy", yscale="log")
    for ax in (ax1, ax2):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    savefig(fig, ctx.figures / "optimizers.png")
    put_table(ctx, "optimizers.md", markdown_table(
        ["optimizer", "learning rate", "steps run", "status", "test accuracy", "test loss",
         "first step with validation accuracy ≥ 99%", "median gradient norm at evaluations"],
        rows))
    values.update({"optimizers.length": str(length), "optimizers.learning_rate": f"{lr:g}",
                   "optimizers.steps": f"{args['train_steps']:,}"})
    put_values(ctx, values)


def _curve_slug(name: str) -> str:
    """'RNN untrained (uniform W_hh)' -> 'rnn_untrained_uniform'; 'RNN trained' -> 'rnn_trained'."""
    slug = name.split(" (")[0].replace(" ", "_").lower()
    if "(" in name:
        slug += "_" + name.split("(")[1].rstrip(")").split()[0].replace("=", "").lower()
    return slug


def sig(x: float, up: bool | None, digits: int = 2) -> str:
    """``x`` to ``digits`` significant digits, rounded up or down so that a bound stays true (None:
    to the nearest)."""
    if x == 0:
        return "0"
    exponent = math.floor(math.log10(abs(x)))
    scale = 10.0 ** (exponent - digits + 1)
    if up is None:
        value = round(x / scale) * scale
    else:
        value = (math.ceil if up else math.floor)(x / scale - (1e-9 if up else -1e-9)) * scale
    if not 1e-4 <= abs(value) < 1e4:
        return f"{value:.{digits - 1}e}"
    return f"{value:.{max(0, digits - 1 - math.floor(math.log10(abs(value))))}f}"


def where_it_changes(norms: list[float], tol: float = 0.1) -> str:
    """Where along t a gradient-norm curve (index 0 is t = 1) changes: the steps near t = T over
    which it stays within ``tol`` of its total log change (the factor printed is the largest one
    measured there, rounded up), and what it does over the remaining steps."""
    T, first, last = len(norms), norms[0], norms[-1]
    total = abs(math.log10(first / last))
    if total < math.log10(2):
        return (f"ends within a factor of two of where it starts ({first:.2g} at $t$ = 1, "
                f"{last:.2g} at $t$ = {T}); over all $t$ it lies between {sig(min(norms), False)} "
                f"and {sig(max(norms), True)}")
    k = max(t for t in range(1, T + 1) if abs(math.log10(norms[t - 1] / last)) > tol * total)
    factor = max(max(v / last, last / v) for v in norms[k:])
    way = "rises" if first > last else "falls"
    return (f"stays within a factor {sig(factor, True)} of its value at $t$ = {T} from $t$ = {T} "
            f"back to $t$ = {k + 1}; from there to $t$ = 1 it {way} from {sig(norms[k], None)} to "
            f"{sig(first, None)}")


def shape(norms: list[float]) -> str:
    """A curve's minimum and whether it is U-shaped (both ends at least twice the minimum)."""
    T, low = len(norms), min(norms)
    m = norms.index(low) + 1
    ends = f"{norms[0]:.2g} at $t$ = 1, {norms[-1]:.2g} at $t$ = {T}"
    if 1 < m < T and min(norms[0], norms[-1]) >= 2 * low:
        return f"is U-shaped: its minimum, {low:.2g}, is at $t$ = {m} ({ends})"
    return f"has its minimum, {low:.2g}, at $t$ = {m} ({ends})"


def spread(norms: list[float]) -> str:
    """The band a curve stays in over all t, with its two ends."""
    return (f"lies between {sig(min(norms), False)} and {sig(max(norms), True)} at every $t$ "
            f"({sig(norms[0], None)} at $t$ = 1, {sig(norms[-1], None)} at $t$ = {len(norms)})")


def times(a: float, b: float) -> str:
    """'N times larger than' / 'N times smaller than' for a against b, N rounded down."""
    if a == b:
        return "equal to"
    return (f"{sig(a / b, False)} times larger than" if a > b else
            f"{sig(b / a, False)} times smaller than")


def _singular_values(curve: dict) -> str:
    sv = curve["w_hh_singular_values"]
    above = sum(v > 1 for v in sv)
    return (f"σ_max = {max(sv):.4f}, {above} of {len(sv)} singular values above one, spectral "
            f"radius {curve['spectral_radius']:.4f}")


def _cell_ratio(curve: dict) -> float | None:
    cells = curve.get("cell_norms")
    return cells[0] / cells[-1] if cells else None


def _grads_values(curves: dict) -> dict:
    """The generated sentences of 1.7, from the measured curves."""
    ratio = {_curve_slug(n): c["ratio"] for n, c in curves.items()}
    orth, chrono = ratio["rnn_untrained_orthogonal"], ratio["lstm_untrained_chrono"]
    lstm, uniform = curves["LSTM trained"], curves["RNN untrained (uniform W_hh)"]
    big = max(uniform["w_hh_singular_values"]) > 1
    note = ("so the bound of 1.1 already forces the product to shrink" if not big else
            "so the necessary condition of 1.1 for growth holds and the gradient still shrinks: "
            "the condition is not sufficient" if uniform["ratio"] < 1 else
            "so the necessary condition of 1.1 for growth holds, and the gradient grows")
    cell_chrono = _cell_ratio(curves["LSTM untrained (chrono)"])
    return {
        "grads.uniform_note": note,
        "grads.orth_vs_chrono": times(orth, chrono),
        "grads.cell_chrono_vs_orth": times(cell_chrono, orth) if cell_chrono else "-",
        "grads.uniform_sv": _singular_values(curves["RNN untrained (uniform W_hh)"]),
        "grads.rnn_trained_sv": _singular_values(curves["RNN trained"]),
        "grads.rnn_trained_curve": where_it_changes(curves["RNN trained"]["norms"]),
        "grads.lstm_trained_curve": shape(lstm["norms"]),
        "grads.lstm_cell_curve": spread(lstm["cell_norms"]) if "cell_norms" in lstm else "-",
    }


def collect_grads(ctx: Context) -> None:
    c = ctx.cache("grads")
    put_figure(ctx, c / "curves" / "grads_over_time.png", "grads_over_time.png")
    put_file(ctx, c / "curves" / "grads_over_time.csv", "grads_over_time.csv")
    measured = read_json(need(c / "curves" / "grads_over_time.json"))
    curves = measured["curves"]
    rows, values = [], _grads_values(curves)
    for name, curve in curves.items():
        ratio = curve["ratio"]
        cell = _cell_ratio(curve)
        rows.append([name, f"{curve['last']:.2e}", f"{curve['first']:.2e}", f"{ratio:.1e}",
                     "-" if cell is None else f"{cell:.1e}"])
        values[f"grads.ratio_{_curve_slug(name)}"] = f"{ratio:.1e}"
        values[f"grads.cell_ratio_{_curve_slug(name)}"] = "-" if cell is None else f"{cell:.1e}"
    put_table(ctx, "grads_summary.md", markdown_table(
        ["model", "‖∂L/∂h(T)‖", "‖∂L/∂h(1)‖", "ratio ‖∂L/∂h(1)‖ / ‖∂L/∂h(T)‖",
         "ratio ‖∂L/∂c(1)‖ / ‖∂L/∂c(T)‖"], rows))
    model_rows = []
    for model in ("RNN", "LSTM"):
        result = read_json(need(c / model / "result.json"))
        cap = read_json(need(c / model / "config.json"))["args"]["train_steps"]
        model_rows.append([model, result["input_length"], f"{result['steps']:,}", f"{cap:,}",
                           result["status"], pct_floor(result["test_accuracy"])])
    put_table(ctx, "grads_models.md", markdown_table(
        ["trained model", "T", "steps run", "step cap", "status", "test accuracy"], model_rows))
    values.update({"grads.length": str(measured["input_length"]),
                   "grads.batch": str(measured["batch_size"])})
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
            ok = ("yes" if (cell_code, out_code, total)
                  == (cell_formula, out_formula, cell_formula + out_formula) else "NO")
            rows.append([name, d, f"{cell_text} = {cell_formula:,}", f"{cell_code:,}",
                         f"{out_formula:,}", f"{total:,}", ok])
            key = f"param.{name.lower()}_d{d}"
            values.update({f"{key}_cell": f"{cell_code:,}", f"{key}_total": f"{total:,}",
                           f"{key}_output": f"{out_code:,}"})
    put_table(ctx, "param_count.md", markdown_table(
        ["model", "d", "cell, formula", "cell, counted", "output layer, Kn + K", "total, counted",
         "formula = count"], rows))
    put_values(ctx, values)
