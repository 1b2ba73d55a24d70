"""Turn the raw outputs of each reproduction piece into the report's figures, tables and values.

One ``collect_<piece>`` function per piece of ``reproduce.py``. Each reads what the parts' scripts
wrote under ``<out>/.cache/<piece>/`` and writes

* figures (PNG) into ``<out>/figures/``,
* tables (Markdown, sometimes CSV) into ``<out>/tables/``, inlined by ``{{table:NAME}}``,
* key numbers, already formatted, into ``<out>/values.json``, inlined by ``{{value:KEY}}``.

A few pieces have no script of their own because they are small computations made for the report
(the parameter count, the temperature example, over-smoothing): they are computed here, from the
project's own modules.
"""
from __future__ import annotations

import csv
import json
import math
import shutil
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Book-related prompts for the sentence completions (question 2.2) and beam search (2.3).
PROMPTS = ["Sleeping beauty is", "Once upon a time there was", "The wolf said", "The king said to his daughter"]
OPTIMIZERS = ["sgd", "momentum", "rmsprop", "adam"]


# ----------------------------------------------------------------------------------------------
# small helpers
# ----------------------------------------------------------------------------------------------

def md_table(header, rows) -> str:
    lines = ["| " + " | ".join(map(str, header)) + " |",
             "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def code_cell(text: str) -> str:
    """Generated text as a Markdown code span that survives a table cell."""
    text = text.replace("\\n", "\n").replace("\n", "↵").replace("`", "'").replace("|", "\\|")
    return f"`{text}`" if text.strip() else "(empty)"


def read_csv(path: Path) -> list[dict]:
    with open(path, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def csv_to_md(path: Path) -> str:
    with open(path, encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    header = [h if h else " " for h in rows[0]]
    return md_table(header, rows[1:])


def need(path: Path) -> Path:
    if not path.exists():
        raise FileNotFoundError(f"expected output '{path}' is missing")
    return path


def put_figure(ctx, source: Path, name: str) -> None:
    shutil.copyfile(need(source), ctx.figures / name)


def put_table(ctx, name: str, text: str) -> None:
    (ctx.tables / name).write_text(text, encoding="utf-8")


def put_values(ctx, **values) -> None:
    """Merge formatted values into values.json (keys ``piece.name``)."""
    path = ctx.out / "values.json"
    stored = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    stored.update({k.replace("__", "."): v for k, v in values.items()})
    path.write_text(json.dumps(stored, indent=2, sort_keys=True), encoding="utf-8")


def pct(x: float) -> str:
    return f"{100 * float(x):.1f}%"


def savefig(fig, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    import matplotlib.pyplot as plt

    plt.close(fig)


def pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


# ----------------------------------------------------------------------------------------------
# part 1
# ----------------------------------------------------------------------------------------------

def _from_scratch(rows: list[dict]) -> list[dict]:
    """The rows of the from-scratch length study; those of its curriculum variant
    (``length_study.py --curriculum``, ``curriculum`` True) are a separate series, never mixed
    in."""
    return [r for r in rows if str(r.get("curriculum", "False")) in ("False", "")]


def _longest_solved(rows: list[dict], model: str, threshold: float = 0.99):
    """Longest T such that every studied length up to T has every seed at or above ``threshold``
    (from-scratch rows only)."""
    by_len: dict[int, list[float]] = {}
    for r in _from_scratch(rows):
        if r["model_type"] == model:
            by_len.setdefault(int(r["input_length"]), []).append(float(r["test_accuracy"]))
    best = None
    for length in sorted(by_len):
        if min(by_len[length]) >= threshold:
            best = length
        else:
            break
    return best, by_len


def collect_length_study(ctx) -> None:
    c = ctx.cache("length_study")
    put_figure(ctx, c / "accuracy_vs_length.png", "length_study.png")
    put_table(ctx, "length_study.md", need(c / "accuracy_vs_length.md").read_text(encoding="utf-8"))
    shutil.copyfile(c / "results.csv", ctx.tables / "length_study.csv")
    rows = _from_scratch(read_csv(c / "results.csv"))  # every value below is from-scratch
    seen, recipe_rows = set(), []
    for r in rows:
        key = (r["model_type"], int(r["input_length"]))
        if key in seen:
            continue
        seen.add(key)
        init = r["init"] + (f", W_hh {r['recurrent_init']}" if r["model_type"] == "RNN" else "")
        gates = "chrono" if r["chrono"] == "True" else ("-" if r["model_type"] == "RNN" else "b_f = 1")
        recipe_rows.append([r["model_type"], r["input_length"], r["optimizer"], r["learning_rate"],
                            r["batch_size"], r["input_dim"], r["num_hidden"], init, gates,
                            r["max_norm"], r["train_steps"], r["time_limit"]])
    put_table(ctx, "length_study_recipes.md", md_table(
        ["model", "T", "optimizer", "learning rate", "batch", "input dim", "hidden", "init",
         "gate biases", "clip norm", "step budget", "time limit (s)"], recipe_rows))
    values = {}
    for model in ("LSTM", "RNN"):
        solved, by_len = _longest_solved(rows, model)
        if not by_len:
            continue
        longest = max(by_len)
        key = model.lower()
        values[f"length_study__{key}_max_length_99"] = str(solved) if solved else "none"
        values[f"length_study__{key}_longest"] = str(longest)
        values[f"length_study__{key}_acc_longest"] = pct(sum(by_len[longest]) / len(by_len[longest]))
        values[f"length_study__{key}_lengths"] = ", ".join(map(str, sorted(by_len)))
        steps = [int(r["steps"]) for r in rows
                 if r["model_type"] == model and int(r["input_length"]) == longest]
        values[f"length_study__{key}_steps_longest"] = f"{sum(steps) / len(steps):,.0f}"
    unfinished = [f"{r['model_type']} T={r['input_length']} seed {r['seed']} ({r['status']}, "
                  f"{pct(r['test_accuracy'])})" for r in rows if r["status"] != "early_stop"]
    values["length_study__unfinished"] = "; ".join(unfinished) if unfinished else "none"
    values["length_study__seeds"] = str(len({r["seed"] for r in rows}))
    common = sorted(set.intersection(*[{int(r["input_length"]) for r in rows if r["model_type"] == m}
                                       for m in ("LSTM", "RNN")]) or {0})
    values["length_study__common_longest"] = str(common[-1]) if common[-1] else "none"
    for model in ("LSTM", "RNN"):
        steps = [int(r["steps"]) for r in rows
                 if r["model_type"] == model and int(r["input_length"]) == common[-1]]
        values[f"length_study__{model.lower()}_steps_common"] = (
            f"{sum(steps) / len(steps):,.0f}" if steps else "-")
    values["length_study__test_size"] = ""  # filled below when available
    sizes = {json.loads(p.read_text(encoding="utf-8")).get("test_size")
             for p in (c / "runs").glob("*/result.json")}
    values["length_study__test_size"] = ", ".join(f"{s:,}" for s in sorted(s for s in sizes if s))
    values["length_study__curriculum"] = _curriculum_sentence(read_csv(c / "results.csv"))
    put_values(ctx, **values)


def _curriculum_sentence(rows: list[dict]) -> str:
    """One sentence on the curriculum rows of the study folder (``length_study.py --curriculum``)."""
    scratch = _from_scratch(rows)
    warm = [r for r in rows if r not in scratch]
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


def collect_optimizers(ctx) -> None:
    c = ctx.cache("optimizers")
    plt = pyplot()
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.8))
    rows, lr, length = [], None, None
    for opt in OPTIMIZERS:
        metrics = read_csv(need(c / opt / "metrics.csv"))
        result = json.loads(need(c / opt / "result.json").read_text(encoding="utf-8"))
        config = json.loads(need(c / opt / "config.json").read_text(encoding="utf-8"))
        args = config.get("args", config)
        lr, length = args["learning_rate"], args["input_length"]
        steps = [int(m["step"]) for m in metrics]
        acc = [float(m["test_accuracy"]) for m in metrics]
        loss = [float(m["test_loss"]) for m in metrics]
        ax1.plot(steps, acc, marker=".", label=opt)
        ax2.plot(steps, loss, marker=".", label=opt)
        first = next((s for s, a in zip(steps, acc) if a >= 0.99), None)
        norms = sorted(float(m["grad_norm"]) for m in metrics)
        rows.append([opt, args["learning_rate"], result["steps"], pct(result["test_accuracy"]),
                     f"{result['test_loss']:.4f}", first if first is not None else "never",
                     f"{norms[len(norms) // 2]:.3f}" if norms else "-",
                     f"{result['train_seconds']:.0f}"])
        put_values(ctx, **{f"optimizers__{opt}_accuracy": pct(result["test_accuracy"]),
                           f"optimizers__{opt}_loss": f"{result['test_loss']:.3f}"})
    ax1.axhline(0.1, color="gray", ls=":", label="chance")
    ax1.set(xlabel="training step", ylabel="held-out accuracy", ylim=(0, 1.02),
            title=f"LSTM, T = {length}, learning rate {lr:g}")
    ax2.set(xlabel="training step", ylabel="held-out cross-entropy", yscale="log")
    for ax in (ax1, ax2):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    savefig(fig, ctx.figures / "optimizers.png")
    put_table(ctx, "optimizers.md", md_table(
        ["optimizer", "learning rate", "steps run", "held-out accuracy", "held-out loss",
         "first evaluation at >= 99%", "median gradient norm", "seconds"], rows))
    put_values(ctx, optimizers__length=str(length), optimizers__learning_rate=f"{lr:g}",
               optimizers__steps=str(ctx.cfg["optimizers"]["train_steps"]),
               optimizers__time_limit=f"{ctx.cfg['optimizers']['time_limit']:g}")


def collect_grads(ctx) -> None:
    c = ctx.cache("grads")
    put_figure(ctx, c / "curves" / "grads_over_time.png", "grads_over_time.png")
    shutil.copyfile(need(c / "curves" / "grads_over_time.csv"), ctx.tables / "grads_over_time.csv")
    with open(c / "curves" / "grads_over_time.csv", encoding="utf-8", newline="") as handle:
        data = list(csv.reader(handle))
    header, body = data[0], data[1:]
    rows, values = [], {}
    for j, name in enumerate(header[1:], 1):
        first, last = float(body[0][j]), float(body[-1][j])
        ratio = first / last if last else float("nan")
        rows.append([name, f"{last:.2e}", f"{first:.2e}", f"{ratio:.1e}",
                     f"{math.log10(ratio):.1f}" if ratio > 0 else "-"])
        slug = name.split(" (")[0].replace(" ", "_").lower() + (
            "_" + name.split("(")[1].rstrip(")").split()[0].replace("=", "").lower()
            if "(" in name else "")
        values[f"grads__ratio_{slug}"] = f"{ratio:.1e}"
    put_table(ctx, "grads_summary.md", md_table(
        ["model", "‖∂L/∂h(T)‖", "‖∂L/∂h(1)‖", "ratio h(1)/h(T)", "log10 ratio"], rows))
    model_rows = []
    for model in ("RNN", "LSTM"):
        result = json.loads(need(c / model / "result.json").read_text(encoding="utf-8"))
        model_rows.append([model, result["input_length"], result["steps"],
                           pct(result["test_accuracy"]), result["status"],
                           f"{result['train_seconds']:.0f}"])
        values[f"grads__{model.lower()}_trained_accuracy"] = pct(result["test_accuracy"])
        values[f"grads__{model.lower()}_trained_steps"] = str(result["steps"])
        column = header.index(f"{model} trained")
        ratio = float(body[0][column]) / float(body[-1][column])
        values[f"grads__{model.lower()}_trained_trend"] = (
            f"grows by a factor of {ratio:.2g} from h(T) back to h(1)" if ratio >= 1 else
            f"shrinks by a factor of {1 / ratio:.2g} from h(T) back to h(1)")
    put_table(ctx, "grads_models.md", md_table(
        ["trained model", "T", "steps", "held-out accuracy", "stopped by", "seconds"], model_rows))
    g = ctx.cfg["grads"]
    values.update(grads__length=str(g["length"]), grads__batch=str(g["grad_batch"]),
                  grads__time_limit=f"{g['time_limit']:g}")
    put_values(ctx, **values)


def collect_param_count(ctx) -> None:
    from part1.lstm import LSTM
    from part1.vanilla_rnn import VanillaRNN

    rows, values = [], {}
    n, K = 128, 10
    for d in (10, 1):
        lstm = LSTM(seq_length=10, input_dim=d, num_hidden=n, num_classes=K)
        rnn = VanillaRNN(seq_length=10, input_dim=d, num_hidden=n, num_classes=K)
        for name, model, cell_formula, cell_text in (
                ("LSTM", lstm, 4 * (n * d + n * n + n), "4(nd + n² + n)"),
                ("RNN", rnn, n * d + n * n + n, "nd + n² + n")):
            params = dict(model.named_parameters())
            out_code = params["W_ph"].numel() + params["b_p"].numel()
            cell_code = sum(p.numel() for k, p in params.items() if k not in ("W_ph", "b_p"))
            total = sum(p.numel() for p in model.parameters())
            out_formula = K * n + K
            ok = "yes" if (cell_code, total) == (cell_formula, cell_formula + out_formula) else "NO"
            rows.append([name, d, n, K, f"{cell_text} = {cell_formula:,}", f"{cell_code:,}",
                         f"Kn + K = {out_formula:,}", f"{out_code:,}", f"{total:,}", ok])
            key = f"param__{name.lower()}_d{d}"
            values[key + "_cell"] = f"{cell_code:,}"
            values[key + "_total"] = f"{total:,}"
            values[key + "_output"] = f"{out_code:,}"
    put_table(ctx, "param_count.md", md_table(
        ["model", "d", "n", "K", "cell, formula", "cell, sum(p.numel())", "output layer, formula",
         "output, code", "total, code", "match"], rows))
    put_values(ctx, **values)


# ----------------------------------------------------------------------------------------------
# part 2
# ----------------------------------------------------------------------------------------------

def parse_training_samples(path: Path) -> list[dict]:
    """The blocks of part2/train.py's samples.txt: step, info line, and the labelled samples."""
    blocks = []
    for chunk in path.read_text(encoding="utf-8").split("## step ")[1:]:
        lines = chunk.rstrip("\n").split("\n")
        step, _, info = lines[0].partition(" ")
        block = {"step": int(step), "info": info.strip("()"), "groups": {}}
        label = None
        for line in lines[1:]:
            if line.startswith("  ") and label is not None:
                block["groups"][label].append(line[2:])
            elif line.endswith(":"):
                label = line[:-1]
                block["groups"][label] = []
        blocks.append(block)
    return blocks


def collect_part2_train(ctx) -> None:
    c = ctx.cache("part2_train")
    summary = c / "summary"
    put_figure(ctx, summary / "curves.png", "part2_curves.png")
    shutil.copyfile(need(summary / "metrics.csv"), ctx.tables / "part2_metrics.csv")
    config = json.loads(need(summary / "config.json").read_text(encoding="utf-8"))
    args = config["args"]
    skip = {"txt_file", "summary_path", "checkpoint_dir", "resume", "overwrite", "device",
            "no_progress", "print_every", "checkpoint_every", "book"}
    put_table(ctx, "part2_hyperparameters.md", md_table(
        ["flag", "value"], [[f"`--{k}`", "-" if v is None else v]
                            for k, v in args.items() if k not in skip]))
    for key, value in args.items():  # the run's hyper-parameters, for the prose of 2.1(a)
        put_values(ctx, **{f"part2__arg_{key}": "none" if value is None else f"{value:g}"
                           if isinstance(value, float) else str(value)})
    put_values(ctx, part2__preset=args.get("preset") or "none (the flags' defaults and the mode's budget)")
    metrics = read_csv(summary / "metrics.csv")
    val = [m for m in metrics if m["split"] == "val"]
    train = [m for m in metrics if m["split"].startswith("train")]
    values = {"part2__book": Path(args.get("txt_file") or str(args.get("book"))).name,
              "part2__vocab": str(config.get("vocab_size", "?")),
              "part2__train_chars": f"{config.get('train_chars', 0):,}",
              "part2__val_chars": f"{config.get('val_chars', 0):,}",
              "part2__parameters": f"{config.get('parameters', 0):,}"}
    if val:
        best = min(val, key=lambda m: float(m["loss"]))
        stream = {m["step"]: m for m in metrics if m["split"] == "val_stream"}
        values.update(part2__final_val_loss=f"{float(val[-1]['loss']):.3f}",
                      part2__final_val_accuracy=pct(val[-1]["accuracy"]),
                      part2__best_val_loss=f"{float(best['loss']):.3f}",
                      part2__best_val_step=best["step"],
                      part2__best_val_stream_loss=f"{float(stream[best['step']]['loss']):.3f}"
                      if best["step"] in stream else "?")
    last = (val or train)[-1]
    values.update(part2__steps=last["step"],
                  part2__minutes=f"{float(last['elapsed_s']) / 60:.1f}" if last.get("elapsed_s") else "?")
    blocks = parse_training_samples(need(summary / "samples.txt"))
    rows = []
    for b in blocks:
        greedy = next((v for k, v in b["groups"].items() if k.startswith("greedy, 30")), [])
        rows.append([b["step"], b["info"], "<br>".join(code_cell(s) for s in greedy)])
    put_table(ctx, "part2_stages.md", md_table(
        ["step", "at that step", "five greedy samples of 30 characters (random first character)"],
        rows))
    long_rows = []
    for b in blocks:
        greedy = next((v for k, v in b["groups"].items() if k.startswith("greedy, 120")), [])
        tau = {k: v for k, v in b["groups"].items() if k.startswith("sampled")}
        long_rows.append([b["step"], "<br>".join(code_cell(s) for s in greedy),
                          "<br>".join(f"τ={k.split('tau=')[1].split(' ')[0]}: {code_cell(v[0])}"
                                      for k, v in tau.items() if v)])
    put_table(ctx, "part2_stages_long.md", md_table(
        ["step", "greedy, 120 characters", "sampled at τ = 0.5, 1, 2 (120 characters)"], long_rows))
    values["part2__stages"] = ", ".join(str(b["step"]) for b in blocks)
    put_values(ctx, **values)


def parse_sample_output(text: str) -> list[dict]:
    """Entries of part2/sample.py's output: a '--- ...' header line, then the text."""
    entries = []
    for line in text.split("\n"):
        if line.startswith("--- "):
            entries.append({"header": line[4:], "lines": []})
        elif entries:
            entries[-1]["lines"].append(line)
    for e in entries:
        e["text"] = "\n".join(e.pop("lines")).rstrip("\n")
        e["logprob"] = None
        if "log-probability" in e["header"]:
            e["logprob"] = float(e["header"].split("log-probability ")[1].split()[0])
    return entries


def distinct_ngrams(text: str, n: int = 8) -> float:
    """Share of distinct character n-grams: 1 for text that never repeats itself, near 0 for a loop."""
    grams = [text[i:i + n] for i in range(len(text) - n + 1)]
    return len(set(grams)) / len(grams) if grams else float("nan")


def collect_part2_samples(ctx) -> None:
    c = ctx.cache("part2_samples")

    def read(label):
        return parse_sample_output(need(c / f"{label}.txt").read_text(encoding="utf-8"))

    def command(label):
        return (c / f"{label}.cmd").read_text(encoding="utf-8").replace(str(ctx.out), "<out>")

    s = ctx.cfg["part2_samples"]
    blocks = [f"Command: `{command('greedy_long')}`\n"]
    for i, e in enumerate(read("greedy_long"), 1):
        blocks.append(f"Greedy sample {i} ({s['long']} characters after a random first character):"
                      f"\n\n```text\n{e['text']}\n```\n")
    put_table(ctx, "part2_greedy_long.md", "\n".join(blocks))

    prompt = PROMPTS[1]
    rows = []
    for label, name in (("tau_0.5", "τ = 0.5"), ("tau_1", "τ = 1"), ("tau_2", "τ = 2"),
                        ("tau_greedy", "greedy (τ → ∞)")):
        for e in read(label):
            cont = e["text"][len(prompt):]
            rows.append([name, code_cell(cont), f"{distinct_ngrams(cont, 4):.2f}"])
    put_table(ctx, "part2_temperature_samples.md",
              f"Prompt `{prompt}`, {s['length']} characters each; the last column is the share of "
              "distinct 4-character strings in the continuation (lower means more repetition).\n\n"
              + md_table(["decoding", "continuation", "distinct 4-grams"], rows))

    comp_rows, beam_rows, better = [], [], 0
    for i, p in enumerate(PROMPTS[:s["prompts"]]):
        g = read(f"prompt{i}_beam1")[0]
        b = read(f"prompt{i}_beam5")[0]
        samples = read(f"prompt{i}_sample")
        comp_rows.append([code_cell(p), "greedy", code_cell(g["text"][len(p):])])
        comp_rows.append([code_cell(p), "beam, width 5", code_cell(b["text"][len(p):])])
        for e in samples:
            comp_rows.append([code_cell(p), "sampled, τ = 1", code_cell(e["text"][len(p):])])
        gc, bc = g["text"][len(p):], b["text"][len(p):]
        sc = [e["text"][len(p):] for e in samples]
        beam_rows.append([code_cell(p), f"{g['logprob']:.2f}", f"{b['logprob']:.2f}",
                          f"{distinct_ngrams(gc):.2f}", f"{distinct_ngrams(bc):.2f}",
                          f"{sum(distinct_ngrams(t) for t in sc) / len(sc):.2f}"])
        better += b["logprob"] >= g["logprob"] - 1e-9
    put_table(ctx, "part2_completions.md", md_table(["prompt", "decoding", "continuation"],
                                                    comp_rows))
    put_table(ctx, "part2_beam.md", md_table(
        ["prompt", "log p, greedy (beam width 1)", "log p, beam width 5",
         "distinct 8-grams, greedy", "distinct 8-grams, beam", "distinct 8-grams, sampled τ=1"],
        beam_rows))
    greedy_texts = {read(f"prompt{i}_beam1")[0]["text"][len(p):]
                    for i, p in enumerate(PROMPTS[:s["prompts"]])}
    put_values(ctx, part2__beam_better=f"{better} of {s['prompts']}",
               part2__prompts=str(s["prompts"]), part2__greedy_distinct=str(len(greedy_texts)),
               part2__sample_length=str(s["length"]), part2__long_length=str(s["long"]),
               part2__temperature_prompt=prompt)


def collect_temperature(ctx) -> None:
    """softmax(tau * x) for a fixed toy vector of logits: how tau reshapes the distribution."""
    chars = ["e", "a", "o", "i", "u"]
    logits = [2.0, 1.0, 0.5, 0.0, -1.0]
    rows = [["logit x", *[f"{v:g}" for v in logits], "-", "-"]]
    values = {}
    for tau in (0.5, 1.0, 2.0, 10.0):
        z = [tau * v for v in logits]
        m = max(z)
        e = [math.exp(v - m) for v in z]
        p = [v / sum(e) for v in e]
        entropy = -sum(q * math.log(q) for q in p if q > 0)
        rows.append([f"τ = {tau:g}", *[f"{q:.3f}" for q in p], f"{entropy:.3f}",
                     f"{math.exp(entropy):.2f}"])
        values[f"temperature__p_top_tau_{tau:g}".replace(".", "_")] = f"{p[0]:.3f}"
        values[f"temperature__entropy_tau_{tau:g}".replace(".", "_")] = f"{entropy:.3f}"
    rows.append(["τ → ∞ (greedy)", "1.000", *["0.000"] * (len(chars) - 1), "0.000", "1.00"])
    rows.append(["τ → 0", *[f"{1 / len(chars):.3f}"] * len(chars), f"{math.log(len(chars)):.3f}",
                 f"{len(chars):.2f}"])
    put_table(ctx, "temperature_example.md", md_table(
        ["", *[f"p({ch})" for ch in chars], "entropy (nats)", "effective choices e^H"], rows))
    values["temperature__logits"] = ", ".join(f"{v:g}" for v in logits)
    put_values(ctx, **values)


# ----------------------------------------------------------------------------------------------
# part 3
# ----------------------------------------------------------------------------------------------

def collect_figure2(ctx) -> None:
    import torch

    from part3.gcn import normalized_adjacency

    c = ctx.cache("figure2")
    put_figure(ctx, c / "figure2.png", "figure2.png")
    for name in ("a_tilde", "hops", "spread"):
        put_table(ctx, f"figure2_{name}.md", csv_to_md(need(c / f"{name}.csv")))
    summary = json.loads(need(c / "figure2.json").read_text(encoding="utf-8"))
    nodes = summary["nodes"]
    a_tilde = torch.tensor(summary["a_tilde"], dtype=torch.float64)
    a = a_tilde - torch.eye(len(nodes), dtype=torch.float64)
    a_hat = normalized_adjacency(a)
    put_table(ctx, "figure2_a_hat.md", md_table(
        [" ", *nodes], [[n, *[f"{float(v):.3f}" for v in row]] for n, row in zip(nodes, a_hat)]))
    degrees = a_tilde.sum(1)
    put_table(ctx, "figure2_degrees.md", md_table(
        ["node", *nodes], [["D̃ᵢᵢ = degree + 1", *[f"{int(d)}" for d in degrees]]]))
    up = summary["updates"]
    spread = read_csv(c / "spread.csv")
    k = int(up["k"])
    put_values(ctx, figure2__source=up["source"], figure2__target=up["target"],
               figure2__k=str(k),
               figure2__target_before=spread[k - 1][up["target"]] if k - 1 < len(spread) else "?",
               figure2__target_at_k=spread[k][up["target"]] if k < len(spread) else "?")


def collect_karate(ctx) -> None:
    c = ctx.cache("karate")
    put_figure(ctx, c / "embedding.png", "karate_embedding.png")
    metrics = json.loads(need(c / "metrics.json").read_text(encoding="utf-8"))
    rows = [[r["seed"], " ".join(map(str, r["labelled"])), r["held_out"],
             pct(r["held_out_accuracy"]), f"{r['train_loss']:.4f}"] for r in metrics["runs"]]
    put_table(ctx, "karate.md", md_table(
        ["seed", "labelled nodes", "held-out nodes", "held-out accuracy", "final train loss"], rows))
    history = read_csv(need(c / "history.csv"))
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.5))
    line1, = ax.plot([int(h["epoch"]) for h in history], [float(h["train_loss"]) for h in history],
                     label="train loss (labelled nodes)")
    ax2 = ax.twinx()
    line2, = ax2.plot([int(h["epoch"]) for h in history],
                      [float(h["held_out_accuracy"]) for h in history],
                      color="tab:orange", label="held-out accuracy")
    ax.set(xlabel="epoch", ylabel="cross-entropy", title=f"GCN on the karate club, seed {rows[0][0]}")
    ax2.set(ylabel="held-out accuracy", ylim=(0, 1.02))
    ax.legend(handles=[line1, line2], loc="center right", fontsize=8)
    savefig(fig, ctx.figures / "karate_curve.png")
    s, a = metrics["summary"], metrics["args"]
    put_values(ctx, karate__mean=pct(s["mean"]), karate__std=pct(s["std"]), karate__min=pct(s["min"]),
               karate__max=pct(s["max"]), karate__seeds=str(s["seeds"]),
               karate__epochs=str(a["epochs"]), karate__hidden=str(a["hidden"]),
               karate__labelled=str(a["labelled_per_class"]), karate__lr=f"{a['lr']:g}",
               karate__dropout=f"{a['dropout']:g}", karate__weight_decay=f"{a['weight_decay']:g}")


def collect_oversmoothing(ctx) -> None:
    """Propagate random node features with Â^k on the karate club graph and measure how alike the
    nodes become (mean |cosine| between node vectors), plain and with an initial-residual term."""
    import networkx as nx
    import torch

    from part3.gcn import normalized_adjacency

    graph = nx.karate_club_graph()
    n = graph.number_of_nodes()
    a = torch.zeros(n, n, dtype=torch.float64)
    for u, v in graph.edges():
        a[u, v] = a[v, u] = 1.0
    a_hat = normalized_adjacency(a)
    x = torch.randn(n, 16, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    alpha = 0.1

    def similarity(h):
        unit = h / h.norm(dim=1, keepdim=True).clamp_min(1e-300)
        cos = (unit @ unit.t()).abs()
        return float((cos.sum() - cos.diagonal().sum()) / (n * (n - 1)))

    depths = list(range(0, 65))
    plain, residual = [], []
    h_plain, h_res = x.clone(), x.clone()
    for k in depths:
        if k > 0:
            h_plain = a_hat @ h_plain
            h_res = (1 - alpha) * (a_hat @ h_res) + alpha * x
        plain.append(similarity(h_plain))
        residual.append(similarity(h_res))
    shown = [0, 1, 2, 4, 8, 16, 32, 64]
    put_table(ctx, "oversmoothing.md", md_table(
        ["layers k", *shown],
        [["plain Âᵏ X", *[f"{plain[k]:.3f}" for k in shown]],
         [f"with initial residual, α = {alpha:g}", *[f"{residual[k]:.3f}" for k in shown]]]))
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(depths, plain, label="H ← Â H (plain GCN propagation)")
    ax.plot(depths, residual, label=f"H ← (1-α) Â H + α X, α = {alpha:g}")
    ax.set(xlabel="propagation steps (layers)", ylabel="mean |cosine| between nodes",
           ylim=(0, 1.02), title="Over-smoothing on the karate club (random features)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    savefig(fig, ctx.figures / "oversmoothing.png")
    put_values(ctx, oversmoothing__k0=f"{plain[0]:.2f}", oversmoothing__k2=f"{plain[2]:.2f}",
               oversmoothing__k8=f"{plain[8]:.2f}", oversmoothing__k64=f"{plain[64]:.3f}",
               oversmoothing__res_k64=f"{residual[64]:.2f}", oversmoothing__alpha=f"{alpha:g}")


# ----------------------------------------------------------------------------------------------
# the run itself
# ----------------------------------------------------------------------------------------------

def write_run_info(ctx, piece_names: list, records: dict, environment: dict) -> None:
    """Timings of every finished piece (from its done.json) and facts about this run."""
    rows, total = [], 0.0
    for name in piece_names:
        marker = ctx.cache(name) / "done.json"
        if not marker.exists():
            rows.append([name, "-", "not run", "-", "-"])
            continue
        rec = json.loads(marker.read_text(encoding="utf-8"))
        total += rec["seconds"]
        status = records.get(name, {}).get("status", "earlier run")
        rows.append([name, rec["mode"], status, f"{rec['seconds']:.0f}", rec["finished"]])
    put_table(ctx, "timings.md", md_table(
        ["piece", "mode", "this invocation", "seconds (when it ran)", "finished"], rows))
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                                capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    flag = {"smoke": " --smoke", "quick": " --quick", "full": ""}[ctx.mode]
    put_values(ctx, run__mode=ctx.mode, run__command=f"python reproduce.py{flag}",
               run__total_minutes=f"{total / 60:.1f}", run__date=time.strftime("%Y-%m-%d"),
               run__commit=commit or "unknown", run__torch=environment["torch"],
               run__cpu_count=str(environment["cpu_count"]), run__platform=environment["platform"])
