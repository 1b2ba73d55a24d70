"""Part 2 of the report: the character LSTM's training (q. 2.1), its samples, completions and beam
search (q. 2.1-2.3), and a worked temperature example (q. 2.1c), from what ``part2/train.py`` and
``part2/sample.py`` wrote under ``<out>/.cache/<piece>/``."""
from __future__ import annotations

import json
import math
from pathlib import Path

from common.io import markdown_table, read_json
from report.store import Context, code_cell, need, pct, put_figure, put_file, put_table, put_values

# Book-related prompts for the sentence completions (question 2.2) and beam search (2.3).
PROMPTS = ["Sleeping beauty is", "Once upon a time there was", "The wolf said",
           "The king said to his daughter"]
# Flags of the run that say nothing about the model or its training (paths, logging, resuming).
BOOKKEEPING = {"txt_file", "summary_path", "checkpoint_dir", "resume", "overwrite", "device",
               "no_progress", "quiet", "print_every", "checkpoint_every", "book"}


def read_training_samples(path: Path) -> list[dict]:
    """The rows of part2/train.py's samples.jsonl: step, validation_loss, groups (kind, length,
    temperature, prompt, texts)."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _texts(row: dict, kind: str, length: int) -> list[str]:
    return next((g["texts"] for g in row["groups"] if g["kind"] == kind and g["length"] == length), [])


def _at_step(row: dict) -> str:
    loss = row["validation_loss"]
    return "no validation yet" if loss is None else f"validation loss {loss:.4f}"


def _stage_tables(ctx: Context, rows: list[dict]) -> None:
    """What the model wrote at each sampling step of its training."""
    put_table(ctx, "part2_stages.md", markdown_table(
        ["step", "at that step", "five greedy samples of 30 characters (random first character)"],
        [[r["step"], _at_step(r), "<br>".join(code_cell(s) for s in _texts(r, "greedy", 30))] for r in rows]))
    long_rows = []
    for r in rows:
        sampled = [g for g in r["groups"] if g["kind"] == "temperature" and g["texts"]]
        long_rows.append([r["step"], "<br>".join(code_cell(s) for s in _texts(r, "greedy", 120)),
                          "<br>".join(f"τ={g['temperature']:g}: {code_cell(g['texts'][0])}" for g in sampled)])
    put_table(ctx, "part2_stages_long.md", markdown_table(
        ["step", "greedy, 120 characters", "sampled at τ = 0.5, 1, 2 (120 characters)"], long_rows))


def _flag_value(value) -> str:
    return "none" if value is None else f"{value:g}" if isinstance(value, float) else str(value)


def _result_values(result: dict) -> dict:
    """Best and last validation loss, steps and minutes of the run (part2/train.py's result.json)."""
    values = {"part2.steps": str(result["steps"]),
              "part2.minutes": f"{result['seconds'] / 60:.1f}" if result["seconds"] else "?"}
    if result["best_val_loss"] is not None:
        stream = result["best_val_stream_loss"]
        values.update({
            "part2.final_val_loss": f"{result['last_val_loss']:.3f}",
            "part2.final_val_accuracy": pct(result["last_val_accuracy"]),
            "part2.best_val_loss": f"{result['best_val_loss']:.3f}",
            "part2.best_val_step": str(result["best_val_step"]),
            "part2.best_val_stream_loss": "?" if stream is None else f"{stream:.3f}"})
    return values


def collect_part2_train(ctx: Context) -> None:
    summary = ctx.cache("part2_train") / "summary"
    put_figure(ctx, summary / "curves.png", "part2_curves.png")
    put_file(ctx, summary / "metrics.csv", "part2_metrics.csv")
    config = read_json(need(summary / "config.json"))
    args = config["args"]
    put_table(ctx, "part2_hyperparameters.md", markdown_table(
        ["flag", "value"], [[f"`--{k}`", "-" if v is None else v]
                            for k, v in args.items() if k not in BOOKKEEPING]))
    # the run's hyper-parameters, for the prose of 2.1(a), which gives the time limit in minutes
    values = {f"part2.arg_{key}": _flag_value(value) for key, value in args.items()}
    if args.get("time_limit") is not None:
        values["part2.arg_time_limit"] = _flag_value(args["time_limit"] / 60)
    values.update({
        "part2.preset": args.get("preset") or "none (the flags' defaults and the mode's budget)",
        "part2.book": Path(args.get("txt_file") or str(args.get("book"))).name,
        "part2.vocab": str(config.get("vocab_size", "?")),
        "part2.train_chars": f"{config.get('train_chars', 0):,}",
        "part2.val_chars": f"{config.get('val_chars', 0):,}",
        "part2.parameters": f"{config.get('parameters', 0):,}"})
    values.update(_result_values(read_json(need(summary / "result.json"))))
    rows = read_training_samples(need(summary / "samples.jsonl"))
    _stage_tables(ctx, rows)
    values["part2.stages"] = ", ".join(str(r["step"]) for r in rows)
    put_values(ctx, values)


def distinct_ngrams(text: str, n: int = 8) -> float:
    """Share of distinct character n-grams: 1 for text that never repeats itself, near 0 for a loop."""
    grams = [text[i:i + n] for i in range(len(text) - n + 1)]
    return len(set(grams)) / len(grams) if grams else float("nan")


class SampleOutputs:
    """The outputs of the part2_samples piece: per job label the ``--json`` file of part2/sample.py
    (samples: text, continuation, log_probability) and the command that wrote it (done.json)."""

    def __init__(self, ctx: Context):
        self.ctx, self.folder = ctx, ctx.cache("part2_samples")

    def read(self, label: str) -> list[dict]:
        return read_json(need(self.folder / f"{label}.json"))["samples"]

    def command(self, label: str) -> str:
        commands = read_json(need(self.folder / "done.json"))["commands"]
        mine = next(c for c in commands if f"{label}.json" in c)
        return mine.replace(str(self.ctx.out), "<out>")


def _greedy_long_table(ctx: Context, outputs: SampleOutputs, length: int) -> None:
    blocks = [f"Command: `{outputs.command('greedy_long')}`\n"]
    for i, e in enumerate(outputs.read("greedy_long"), 1):
        blocks.append(f"Greedy sample {i} ({length} characters after a random first character):"
                      f"\n\n```text\n{e['text']}\n```\n")
    put_table(ctx, "part2_greedy_long.md", "\n".join(blocks))


def _temperature_table(ctx: Context, outputs: SampleOutputs, length: int) -> None:
    prompt, rows = PROMPTS[1], []
    for label, name in (("tau_0.5", "τ = 0.5"), ("tau_1", "τ = 1"), ("tau_2", "τ = 2"),
                        ("tau_greedy", "greedy (τ → ∞)")):
        for e in outputs.read(label):
            cont = e["continuation"]
            rows.append([name, code_cell(cont), f"{distinct_ngrams(cont, 4):.2f}"])
    put_table(ctx, "part2_temperature_samples.md",
              f"Prompt `{prompt}`, {length} characters each; the last column is the share of "
              "distinct 4-character strings in the continuation (lower means more repetition).\n\n"
              + markdown_table(["decoding", "continuation", "distinct 4-grams"], rows))


def _completion_tables(ctx: Context, outputs: SampleOutputs, prompts: list[str]) -> int:
    """Completions of each prompt by greedy, beam and sampled decoding; returns for how many prompts
    beam search found a continuation at least as likely as greedy decoding's."""
    comp_rows, beam_rows, better = [], [], 0
    for i, p in enumerate(prompts):
        g, b = outputs.read(f"prompt{i}_beam1")[0], outputs.read(f"prompt{i}_beam5")[0]
        samples = outputs.read(f"prompt{i}_sample")
        gc, bc = g["continuation"], b["continuation"]
        sc = [e["continuation"] for e in samples]
        comp_rows += [[code_cell(p), "greedy", code_cell(gc)],
                      [code_cell(p), "beam, width 5", code_cell(bc)]]
        comp_rows += [[code_cell(p), "sampled, τ = 1", code_cell(t)] for t in sc]
        beam_rows.append([code_cell(p), f"{g['log_probability']:.2f}",
                          f"{b['log_probability']:.2f}",
                          f"{distinct_ngrams(gc):.2f}", f"{distinct_ngrams(bc):.2f}",
                          f"{sum(distinct_ngrams(t) for t in sc) / len(sc):.2f}"])
        better += b["log_probability"] >= g["log_probability"] - 1e-9
    put_table(ctx, "part2_completions.md",
              markdown_table(["prompt", "decoding", "continuation"], comp_rows))
    put_table(ctx, "part2_beam.md", markdown_table(
        ["prompt", "log p, greedy (beam width 1)", "log p, beam width 5",
         "distinct 8-grams, greedy", "distinct 8-grams, beam", "distinct 8-grams, sampled τ=1"],
        beam_rows))
    return better


def collect_part2_samples(ctx: Context) -> None:
    s, outputs = ctx.cfg["part2_samples"], SampleOutputs(ctx)
    prompts = PROMPTS[:s["prompts"]]
    _greedy_long_table(ctx, outputs, s["long"])
    _temperature_table(ctx, outputs, s["length"])
    better = _completion_tables(ctx, outputs, prompts)
    greedy_texts = {outputs.read(f"prompt{i}_beam1")[0]["continuation"] for i in range(len(prompts))}
    put_values(ctx, {"part2.beam_better": f"{better} of {s['prompts']}",
                     "part2.prompts": str(s["prompts"]),
                     "part2.greedy_distinct": str(len(greedy_texts)),
                     "part2.sample_length": str(s["length"]), "part2.long_length": str(s["long"]),
                     "part2.temperature_prompt": PROMPTS[1]})


def collect_temperature(ctx: Context) -> None:
    """softmax(tau * x) for a fixed toy vector of logits: how tau reshapes the distribution."""
    chars = ["e", "a", "o", "i", "u"]
    logits = [2.0, 1.0, 0.5, 0.0, -1.0]
    rows = [["logit x", *[f"{v:g}" for v in logits], "-", "-"]]
    values = {}
    for tau in (0.5, 1.0, 2.0, 10.0):
        z = [tau * v for v in logits]
        e = [math.exp(v - max(z)) for v in z]
        p = [v / sum(e) for v in e]
        entropy = -sum(q * math.log(q) for q in p if q > 0)
        rows.append([f"τ = {tau:g}", *[f"{q:.3f}" for q in p], f"{entropy:.3f}",
                     f"{math.exp(entropy):.2f}"])
        suffix = f"{tau:g}".replace(".", "_")
        values[f"temperature.p_top_tau_{suffix}"] = f"{p[0]:.3f}"
        values[f"temperature.entropy_tau_{suffix}"] = f"{entropy:.3f}"
    rows.append(["τ → ∞ (greedy)", "1.000", *["0.000"] * (len(chars) - 1), "0.000", "1.00"])
    rows.append(["τ → 0", *[f"{1 / len(chars):.3f}"] * len(chars), f"{math.log(len(chars)):.3f}",
                 f"{len(chars):.2f}"])
    put_table(ctx, "temperature_example.md", markdown_table(
        ["", *[f"p({ch})" for ch in chars], "entropy (nats)", "effective choices e^H"], rows))
    values["temperature.logits"] = ", ".join(f"{v:g}" for v in logits)
    put_values(ctx, values)


def collect_part2_best(ctx: Context) -> None:
    """To be written: the best configuration's numbers."""
