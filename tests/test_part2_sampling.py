"""part2/sample.py's generate and beam_search: greedy determinism, tau multiplies the logits (a larger
tau is greedier), beam search finds sequences at least as likely as greedy."""
from __future__ import annotations

import itertools
import math

import pytest
import torch
from torch.nn import functional as F

from part2.model import TextGenerationModel
from part2.sample import beam_search, generate


@pytest.fixture
def model():
    torch.manual_seed(0)
    model = TextGenerationModel(1, 1, 5, 16, 2, "cpu", embedding_dim=4)
    with torch.no_grad():
        model.output.weight.mul_(8)  # peaked distributions: greedy and beams differ
    return model.eval()


@torch.no_grad()
def log_probability(model, prompt, continuation) -> float:
    ids = torch.tensor([prompt + continuation])
    logp = F.log_softmax(model(ids[:, :-1])[0][0], -1)            # (P + n - 1, V)
    return sum(float(logp[len(prompt) - 1 + t, c]) for t, c in enumerate(continuation))


def test_greedy_is_deterministic_and_equals_rerunning_the_prefix(model):
    prompt = torch.tensor([[1, 2, 3], [4, 0, 1]])
    out = generate(model, prompt, 12)
    assert torch.equal(out, generate(model, prompt, 12))
    seq = prompt
    for _ in range(12):  # the slow way: the whole prefix every step
        seq = torch.cat([seq, model(seq)[0][:, -1].argmax(-1, keepdim=True)], 1)
    assert torch.equal(out, seq[:, 3:])


def test_tau_multiplies_the_logits(model):
    prompt = torch.tensor([[2]])
    logits = model(prompt)[0][0, -1]
    gen = torch.Generator().manual_seed(0)
    draws = generate(model, prompt.repeat(4000, 1), 1, tau=0.5, generator=gen)[:, 0]
    empirical = torch.bincount(draws, minlength=5) / 4000
    assert torch.allclose(empirical, torch.softmax(0.5 * logits, -1), atol=0.03)
    assert not torch.allclose(empirical, torch.softmax(logits / 0.5, -1), atol=0.03)
    # a larger tau is greedier: more draws agree with the argmax; a huge tau is greedy
    agree = [float((generate(model, prompt.repeat(2000, 1), 1, tau, gen)[:, 0] == logits.argmax()).float().mean())
             for tau in (0.25, 1.0, 4.0)]
    assert agree[0] < agree[1] < agree[2]
    greedy = generate(model, torch.tensor([[1, 2]]), 20)
    assert torch.equal(generate(model, torch.tensor([[1, 2]]), 20, tau=1e6, generator=gen), greedy)


def test_beam_search_is_at_least_as_likely_as_greedy(model):
    prompt = [1, 3]
    greedy = generate(model, torch.tensor([prompt]), 8)[0].tolist()
    (ids, score), *_ = beam_search(model, prompt, 8, beam_width=4)
    assert len(ids) == 8 and math.isclose(score, log_probability(model, prompt, ids), abs_tol=1e-4)
    assert score >= log_probability(model, prompt, greedy) - 1e-6
    assert beam_search(model, prompt, 8, beam_width=1)[0][0] == greedy


def test_an_exhaustive_beam_finds_the_most_likely_sequence(model):
    prompt, n = [0], 3
    best = max(itertools.product(range(5), repeat=n), key=lambda c: log_probability(model, prompt, list(c)))
    (ids, score), *_ = beam_search(model, prompt, n, beam_width=5 ** n)
    assert ids == list(best)


def test_stop_characters_end_hypotheses(model):
    beams = beam_search(model, [1], 10, beam_width=3, stop_ids={0, 4}, length_norm=1.0)
    assert beams and all(len(ids) == 10 or ids[-1] in (0, 4) for ids, _ in beams)
    assert all(c not in (0, 4) for ids, _ in beams for c in ids[:-1])
    ranks = [score / len(ids) for ids, score in beams]
    assert ranks == sorted(ranks, reverse=True)
