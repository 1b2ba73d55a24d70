"""Measures of generated text that the part-2 prose states (repetition, cycles, real words), and
the small phrasing helpers that keep those generated sentences grammatical."""
from __future__ import annotations

import re
from dataclasses import dataclass

# A cycle must fill at least this many characters, so that a doubled letter ("ll") or a word said
# twice is not reported as a loop.
MIN_CYCLE_SPAN = 16
WORD = re.compile(r"[A-Za-z]+")


def distinct_ngrams(text: str, n: int = 8) -> float:
    """Share of distinct character n-grams: 1 for text that never repeats itself, near 0 for a loop."""
    grams = [text[i:i + n] for i in range(len(text) - n + 1)]
    return len(set(grams)) / len(grams) if grams else float("nan")


@dataclass
class Cycle:
    start: int     # 0-based index of the first character of the repeated stretch
    period: int    # length of the stretch that repeats
    text: str      # one period, rotated to a canonical form (so equal loops compare equal)
    span: int      # characters from ``start`` to the end of the text


def _periodic_start(text: str, p: int) -> int:
    """The smallest s such that text[j] == text[j + p] for every j in [s, len - p)."""
    j = len(text) - p - 1
    while j >= 0 and text[j] == text[j + p]:
        j -= 1
    return j + 1


def find_cycle(text: str) -> Cycle | None:
    """The loop a text ends in: the period p whose repetition reaches back furthest (the shortest
    such p), if what repeats an earlier part (the last ``span - p`` characters) is at least
    MIN_CYCLE_SPAN long; else None. A long period need not be seen twice in full: a text that
    goes on copying itself from some character to its end is in a loop."""
    best = None
    for p in range(1, len(text) - MIN_CYCLE_SPAN + 1):
        s = _periodic_start(text, p)
        span = len(text) - s
        if span - p >= MIN_CYCLE_SPAN and (best is None or s < best.start):
            period = text[s:s + p]
            canonical = min(period[i:] + period[:i] for i in range(p))
            best = Cycle(s, p, canonical, span)
    return best


def book_words(text: str) -> set[str]:
    return {w.lower() for w in WORD.findall(text)}


def word_share(prompt: str, continuation: str, vocabulary: set[str]) -> float:
    """Share of the words written by the model (any part in ``continuation``; a word cut off by the
    end of the text is left out) that occur in ``vocabulary``."""
    text, cut = prompt + continuation, len(prompt)
    words = [m.group().lower() for m in WORD.finditer(text)
             if m.end() > cut and (m.end() < len(text) or not continuation[-1:].isalpha())]
    return sum(w in vocabulary for w in words) / len(words) if words else float("nan")


def _longest(check, upper: int) -> int:
    """The largest L in [0, upper] with check(L) true; check is monotone (true up to some L)."""
    lo, hi = 0, upper
    while lo < hi:
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if check(mid) else (lo, mid - 1)
    return lo


def longest_repeat(text: str) -> str:
    """The longest stretch that occurs at least twice in ``text`` (the two may overlap)."""
    def repeated(n: int) -> str | None:
        seen = set()
        for i in range(len(text) - n + 1):
            if text[i:i + n] in seen:
                return text[i:i + n]
            seen.add(text[i:i + n])
        return None
    n = _longest(lambda k: k == 0 or repeated(k) is not None, max(len(text) - 1, 0))
    return repeated(n) if n else ""


def longest_common(texts: list[str]) -> str:
    """The longest stretch that occurs in every one of ``texts``."""
    def common(n: int) -> set[str]:
        sets = [{t[i:i + n] for i in range(len(t) - n + 1)} for t in texts]
        return set.intersection(*sets)
    n = _longest(lambda k: k == 0 or bool(common(k)), min(map(len, texts)))
    return min(common(n)) if n else ""


def diverging_context(text: str) -> int:
    """The longest stretch that occurs at two places of ``text`` and is followed by a different
    character at each: after the same last L characters the text went on differently, so whatever
    wrote it (a greedy decoder) did not decide from those L characters alone. 0 if there is none."""
    n, best = len(text), 0
    match = [0] * (n + 1)  # match[j]: length of the common stretch ending at i - 1 and j - 1
    for i in range(1, n):
        row = [0] * (n + 1)
        for j in range(i + 1, n):
            if text[i - 1] == text[j - 1]:
                row[j] = match[j - 1] + 1
                if text[i] != text[j]:
                    best = max(best, row[j])
        match = row
    return best
