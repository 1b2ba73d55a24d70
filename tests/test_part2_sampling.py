"""part2/sampling.py: greedy, temperature (softmax(tau * logits)) and beam search on toy models."""
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
    assert (observed - expected.double()).abs().sum() < 0.02       # total variation ~ 1/sqrt(n)
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


def test_beam_scores_are_summed_log_probabilities_and_sorted():
    model = toy_model()
    beams = beam_search(model, [4], 12, beam_width=4, return_all=True)
    assert len(beams) == 4
    scores = [s for _, s in beams]
    assert scores == sorted(scores, reverse=True)
    for ids, score in beams:
        assert score == pytest.approx(sequence_log_prob(model, [4], ids.tolist()), abs=1e-4)


def test_stop_characters_and_length_normalisation():
    model = toy_model(vocab=5, scale=2.0)
    stop = [0]
    plain = beam_search(model, [1], 15, beam_width=5, stop_ids=stop, return_all=True)
    for ids, _ in plain:
        assert len(ids) == 15 or (ids[-1].item() in stop and stop[0] not in ids[:-1].tolist())
    normed = beam_search(model, [1], 15, beam_width=5, stop_ids=stop, length_norm=1.0, return_all=True)
    per_char = [s / len(ids) for ids, s in normed]
    assert per_char == sorted(per_char, reverse=True)
    assert max(s for _, s in plain) == plain[0][1]
