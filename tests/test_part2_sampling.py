"""part2/sampling.py: greedy, temperature (softmax(beta * logits)) and beam search on toy models."""
from __future__ import annotations

import itertools

import pytest
import torch
from torch.nn import functional as F

from part2.model import TextGenerationModel
from tests.test_part2_support import single_thread  # noqa: F401

pytestmark = pytest.mark.usefixtures("single_thread")
from part2.sampling import beam_search, generate


def toy_model(vocab=12, hidden=32, seed=0, scale=3.0):
    """A fixed random model whose next-character distributions are far from uniform."""
    torch.manual_seed(seed)
    model = TextGenerationModel(1, 1, vocab, hidden, 2, device="cpu", embedding_dim=8)
    with torch.no_grad():
        model.output.weight.mul_(scale)
    return model.eval()


def naive_greedy(model, prompt, length):
    """Re-run the whole prefix for every new character (the slow reference)."""
    seq = list(prompt)
    with torch.no_grad():
        for _ in range(length):
            logits, _ = model(torch.tensor([seq]))
            seq.append(int(logits[0, -1].argmax()))
    return seq[len(prompt):]


def sequence_log_prob(model, prompt, continuation):
    seq = torch.tensor([list(prompt) + list(continuation)])
    with torch.no_grad():
        logits, _ = model(seq[:, :-1])
    logp = F.log_softmax(logits[0], -1)[len(prompt) - 1:]          # rows predicting the continuation
    return float(logp[torch.arange(len(continuation)), torch.tensor(continuation)].sum())


def test_greedy_is_deterministic_and_matches_rerunning_the_prefix():
    model = toy_model()
    a = generate(model, [[3, 1, 4]], 25)
    b = generate(model, [[3, 1, 4]], 25)
    assert torch.equal(a, b) and a.shape == (1, 25)
    assert a[0].tolist() == naive_greedy(model, [3, 1, 4], 25)


def test_batch_of_prompts_matches_single_prompts():
    model = toy_model()
    batch = generate(model, [[1, 2], [5, 6], [7, 0]], 10)
    for row, prompt in zip(batch, ([1, 2], [5, 6], [7, 0])):
        assert row.tolist() == generate(model, [prompt], 10)[0].tolist()


def test_very_large_tau_equals_greedy():
    model = toy_model()
    g = torch.Generator().manual_seed(0)
    sampled = generate(model, [[2], [7]], 40, temperature=1e4, generator=g)
    assert torch.equal(sampled, generate(model, [[2], [7]], 40))


def test_sampling_is_reproducible_with_a_seed_and_differs_from_greedy():
    model = toy_model(scale=0.5)
    draw = [generate(model, [[2]] * 4, 30, temperature=1.0, generator=torch.Generator().manual_seed(5))
            for _ in range(2)]
    assert torch.equal(draw[0], draw[1])
    assert not torch.equal(draw[0], generate(model, [[2]] * 4, 30))


@pytest.mark.parametrize("tau", [0.5, 2.0])
def test_empirical_distribution_matches_softmax_of_tau_times_logits(tau):
    model = toy_model(vocab=6, scale=1.5)
    prompt = [1, 4, 2]
    with torch.no_grad():
        logits = model(torch.tensor([prompt]))[0][0, -1]
    expected = torch.softmax(tau * logits, -1)
    divided = torch.softmax(logits / tau, -1)                      # the common, wrong definition
    assert (expected - divided).abs().sum() > 0.1                  # the two are distinguishable here
    n = 40_000
    first = generate(model, [prompt] * n, 1, temperature=tau, generator=torch.Generator().manual_seed(1))
    observed = torch.bincount(first[:, 0], minlength=6).double() / n
    # Seeded draws, so the outcome is fixed; for 40,000 draws the expected L1 distance to the true
    # distribution is about 0.009 (sum of sqrt(2 p (1 - p) / (pi n))), under half of the bound.
    assert (observed - expected.double()).abs().sum() < 0.02
    assert (observed - divided.double()).abs().sum() > 0.08


def test_beam_width_one_is_greedy():
    model = toy_model()
    ids, score = beam_search(model, [3, 1], 30, beam_width=1)
    greedy = generate(model, [[3, 1]], 30)[0]
    assert ids.tolist() == greedy.tolist()
    assert score == pytest.approx(sequence_log_prob(model, [3, 1], greedy.tolist()), abs=1e-4)


def test_beam_as_wide_as_all_sequences_finds_the_most_probable_one():
    vocab, length = 3, 5
    for seed in range(3):
        model = toy_model(vocab=vocab, hidden=8, seed=seed, scale=2.0)
        scored = [(sequence_log_prob(model, [0], list(seq)), list(seq))
                  for seq in itertools.product(range(vocab), repeat=length)]
        best_score, best_seq = max(scored)
        ids, score = beam_search(model, [0], length, beam_width=vocab ** length)
        assert ids.tolist() == best_seq
        assert score == pytest.approx(best_score, abs=1e-4)
        everything = beam_search(model, [0], length, beam_width=vocab ** length, return_all=True)
        assert len(everything) == vocab ** length


def test_beam_scores_are_summed_log_probabilities():
    model = toy_model()
    beams = beam_search(model, [4], 12, beam_width=4, return_all=True)
    assert len(beams) == 4
    for ids, score in beams:
        assert score == pytest.approx(sequence_log_prob(model, [4], ids.tolist()), abs=1e-4)


def complete_hypotheses(vocab, length, stop):
    """Every continuation a search with stop characters can end with: up to ``length`` characters,
    ending at the first stop character or at ``length``."""
    for n in range(1, length + 1):
        for seq in itertools.product(range(vocab), repeat=n):
            if stop & set(seq[:-1]):
                continue
            if n == length or seq[-1] in stop:
                yield list(seq)


def exhaustive_best(scored, alpha):
    return max(scored, key=lambda item: item[0] / len(item[1]) ** alpha)[1]


def test_beam_with_stop_characters_and_length_norm_equals_exhaustive_search():
    """A beam wide enough to keep every hypothesis must return exactly the complete hypotheses, each
    with its summed log-probability, and rank first the one that maximises score / length**alpha
    over all of them (checked for alpha = 0, 0.5, 1 on models where alpha changes the winner)."""
    vocab, length, stop = 4, 5, {0}
    winners_differ = False
    for seed in range(3):
        model = toy_model(vocab=vocab, hidden=8, seed=seed, scale=2.0)
        scored = [(sequence_log_prob(model, [1], seq), seq) for seq in complete_hypotheses(vocab, length, stop)]
        for alpha in (0.0, 0.5, 1.0):
            beams = beam_search(model, [1], length, beam_width=vocab ** length, stop_ids=sorted(stop),
                                length_norm=alpha, return_all=True)
            found = {tuple(ids.tolist()): score for ids, score in beams}
            assert found.keys() == {tuple(seq) for _, seq in scored}
            for score, seq in scored:
                assert found[tuple(seq)] == pytest.approx(score, abs=1e-4)
            assert beams[0][0].tolist() == exhaustive_best(scored, alpha)
        winners_differ |= exhaustive_best(scored, 0.0) != exhaustive_best(scored, 1.0)
    assert winners_differ  # otherwise this test could not tell whether length_norm is applied
