"""Part 2 of the report: the character LSTM's training at the assignment's settings (q. 2.1), the
samples it wrote while training, and the best configuration found (an extra), from what
``part2/train.py`` wrote under ``<out>/.cache/<piece>/summary``. The samples of the final model
(q. 2.1b-2.3) are in ``report/part2_samples.py``."""
from __future__ import annotations

import json
from pathlib import Path

from common.io import markdown_table, read_csv, read_json
from report.part2_samples import PROMPTS, SampleOutputs, collect_part2_samples, collect_temperature
from report.part2_text import distinct_ngrams, find_cycle
from report.store import Context, code_cell, join_words, need, pct, plural, put_figure, put_file, put_table, put_values

__all__ = ["PROMPTS", "SampleOutputs", "collect_part2_samples", "collect_temperature",
           "collect_part2_train", "collect_part2_best"]
# The assignment's defaults for question 2.1, to say which of the run's flags keep them.
ASSIGNMENT = {"seq_length": 30, "lstm_num_layers": 2, "lstm_num_hidden": 128, "batch_size": 64,
              "learning_rate": 2e-3, "learning_rate_decay": 0.96, "learning_rate_step": 5000,
              "max_norm": 5.0}
# Flags of the run that say nothing about the model or its training (paths, logging, resuming).
BOOKKEEPING = {"txt_file", "summary_path", "checkpoint_dir", "resume", "overwrite", "device",
               "no_progress", "quiet", "print_every", "checkpoint_every", "book", "preset",
               "keep_gutenberg_header", "sample_every", "eval_every", "seed"}


def read_training_samples(path: Path) -> list[dict]:
    """The rows of part2/train.py's samples.jsonl: step, groups (kind, length, temperature, texts)."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _group(row: dict, kind: str, length: int | None = None) -> dict:
    return next((g for g in row["groups"] if g["kind"] == kind and length in (None, g["length"])),
                {"texts": [], "length": length})


class Run:
    """One ``part2/train.py`` run: its config.json, result.json and validation rows of metrics.csv."""

    def __init__(self, ctx: Context, piece: str):
        self.summary = ctx.cache(piece) / "summary"
        self.config = read_json(need(self.summary / "config.json"))
        self.args = self.config["args"]
        self.result = read_json(need(self.summary / "result.json"))
        rows = read_csv(need(self.summary / "metrics.csv"))
        self.val = {r["step"]: r for r in rows if r["split"] == "val"}
        self.stream = {r["step"]: r for r in rows if r["split"] == "val_stream"}
        self.train = [r for r in rows if r["split"] == "train"]

    def validation_at(self, step: int) -> str:
        """The windows loss validated at ``step``, else the last one before it with its step."""
        if step in self.val:
            return f"{self.val[step]['loss']:.3f}"
        earlier = [s for s in self.val if s < step]
        return f"{self.val[max(earlier)]['loss']:.3f} (step {max(earlier)})" if earlier else "none yet"

    def stop_sentence(self) -> str:
        r, a = self.result, self.args
        if r["steps"] >= a["train_steps"]:
            guard = ("" if a.get("time_limit") is None else
                     f"; `--time_limit` ({a['time_limit']:g} s) is only a guard against a slow machine")
            return f"the step budget (`--train_steps`) ended it{guard}"
        return f"it stopped ({r['stopped']}) before its step budget of {a['train_steps']}"

    def accuracy_at(self, step) -> str:
        """The windows accuracy validated at ``step`` (a percentage), or ``none``."""
        row = self.val.get(step)
        return "none" if row is None else pct(row["accuracy"])

    def train_loss_at(self, step: int) -> float:
        """The logged training loss (mean over the last ``--print_every`` batches) nearest ``step``."""
        return min(self.train, key=lambda r: abs(r["step"] - step))["loss"]

    def after_best(self) -> str:
        """What the windows loss did after its minimum, next to the training loss (generated)."""
        r = self.result
        if r["best_val_loss"] is None or not self.train:
            return "No validation ran"
        best, last = r["best_val_step"], r["last_val_step"]
        final = f"step {last}, accuracy {pct(r['last_val_accuracy'])}"
        if last <= best or r["last_val_loss"] <= r["best_val_loss"]:
            return f"The windows loss was lowest at the last validation ({final}), so no rise was measured"
        a, b = self.train_loss_at(best), self.train_loss_at(last)
        trend = (f"while the training loss fell from {a:.3f} to {b:.3f}: the model fits the training "
                 "text better and the held-out text worse (in loss), i.e. it overfits" if b < a else
                 f"while the training loss went from {a:.3f} to {b:.3f}")
        return (f"After it the windows loss rose to {_loss(r['last_val_loss'])} at the last "
                f"validation ({final}) {trend}")

    def numbers(self, prefix: str) -> dict:
        r = self.result
        return {f"{prefix}.steps": str(r["steps"]),
                f"{prefix}.minutes": f"{r['seconds'] / 60:.1f}",
                f"{prefix}.duration": (f"{r['seconds'] / 60:.1f} minutes" if r["seconds"] >= 60
                                       else f"{r['seconds']:.0f} seconds"),
                f"{prefix}.best_val_accuracy": self.accuracy_at(r["best_val_step"]),
                f"{prefix}.stop": self.stop_sentence(),
                f"{prefix}.after_best": self.after_best(),
                f"{prefix}.parameters": f"{self.config['parameters']:,}",
                f"{prefix}.best_val_loss": _loss(r["best_val_loss"]),
                f"{prefix}.best_val_step": str(r["best_val_step"]),
                f"{prefix}.best_val_stream_loss": _loss(r["best_val_stream_loss"]),
                f"{prefix}.final_val_step": str(r["last_val_step"]),
                f"{prefix}.final_val_loss": _loss(r["last_val_loss"]),
                f"{prefix}.final_val_accuracy": "none" if r["last_val_accuracy"] is None
                else pct(r["last_val_accuracy"]),
                f"{prefix}.final_val_stream_loss": _loss(r["last_val_stream_loss"])}


def _loss(x) -> str:
    """A loss with three decimals, or ``none`` when the run never validated."""
    return "none" if x is None or x != x else f"{x:.3f}"


def _flag_value(value) -> str:
    return "none" if value is None else f"{value:g}" if isinstance(value, float) else str(value)


def defaults_sentence(args: dict) -> str:
    """Whether the run keeps the assignment's defaults, naming each flag that does not."""
    changed = [f"`--{k}` {_flag_value(args[k])} (the assignment's {_flag_value(v)})"
               for k, v in ASSIGNMENT.items() if args[k] != v]
    flags = ", ".join(f"`--{k}`" for k in ASSIGNMENT)
    if not changed:
        return f"{flags} are the assignment's defaults, kept so that this run answers question 2.1 as asked"
    return (f"{flags} are the assignment's defaults except {join_words(changed)}, to fit this mode's "
            "smaller budget")


def _stage_tables(ctx: Context, run: Run, rows: list[dict]) -> dict:
    """All training stages in tables/part2_stages.md; the first, middle and last stage inline."""
    own = all(r["step"] in run.val for r in rows)
    label = ("validation loss (windows) at this step" if own else
             "validation loss (windows): at this step, else the last one before it (its step)")
    lengths = sorted(g["length"] for g in rows[0]["groups"] if g["kind"] == "greedy")
    short, long = lengths[0], lengths[-1]
    full = [[r["step"], run.validation_at(r["step"]),
             "<br>".join(code_cell(s) for s in _group(r, "greedy", short)["texts"])] for r in rows]
    longer = [[r["step"], "<br>".join(code_cell(s) for s in _group(r, "greedy", long)["texts"]),
               "<br>".join(f"β = {g['temperature']:g}: {code_cell(g['texts'][0])}"
                           for g in r["groups"] if g["kind"] == "temperature" and g["texts"])]
              for r in rows]
    put_table(ctx, "part2_stages.md", "\n\n".join([
        f"Greedy samples of {short} characters (random first character) at every sampling step.",
        markdown_table(["step", label, "greedy samples"], full),
        f"Greedy samples of {long} characters and sampled text of {long} characters.",
        markdown_table(["step", f"greedy, {long} characters", "sampled at β"], longer)]))
    picks = sorted({0, len(rows) // 2, len(rows) - 1})
    put_table(ctx, "part2_stages_excerpt.md", markdown_table(
        ["step", label, f"first greedy sample of {short} characters"],
        [[rows[i]["step"], run.validation_at(rows[i]["step"]),
          code_cell(_group(rows[i], "greedy", short)["texts"][0])] for i in picks]))
    first, last = (_group(rows[i], "greedy", long)["texts"] for i in (0, -1))
    loops = [sum(find_cycle(t) is not None for t in texts) for texts in (first, last)]
    grams = [sum(distinct_ngrams(t, 4) for t in texts) / len(texts) for texts in (first, last)]
    return {"part2.stage_count": plural(len(rows), "stage"),
            "part2.stage_picks": {1: "The only stage", 2: "The first and last stage"}.get(
                len(picks), "The first, middle and last stage"),
            "part2.stage_short": str(short), "part2.stage_long": str(long),
            "part2.stage_first": str(rows[0]["step"]), "part2.stage_last": str(rows[-1]["step"]),
            "part2.stage_trend": (
                f"at step {rows[0]['step']}, {loops[0]} of {len(first)} end in a loop and their mean "
                f"share of distinct 4-grams is {grams[0]:.2f}; at step {rows[-1]['step']}, "
                f"{loops[1]} of {len(last)} and {grams[1]:.2f}")}


def collect_part2_train(ctx: Context) -> None:
    run = Run(ctx, "part2_train")
    put_figure(ctx, run.summary / "curves.png", "part2_curves.png")
    put_file(ctx, run.summary / "metrics.csv", "part2_metrics.csv")
    args = run.args
    put_table(ctx, "part2_hyperparameters.md", markdown_table(
        ["flag", "value"], [[f"`--{k}`", _flag_value(v)] for k, v in args.items() if k not in BOOKKEEPING]))
    # part2/train.py trains with Adam on random windows; it no longer has these two flags
    values = {f"part2.arg_{key}": _flag_value(value)
              for key, value in {"optimizer": "adam", "carry_state": False, **args}.items()}
    values.update(run.numbers("part2"))
    values.update({
        "part2.book": Path(args.get("txt_file") or str(args.get("book"))).name,
        "part2.vocab": str(run.config["vocab_size"]),
        "part2.train_chars": f"{run.config['train_chars']:,}",
        "part2.val_chars": f"{run.config['val_chars']:,}",
        "part2.defaults": defaults_sentence(args),
        "part2.regularisation": (
            "neither is used in this run" if args["dropout_keep_prob"] == 1 and not args.get("weight_drop")
            else "this run uses them as the table says"),
        "part2.batches": (
            "each sequence of a batch is a window at a random place in the training text, read "
            "from a zero state" if not args.get("carry_state") else
            "a batch is `--batch_size` consecutive streams of the book read side by side, and the "
            "LSTM state at the end of one batch starts the next"),
        "part2.stream_note": _stream_note(run),
        "part2.window_note": (
            "each from a zero state, so training never asked the state to carry anything further"
            if not args.get("carry_state") else "with the state carried from one batch to the next")})
    values.update(_stage_tables(ctx, run, read_training_samples(need(run.summary / "samples.jsonl"))))
    put_values(ctx, values)


def _stream_note(run: Run) -> str:
    """Whether carrying the state past the training windows helped or hurt on held-out text."""
    r = run.result
    if _loss(r["best_val_stream_loss"]) == "none":
        return "no validation ran, so reading past the training windows is not measured"
    word = "does not hurt" if r["best_val_stream_loss"] <= r["best_val_loss"] else "costs something"
    return (f"reading on past them {word}: at step {r['best_val_step']} the held-out stream loss, "
            f"the state carried over long stretches, is {_loss(r['best_val_stream_loss'])} against "
            f"{_loss(r['best_val_loss'])} for windows of {run.args['seq_length']} characters")


def _compare(main: Run, best: Run) -> str:
    """Which run predicts the held-out stream better (the measure that does not depend on T)."""
    a, b = main.result["best_val_stream_loss"], best.result["best_val_stream_loss"]
    if _loss(a) == "none" or _loss(b) == "none":
        return "one of the runs has no validation to compare"
    if round(a, 3) == round(b, 3):
        return f"both runs reach the same stream loss ({a:.3f})"
    word = "lower" if b < a else "higher"
    return (f"the best configuration's stream loss is {word} than the main run's "
            f"({b:.3f} against {a:.3f} nats per character)")


def _budget(main: Run, best: Run) -> str:
    """How the two runs' sizes and budgets differ, and whether the extra's loss was still falling."""
    size = best.config["parameters"] / main.config["parameters"]
    time = best.result["seconds"] / max(main.result["seconds"], 1e-9)
    r = best.result
    still = ("its lowest windows loss came at its last validation, so it had not stopped improving"
             if r["best_val_step"] is not None and r["best_val_step"] == r["last_val_step"] else
             f"its windows loss was lowest at step {r['best_val_step']}")
    better = best.result["best_val_stream_loss"] < main.result["best_val_stream_loss"]
    what = "its gain" if better else "the difference"
    return (f"it has {size:.1f} times the parameters and ran {time:.1f} times as long, so {what} "
            f"cannot be put on any one flag; {still}")


def collect_part2_best(ctx: Context) -> None:
    """The best configuration found (``--preset best``) next to the main run at T = 30."""
    main, best = Run(ctx, "part2_train"), Run(ctx, "part2_best")
    put_figure(ctx, best.summary / "curves.png", "part2_best_curves.png")
    put_file(ctx, best.summary / "metrics.csv", "part2_best_metrics.csv")
    # every flag that differs between the runs (logging aside), then the measures
    flags = [f for f in main.args if f not in (BOOKKEEPING - {"eval_every"}) | {"time_limit"}
             and main.args[f] != best.args.get(f)]
    rows = [[f"`--{f}`", _flag_value(main.args[f]), _flag_value(best.args[f])] for f in flags]
    for label, get in (
            ("parameters", lambda run: f"{run.config['parameters']:,}"),
            ("steps", lambda run: run.result["steps"]),
            ("training characters read (steps × batch × window)",
             lambda run: f"{run.result['steps'] * run.args['batch_size'] * run.args['seq_length']:,}"),
            ("minutes", lambda run: f"{run.result['seconds'] / 60:.1f}"),
            ("best validation loss, windows of its own `--seq_length`",
             lambda run: _loss(run.result["best_val_loss"])),
            ("step of that best", lambda run: run.result["best_val_step"]),
            ("validation loss, stream, at that step",
             lambda run: _loss(run.result["best_val_stream_loss"]))):
        rows.append([label, get(main), get(best)])
    put_table(ctx, "part2_best.md", markdown_table(
        ["", "main run (2.1)", "best configuration (extra)"], rows))
    same_t = main.args["seq_length"] == best.args["seq_length"]
    values = best.numbers("part2_best")
    values.update({
        "part2_best.flags": join_words([f"`--{f}`" for f in flags]) if flags else "no flag",
        "part2_best.budget": _budget(main, best),
        "part2_best.compare": _compare(main, best),
        "part2_best.windows_note": (
            "both runs cut the held-out text into windows of the same length, so they compare too"
            if same_t else "they do not compare: each run cuts windows of its own `--seq_length`, "
            "and a longer window gives its characters more context on average")})
    put_values(ctx, values)
