"""Part 2 of the report, from the final model: long greedy samples (q. 2.1b), temperature (2.1c),
sentence completions (2.2) and beam search (2.3), read from the ``--json`` files ``part2/sample.py``
wrote under ``<out>/.cache/part2_samples/``; and the worked example of softmax(beta * x)."""
from __future__ import annotations

import math
from pathlib import Path
from statistics import mean

from common.io import markdown_table, read_json
from report.part2_text import (MIN_CYCLE_SPAN, book_words, distinct_ngrams, diverging_context,
                               find_cycle, longest_common, word_share)
from report.store import (ROOT, Context, code_cell, fixed, join_words, need, plural, put_table,
                          put_values)

# Book-related prompts for the sentence completions (question 2.2) and beam search (2.3).
PROMPTS = ["Sleeping beauty is", "Once upon a time there was", "The wolf said",
           "The king said to his daughter"]
# The settings are labelled β, the assignment's inverse temperature that multiplies the logits
# (``part2/sample.py --temperature`` is this β).
DECODINGS = (("tau_0.5", "β = 0.5"), ("tau_1", "β = 1"), ("tau_2", "β = 2"), ("tau_greedy", "greedy"))


class SampleOutputs:
    """The outputs of the part2_samples piece: per job label the ``--json`` file of part2/sample.py
    (samples: text, continuation, log_probability) and the command that wrote it (done.json)."""

    def __init__(self, ctx: Context):
        self.ctx, self.folder = ctx, ctx.cache("part2_samples")

    def file(self, label: str) -> dict:
        return read_json(need(self.folder / f"{label}.json"))

    def read(self, label: str) -> list[dict]:
        return self.file(label)["samples"]

    def command(self, label: str) -> str:
        commands = read_json(need(self.folder / "done.json"))["commands"]
        mine = next(c for c in commands if f"{label}.json" in c)
        return mine.replace(str(self.ctx.out), "<out>")


def cycles_sentence(texts: list[str], noun: str, nouns: str | None = None) -> str:
    """How many of ``texts`` end in a loop (from some character on, the text repeats itself to its
    end, ``find_cycle``), its period and where it begins."""
    cycles = [c for c in map(find_cycle, texts) if c]
    many = plural(len(texts), noun, nouns)
    if len(texts) == 1:
        if not cycles:
            return f"the {noun} does not end in a loop"
        c = cycles[0]
        return (f"the {noun} ends in a loop: from character {c.start + 1} on it repeats itself every "
                f"{plural(c.period, 'character')} to its end")
    if not cycles:
        return f"none of the {many} ends in a loop"
    if len(cycles) == 1:
        c = cycles[0]
        return (f"1 of the {many} ends in a loop: from character {c.start + 1} on it repeats itself "
                f"every {plural(c.period, 'character')} to its end")
    who = (f"all {many}" if len(texts) > 2 else f"both {nouns or noun + 's'}") \
        if len(cycles) == len(texts) else f"{len(cycles)} of the {many}"
    return (f"{who} end in a loop: from some character on, each repeats itself to its end "
            f"({plural(len({c.text for c in cycles}), 'distinct loop')}; the period in characters: "
            f"{join_words([str(c.period) for c in cycles])}; the loop begins at character "
            f"{join_words([str(c.start + 1) for c in cycles])})")


def _stretch(text: str) -> str:
    shown = text if len(text) <= 60 else text[:60] + "…"
    return code_cell(shown)


def sameness(texts: list[str], noun: str) -> str:
    """``the 4 greedy continuations are all different`` and the like (``noun`` in the plural), and
    the longest stretch they all contain."""
    k = len(set(texts))
    what = ("all different" if len(texts) > 2 else "different") if k == len(texts) else "one and the same text" if k == 1 \
        else f"only {plural(k, 'distinct text')}"
    shared = longest_common(texts)
    both = f"all {len(texts)}" if len(texts) > 2 else "both"
    tail = (f", and {both} contain the same stretch of {len(shared)} characters, "
            f"{_stretch(shared)}" if len(shared) >= MIN_CYCLE_SPAN and k > 1 else
            f", and no stretch of {MIN_CYCLE_SPAN} characters occurs in {both}" if k > 1 else "")
    return f"the {len(texts)} {noun} are {what}{tail}"


def converge_sentence(texts: list[str]) -> str:
    """Where the stretch all ``texts`` share begins in each, and whether from there on they are one
    text (each a prefix of the longest): how long the prompts keep greedy texts apart."""
    shared = longest_common(texts)
    if len(texts) < 2 or len(shared) < MIN_CYCLE_SPAN:
        return ""
    starts = [t.find(shared) for t in texts]
    tails = sorted((t[s:] for t, s in zip(texts, starts)), key=len)
    if not all(tails[-1].startswith(t) for t in tails):
        return ""
    return (f"; the shared stretch begins at character {join_words([str(s + 1) for s in starts])}, and "
            f"from there on the continuations are one and the same text: the prompts kept the greedy "
            f"texts apart for at most {plural(max(starts), 'character')}")


def context_sentence(texts: list[str], seq_length: int) -> str:
    """The longest stretch after which a text went on in two different ways (``diverging_context``),
    against the training window: what the samples show of how far back the model looks."""
    longest = [diverging_context(t) for t in texts]
    top = max(longest)
    if top == 0:
        return ("no character that occurs twice in a sample is followed by two different "
                "characters, so these samples never show the model using more than its last character")
    where = "inside" if top < seq_length else "beyond"
    return (f"the longest stretch that occurs twice in a sample and is followed by two different "
            f"characters is {join_words([str(n) for n in longest])} characters long, so nothing in these "
            f"samples shows the model using more than its last {plural(top + 1, 'character')}, "
            f"{where} the {seq_length}-character training window")


def _fmt(x: float) -> str:
    return "no complete word" if math.isnan(x) else fixed(x, 2)  # 0.996 is never "1.00"


def _mean(xs) -> float:
    xs = [x for x in xs if not math.isnan(x)]
    return mean(xs) if xs else math.nan


def _book_vocabulary(ctx: Context) -> set[str]:
    args = read_json(need(ctx.cache("part2_train") / "summary" / "config.json"))["args"]
    path = Path(args["txt_file"])
    return book_words(need(path if path.is_absolute() else ROOT / path).read_text(encoding="utf-8"))


def _greedy_long(ctx: Context, outputs: SampleOutputs, length: int, seq_length: int) -> dict:
    samples = [e["text"] for e in outputs.read("greedy_long")]
    blocks = [f"Command: `{outputs.command('greedy_long')}`\n"]
    blocks += [f"Greedy sample {i} ({length} characters after a random first character):"
               f"\n\n```text\n{t}\n```\n" for i, t in enumerate(samples, 1)]
    put_table(ctx, "part2_greedy_long.md", "\n".join(blocks))
    put_table(ctx, "part2_greedy_long_one.md", f"```text\n{samples[0]}\n```")
    return {"part2.long_cycles": cycles_sentence(samples, "sample"),
            "part2.long_context": context_sentence(samples, seq_length)}


def _trend(averages: list[tuple]) -> str:
    """Whether, over the sampled settings in increasing β, real words rise and distinct 4-grams fall."""
    grams, words = zip(*averages[:-1])  # the last setting is greedy decoding
    if any(math.isnan(x) for x in words):
        return "some setting wrote no complete word, so the trend is not measured"
    if all(a <= b for a, b in zip(words, words[1:])) and all(a >= b for a, b in zip(grams, grams[1:])):
        return ("the larger β, the larger the share of real words and the smaller the share of "
                "distinct 4-grams (more repetition), as a sharper distribution predicts")
    return "the two measures do not both move steadily with β here"


def _temperature(ctx: Context, outputs: SampleOutputs, vocabulary: set[str]) -> dict:
    prompt, rows, means, inline, averages = PROMPTS[1], [], [], [], []
    for label, name in DECODINGS:
        conts = [e["continuation"] for e in outputs.read(label)]
        stats = [(distinct_ngrams(c, 4), word_share(prompt, c, vocabulary)) for c in conts]
        rows += [[name, code_cell(c), _fmt(d), _fmt(w)] for c, (d, w) in zip(conts, stats)]
        inline.append(rows[-len(conts)])
        averages.append((_mean(d for d, _ in stats), _mean(w for _, w in stats)))
        means.append(f"{name}: {_fmt(averages[-1][0])} and {_fmt(averages[-1][1])}")
    header = ["decoding", "continuation", "distinct 4-grams", "share of words found in the book"]
    put_table(ctx, "part2_temperature_samples.md",
              f"Prompt `{prompt}`; the share of distinct 4-character strings of the continuation "
              "(lower: more repetition) and the share of its words that occur in the book.\n\n"
              + markdown_table(header, rows))
    put_table(ctx, "part2_temperature_one.md", markdown_table(header, inline))
    taus = [e["continuation"] for e in outputs.read("tau_1")]
    return {"part2.temperature_means": "; ".join(means), "part2.temperature_trend": _trend(averages),
            "part2.temperature_cycles": cycles_sentence(taus, "sample", "samples")}


def _completions(ctx: Context, outputs: SampleOutputs, prompts: list[str]) -> list[dict]:
    """Per prompt the greedy, beam and sampled continuations; the full table and an excerpt."""
    found, full, inline = [], [], []
    for i, p in enumerate(prompts):
        g, b = outputs.read(f"prompt{i}_beam1")[0], outputs.read(f"prompt{i}_beam5")[0]
        sampled = [e["continuation"] for e in outputs.read(f"prompt{i}_sample")]
        found.append({"greedy": g, "beam": b, "sampled": sampled})
        full += [[code_cell(p), "greedy", code_cell(g["continuation"])],
                 [code_cell(p), "beam", code_cell(b["continuation"])]]
        full += [[code_cell(p), "sampled, β = 1", code_cell(t)] for t in sampled]
        inline.append([code_cell(p), "greedy", code_cell(g["continuation"])])
    inline.append([code_cell(prompts[0]), "sampled, β = 1", code_cell(found[0]["sampled"][0])])
    header = ["prompt", "decoding", "continuation"]
    put_table(ctx, "part2_completions.md", markdown_table(header, full))
    put_table(ctx, "part2_completions_one.md", markdown_table(header, inline))
    return found


def _beam(ctx: Context, prompts: list[str], found: list[dict], width: int) -> dict:
    rows, better = [], 0
    for p, f in zip(prompts, found):
        g, b = f["greedy"], f["beam"]
        rows.append([code_cell(p), f"{g['log_probability']:.2f}", f"{b['log_probability']:.2f}",
                     _fmt(distinct_ngrams(g['continuation'])), _fmt(distinct_ngrams(b['continuation'])),
                     _fmt(mean(distinct_ngrams(t) for t in f['sampled']))])
        better += b["log_probability"] >= g["log_probability"] - 1e-9
    put_table(ctx, "part2_beam.md", markdown_table(
        ["prompt", "log p, greedy", f"log p, beam width {width}", "distinct 8-grams, greedy",
         "distinct 8-grams, beam", "distinct 8-grams, sampled β = 1 (mean)"], rows))
    share = {k: mean(distinct_ngrams(t) for f in found for t in
                     ([f[k]["continuation"]] if k != "sampled" else f[k]))
             for k in ("greedy", "beam", "sampled")}
    names = {"sampled": "sampled text", "beam": "beam search", "greedy": "greedy decoding"}
    order = sorted(share, key=share.get, reverse=True)
    greedy = [f["greedy"]["continuation"] for f in found]
    if len(prompts) == 1:
        found_for = "for the prompt" if better else "not for the prompt"
    else:
        found_for = f"for {better} of the {plural(len(prompts), 'prompt')}"
    if better == len(prompts):
        found_for += ": here it is at least as good a *search* for the model's most probable text"
    return {"part2.beam_found": found_for,
            "part2.beam_width": str(width),
            "part2.ngram_order": join_words([f"{names[k]} ({_fmt(share[k])})" for k in order]),
            "part2.greedy_cycles": (sameness(greedy, "greedy continuations") + converge_sentence(greedy)
                                    + "; " if len(greedy) > 1 else "")
            + cycles_sentence(greedy, "greedy continuation")}


def collect_part2_samples(ctx: Context) -> None:
    s, outputs = ctx.cfg["part2_samples"], SampleOutputs(ctx)
    prompts = PROMPTS[:s["prompts"]]
    seq_length = read_json(need(ctx.cache("part2_train") / "summary" / "config.json"))["args"]["seq_length"]
    values = _greedy_long(ctx, outputs, s["long"], seq_length)
    values.update(_temperature(ctx, outputs, _book_vocabulary(ctx)))
    found = _completions(ctx, outputs, prompts)
    values.update(_beam(ctx, prompts, found, outputs.file("prompt0_beam5")["beam_width"]))
    values.update({"part2.sample_length": str(s["length"]), "part2.long_length": str(s["long"]),
                   "part2.temperature_prompt": PROMPTS[1]})
    put_values(ctx, values)


def collect_temperature(ctx: Context) -> None:
    """softmax(beta * x) for a fixed toy vector of logits: how beta reshapes the distribution."""
    chars = ["e", "a", "o", "i", "u"]
    logits = [2.0, 1.0, 0.5, 0.0, -1.0]
    rows = [["logit x", *[f"{v:g}" for v in logits], "-"]]
    for tau in (0.5, 1.0, 2.0):
        z = [tau * v for v in logits]
        e = [math.exp(v - max(z)) for v in z]
        p = [v / sum(e) for v in e]
        entropy = -sum(q * math.log(q) for q in p if q > 0)
        rows.append([f"β = {tau:g}", *[f"{q:.3f}" for q in p], f"{math.exp(entropy):.2f}"])
    put_table(ctx, "temperature_example.md", markdown_table(
        ["", *[f"p({ch})" for ch in chars], "effective choices e^H"], rows))
    put_values(ctx, {"temperature.logits": ", ".join(f"{v:g}" for v in logits)})
