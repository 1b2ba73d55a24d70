"""Text generation from a trained :class:`~part2.model.TextGenerationModel`: greedy, temperature, beam.

All three feed the prompt through the model once and then step one character at a time, carrying
the LSTM state ``(h, c)``; the prefix is never re-run.

Temperature follows the assignment: ``p = softmax(beta * logits)`` with ``beta`` the inverse
temperature (``--temperature`` is beta). It MULTIPLIES the logits, so ``beta = 2`` is greedier,
``beta = 0.5`` more random, and greedy decoding is the limit ``beta -> inf`` (many libraries divide
by a temperature T = 1/beta instead).
"""
from __future__ import annotations

import math

import torch
from torch.nn import functional as F


class _EvalMode:
    """Run the model in eval mode (no dropout) and restore its previous mode afterwards."""

    def __init__(self, model):
        self.model, self.was_training = model, model.training

    def __enter__(self):
        self.model.eval()

    def __exit__(self, *exc):
        self.model.train(self.was_training)


def _as_batch(prompt_ids, device) -> torch.Tensor:
    """A prompt as ``(B, P)`` ids on ``device`` from a list, ``(P,)`` or ``(B, P)`` tensor."""
    ids = torch.as_tensor(prompt_ids, dtype=torch.long, device=device)
    if ids.dim() == 1:
        ids = ids[None]                                   # (1, P)
    if ids.dim() != 2 or ids.shape[1] == 0:
        raise ValueError("the prompt must hold at least one character")
    return ids


@torch.inference_mode()
def generate(model, prompt_ids, length: int, temperature: float | None = None,
             generator: torch.Generator | None = None) -> torch.Tensor:
    """Continue each prompt by ``length`` characters.

    Args:
        prompt_ids: ``(B, P)`` (or ``(P,)``) ids, ``P >= 1``; all prompts of a batch have one length.
        length: number of new characters.
        temperature: ``None`` for greedy (argmax); else ``beta`` of ``softmax(beta * logits)``.
        generator: the random source of temperature sampling (reproducible samples).
    Returns:
        ``(B, length)`` ids of the new characters (without the prompt).
    """
    device = next(model.parameters()).device
    ids = _as_batch(prompt_ids, device)                   # (B, P)
    out = torch.empty(ids.shape[0], length, dtype=torch.long, device=device)  # (B, length)
    with _EvalMode(model):
        logits, state = model(ids)                        # (B, P, V); state (L, B, H) x2
        last = logits[:, -1]                              # (B, V)
        for t in range(length):
            if temperature is None:
                nxt = last.argmax(dim=-1)                 # (B,)
            else:
                probs = torch.softmax(last.float() * temperature, dim=-1)       # (B, V)
                nxt = torch.multinomial(probs, 1, generator=generator)[:, 0]    # (B,)
            out[:, t] = nxt
            if t + 1 < length:
                last, state = model.step(nxt, state)      # (B, V); state carried, prefix not re-run
    return out


@torch.inference_mode()
def beam_search(model, prompt_ids, length: int, beam_width: int, length_norm: float = 0.0,
                stop_ids=(), return_all: bool = False):
    """The most probable continuation of one prompt found with a beam of ``beam_width`` hypotheses.

    All live hypotheses are advanced together: one batched forward of ``(W, 1)`` per step with the
    ``(L, W, H)`` states reordered to follow their hypotheses. A hypothesis's score is the sum of
    the log-probabilities of its characters. With ``stop_ids`` (e.g. the id of ``'.'``) a
    hypothesis ends when it emits one of them, so hypotheses differ in length and
    ``length_norm = alpha`` ranks them by ``score / length ** alpha`` (0 = plain sum).

    Args:
        prompt_ids: ``(P,)`` ids, ``P >= 1``.
        length: maximum number of new characters.
    Returns:
        ``(ids, score)``: the best continuation, ``(n,)`` ids with ``n <= length``, and its summed
        log-probability; with ``return_all`` a list of such pairs, best first.
    """
    if beam_width < 1 or length < 1:
        raise ValueError("beam_width and length must be >= 1")
    device = next(model.parameters()).device
    ids = _as_batch(prompt_ids, device)
    if ids.shape[0] != 1:
        raise ValueError("beam search continues one prompt at a time")
    stop = torch.as_tensor(list(stop_ids), dtype=torch.long, device=device)
    finished: list[tuple[torch.Tensor, float]] = []
    with _EvalMode(model):
        logits, (h, c) = model(ids)                             # (1, P, V); (L, 1, H)
        logp = F.log_softmax(logits[:, -1].float(), dim=-1)    # (W=1, V)
        vocab = logp.shape[-1]
        scores = torch.zeros(1, device=device)                  # (W,)
        seqs = torch.empty(1, 0, dtype=torch.long, device=device)  # (W, t)
        for t in range(length):
            cand = (scores[:, None] + logp).view(-1)            # (W * V,)
            k = min(2 * beam_width if len(stop) else beam_width, cand.numel())
            top_scores, top_idx = cand.topk(k)                  # (k,), sorted best first
            beam = torch.div(top_idx, vocab, rounding_mode="floor")  # (k,) hypothesis each extends
            char = top_idx % vocab                              # (k,) the character it adds
            new_seqs = torch.cat([seqs[beam], char[:, None]], dim=1)  # (k, t+1)
            keep = torch.arange(k, device=device) < beam_width  # only the top W may survive or finish
            if len(stop):
                ended = torch.isin(char, stop)                  # (k,)
                for i in torch.nonzero(ended & keep).flatten().tolist():
                    finished.append((new_seqs[i], float(top_scores[i])))
                alive = torch.nonzero(~ended).flatten()[:beam_width]  # up to W live hypotheses
            else:
                alive = torch.nonzero(keep).flatten()
            if len(alive) == 0:
                seqs = seqs[:0]                                 # every surviving hypothesis ended
                break
            seqs, scores, beam = new_seqs[alive], top_scores[alive], beam[alive]
            h, c = h[:, beam], c[:, beam]                       # (L, W, H): follow the hypotheses
            if t + 1 < length:
                logits, (h, c) = model.step(char[alive], (h, c))      # (W, V)
                logp = F.log_softmax(logits.float(), dim=-1)          # (W, V)
    # Hypotheses still alive reached the maximum length; they compete with the ended ones.
    candidates = finished + [(seqs[i], float(scores[i])) for i in range(len(seqs))]

    def rank(item):
        seq, score = item
        return score / (len(seq) ** length_norm) if length_norm else score

    candidates.sort(key=rank, reverse=True)
    if return_all:
        return candidates
    return candidates[0]


def training_samples(model, vocabulary, generator: torch.Generator, step: int, validation_loss: float) -> dict:
    """The row written to samples.jsonl (and, as text, to samples.txt) during training: 5 greedy
    samples of 30 characters and 2 of 120 from random first characters, and one 120-character sample
    at each beta in {0.5, 1, 2}. Each text starts with its random first character (``prompt`` None)."""
    device = next(model.parameters()).device
    groups = []
    for n, length in ((5, 30), (2, 120)):
        start = torch.randint(0, len(vocabulary), (n, 1), generator=generator).to(device)   # (n, 1)
        rest = generate(model, start, length - 1)                                        # (n, length-1)
        groups.append(_group("greedy", length, None, vocabulary, torch.cat([start, rest], 1)))
    for beta in (0.5, 1.0, 2.0):
        start = torch.randint(0, len(vocabulary), (1, 1), generator=generator).to(device)   # (1, 1)
        rest = generate(model, start, 119, temperature=beta, generator=generator)        # (1, 119)
        groups.append(_group("temperature", 120, beta, vocabulary, torch.cat([start, rest], 1)))
    loss = validation_loss if math.isfinite(validation_loss) else None
    return {"step": step, "validation_loss": loss, "groups": groups}


def _group(kind: str, length: int, beta: float | None, vocabulary, ids: torch.Tensor) -> dict:
    texts = ["".join(vocabulary[i] for i in row) for row in ids.tolist()]   # ids (n, length)
    return {"kind": kind, "length": length, "temperature": beta, "prompt": None, "texts": texts}


def samples_text(row: dict) -> str:
    """A row of :func:`training_samples` as the block of samples.txt. Newlines are shown as ``\\n``
    (and backslashes doubled) so that each sample is one line."""
    loss = row["validation_loss"]
    lines = [f"## step {row['step']} (validation loss {math.nan if loss is None else loss:.4f})"]
    for group in row["groups"]:
        if group["kind"] == "greedy":
            lines.append(f"greedy, {group['length']} characters:")
        else:
            lines.append(f"sampled, beta={group['temperature']:g} (softmax(beta*logits)), "
                         f"{group['length']} characters:")
        lines += [f"  {_one_line(text)}" for text in group["texts"]]
    return "\n".join(lines) + "\n\n"


def _one_line(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")
