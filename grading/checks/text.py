"""Checks of the part-2 ``TextDataset`` on a UTF-8 text of the grader's, with non-ASCII characters.

Only the skeleton's interface is used: ``TextDataset(filename, seq_length)``, ``vocab_size``,
``convert_to_string(ids)`` and items ``(inputs, targets)`` (indices, or one-hot rows). The
vocabulary in index order is read as ``convert_to_string([i])`` for ``i < vocab_size``;
``_char_to_ix`` / ``char_to_ix`` are checked when present but never required.
"""
from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import torch

from .common import CheckFailed, construct, describe, item_pair, student_class

SEQ_LENGTH, ITEMS = 20, 12
HASH_SEEDS = ("1",)  # a fresh interpreter besides the sandbox's own PYTHONHASHSEED=0: one other
# seed already reorders any set of more than a few characters
PROBE = Path(__file__).with_name("vocab_probe.py")
SENTENCES = (
    "Die Brüder Grimm sammelten Märchen, die man sich abends am Ofen erzählte.",
    "À la fin, le garçon déçu rentra chez lui — sans le trésor, mais plus sage.",
    "El niño soñó con una montaña de caña y señales de humo.",
    "“Who goes there?” asked the old fox… and nobody answered.",
    "Ærø, Øresund and Åland lie far to the north; the winters there are long.",
    "The wolf said: ‘I shall huff, and puff, and blow your house in!’",
    "Ο λύκος και το αρνί: a fable older than any of the brothers’ tales.",
    "Snow fell for three days; on the fourth, the river froze from bank to bank.",
    "She counted 3 geese, 12 swans and 1 ½ loaves of bread 🙂 before noon.",
    "«Encore une fois», dit la reine, et le miroir répondit sans hésiter.",
)
TEXT = " ".join(random.Random(0).choices(SENTENCES, k=60)) + "\n"


def text_file(ctx) -> Path:
    """The grader's text as a ``.txt`` file (the skeleton asserts the extension) outside the copy."""
    path = ctx.workdir / "grading_text.txt"
    path.write_text(TEXT, encoding="utf-8")
    return path


def text_dataset(ctx):
    cls = student_class("part2", "dataset", "TextDataset")
    return construct(cls, {"filename": str(text_file(ctx)), "seq_length": SEQ_LENGTH})


def chars(text: str) -> str:
    return ", ".join(f"{ch!r} (U+{ord(ch):04X})" for ch in text[:8]) + (" ..." if len(text) > 8 else "")


def to_string(dataset, indices: list[int]):
    """``convert_to_string(indices)``; given a tensor of them when a list fails (a version written
    for the tensors a sampling loop has)."""
    try:
        return dataset.convert_to_string(indices)
    except Exception:
        try:
            return dataset.convert_to_string(torch.tensor(indices))
        except Exception:
            pass
        raise


def vocabulary(dataset) -> str:
    """The characters in index order: ``convert_to_string([i])`` for every ``i < vocab_size``."""
    size = getattr(dataset, "vocab_size", None)
    if size is None:
        raise CheckFailed("TextDataset has no vocab_size (the skeleton's property)")
    size = size() if callable(size) else size
    vocab = []
    for index in range(int(size)):
        try:
            char = to_string(dataset, [index])
        except Exception as exc:
            raise CheckFailed(f"convert_to_string([{index}]) failed: {describe(exc)}") from None
        if not isinstance(char, str) or len(char) != 1:
            raise CheckFailed(f"convert_to_string([{index}]) returned {char!r}, expected one character")
        vocab.append(char)
    return "".join(vocab)


def ids(value) -> list[int]:
    """Indices as ints; one-hot rows ``(T, V)`` count as their indices."""
    value = torch.as_tensor(value)
    if value.dim() == 2 and value.shape[1] > 1 and ((value == 0) | (value == 1)).all() and (value.sum(1) == 1).all():
        value = value.argmax(1)
    return [int(v) for v in value.flatten().tolist()]


def items(dataset) -> list[tuple[list[int], list[int]]]:
    pairs = []
    for index in range(ITEMS):
        inputs, targets = item_pair(dataset, index, "dataset")
        pairs.append((ids(inputs), ids(targets)))
    return pairs


def _check_mapping(dataset, vocab: str) -> None:
    """``_char_to_ix`` (or ``char_to_ix``), when the dataset has one, agrees with convert_to_string."""
    for name in ("_char_to_ix", "char_to_ix"):
        mapping = getattr(dataset, name, None)
        if isinstance(mapping, dict):
            wrong = [ch for ch in vocab if mapping.get(ch) != vocab.index(ch)]
            if wrong:
                raise CheckFailed(f"{name} and convert_to_string disagree on {chars(''.join(wrong))}")


def check_roundtrip(ctx) -> str:
    dataset = text_dataset(ctx)
    vocab = vocabulary(dataset)
    missing, extra = set(TEXT) - set(vocab), set(vocab) - set(TEXT)
    if missing or extra or len(set(vocab)) != len(vocab):
        raise CheckFailed(f"vocab_size {len(vocab)} for {len(set(TEXT))} distinct characters; missing: "
                          f"{chars(''.join(sorted(missing))) or '-'}; not in the text: "
                          f"{chars(''.join(sorted(extra))) or '-'}; repeated: {len(vocab) - len(set(vocab))}")
    index = {ch: i for i, ch in enumerate(vocab)}
    decoded = to_string(dataset, [index[ch] for ch in TEXT])
    if decoded != TEXT:
        at = next((i for i, (a, b) in enumerate(zip(decoded, TEXT)) if a != b), min(len(decoded), len(TEXT)))
        raise CheckFailed(f"convert_to_string of the text's indices differs from the text at character {at}: "
                          f"{decoded[at:at + 20]!r} instead of {TEXT[at:at + 20]!r}")
    _check_mapping(dataset, vocab)
    for number, (inputs, _) in enumerate(items(dataset)):
        if len(inputs) != SEQ_LENGTH:
            raise CheckFailed(f"item {number} has {len(inputs)} inputs, expected seq_length={SEQ_LENGTH}")
        piece = to_string(dataset, inputs)
        if piece not in TEXT:
            raise CheckFailed(f"the inputs of item {number} decode to {piece!r}, which is not in the text: "
                              "do __getitem__ and convert_to_string use the same character order?")
    non_ascii = "".join(ch for ch in vocab if ord(ch) > 127)
    return (f"{len(vocab)} characters ({len(non_ascii)} non-ASCII, e.g. {non_ascii[:4]!r}); the "
            f"{len(TEXT)}-character text and {ITEMS} items decode exactly")


def check_targets_shifted(ctx) -> str:
    for number, (inputs, targets) in enumerate(items(text_dataset(ctx))):
        if len(targets) != len(inputs):
            raise CheckFailed(f"item {number} has {len(inputs)} inputs but {len(targets)} targets")
        if inputs[1:] == targets[:-1]:
            continue
        if inputs == targets:
            raise CheckFailed(f"the targets of item {number} equal its inputs: they must be the inputs "
                              "shifted by one character, targets[t] = inputs[t + 1]")
        if inputs[:-1] == targets[1:]:
            raise CheckFailed(f"item {number} is shifted the wrong way (targets[t] = inputs[t - 1]): "
                              "the target is the next character")
        raise CheckFailed(f"the targets of item {number} are not its inputs shifted by one character")
    return f"targets[t] = inputs[t + 1] in all {ITEMS} items checked"


def probe_vocabularies(ctx) -> dict[str, str]:
    """The vocabulary built in fresh interpreters, one per PYTHONHASHSEED of :data:`HASH_SEEDS`."""
    text, runs = text_file(ctx), {}
    for seed in HASH_SEEDS:
        out = ctx.workdir / f"vocab_{seed}.json"
        command = [sys.executable, "-P", str(PROBE), str(ctx.root), str(text), str(SEQ_LENGTH), str(out)]
        runs[seed] = (out, subprocess.Popen(command, env={**os.environ, "PYTHONHASHSEED": seed},
                                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    vocabularies = {}
    for seed, (out, process) in runs.items():
        process.wait()
        result = json.loads(out.read_text(encoding="utf-8")) if out.is_file() else {"error": "no result"}
        if "error" in result:
            raise CheckFailed(f"TextDataset failed in a fresh process (PYTHONHASHSEED={seed}): {result['error']}")
        vocabularies[seed] = result["vocab"]
    return vocabularies


def check_vocab_stable(ctx) -> str:
    first, second = vocabulary(text_dataset(ctx)), vocabulary(text_dataset(ctx))
    if first != second:
        raise CheckFailed(f"two TextDatasets of the same file order the characters differently: "
                          f"{first[:12]!r} and {second[:12]!r}")
    orders = {"0": first, **probe_vocabularies(ctx)}
    if len(set(orders.values())) > 1:
        shown = ", ".join(f"PYTHONHASHSEED={seed}: {vocab[:10]!r}" for seed, vocab in orders.items())
        raise CheckFailed(f"the character order changes from run to run ({shown}): a set's order depends on "
                          "the hash seed, so ids saved by one run mean other characters in the next; "
                          "build the vocabulary with sorted(set(text))")
    order = "sorted" if first == "".join(sorted(first)) else "not sorted but stable"
    return f"the same {len(first)}-character vocabulary in two instances and under PYTHONHASHSEED " \
           f"{' and '.join(orders)} ({order})"
