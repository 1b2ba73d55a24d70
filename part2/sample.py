"""Generate text from a part-2 checkpoint: greedy, sampling at an inverse temperature tau, beam search,
each optionally completing a prompt (questions 2.1b-2.3).

    python part2/sample.py --method greedy --prompt "Sleeping beauty is" --length 80
    python part2/sample.py --method sample --temperature 2 --num_samples 3
    python part2/sample.py --method beam --beam_width 5 --prompt "The king said" --length 60

Sampling follows the assignment: p = softmax(tau * logits), so a larger tau is greedier. The prompt
is fed once; each new character is one step of the LSTM with its carried state.
"""
from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse
import json

import torch
from torch.nn import functional as F

from part2.dataset import UserError
from part2.model import TextGenerationModel, resolve_device


@torch.no_grad()
def generate(model, prompt: torch.Tensor, length: int, tau: float | None = None, generator=None) -> torch.Tensor:
    """Continue each row of ``prompt`` ``(B, P)`` by ``length`` characters: ``(B, length)`` ids.
    ``tau`` None is greedy (argmax); else each character is drawn from ``softmax(tau * logits)``."""
    was_training = model.training
    model.eval()
    logits, state = model(prompt)                                        # (B, P, V); (L, B, H) each
    last, out = logits[:, -1], []                                        # (B, V)
    for t in range(length):
        if tau is None:
            nxt = last.argmax(-1)                                        # (B,)
        else:
            nxt = torch.multinomial(torch.softmax(tau * last.float(), -1).cpu(), 1, generator=generator)[:, 0]
            nxt = nxt.to(prompt.device)
        out.append(nxt)
        if t + 1 < length:
            last, state = model.step(nxt, state)                         # (B, V): the prefix is not re-run
    model.train(was_training)
    return torch.stack(out, 1) if out else prompt.new_empty(prompt.shape[0], 0)


@torch.no_grad()
def beam_search(model, prompt: list[int], length: int, beam_width: int, length_norm: float = 0.0, stop_ids=()):
    """The ``beam_width`` hypotheses of highest summed log-probability continuing ``prompt``, best first,
    as ``(ids, score)``. A hypothesis ends at ``length`` characters or at one of ``stop_ids``; hypotheses
    of different lengths are ranked by ``score / length ** length_norm``."""
    was_training = model.training
    model.eval()
    logits, state = model(torch.tensor([prompt], device=model.device))  # (1, P, V)
    logp = F.log_softmax(logits[:, -1].float(), -1)                       # (W=1, V)
    scores, seqs, finished = torch.zeros(1, device=model.device), [[]], []
    for t in range(length):
        vocab = logp.shape[-1]
        k = min(2 * beam_width if stop_ids else beam_width, logp.numel())  # spares for those that end
        top, index = (scores[:, None] + logp).flatten().topk(k)                # (k,), best first
        parent, char = (index // vocab).tolist(), (index % vocab).tolist()
        finished += [(seqs[parent[i]] + [char[i]], float(top[i])) for i in range(min(k, beam_width))
                     if char[i] in stop_ids]                                    # only the top W may end
        alive = [i for i in range(k) if char[i] not in stop_ids][:beam_width]
        seqs, scores = [seqs[parent[i]] + [char[i]] for i in alive], top[alive]
        if not alive:
            break
        rows = torch.tensor([parent[i] for i in alive], device=model.device)
        state = tuple(s[:, rows] for s in state)                                # (L, W, H): follow the hypotheses
        if t + 1 < length:
            logits, state = model.step(torch.tensor([char[i] for i in alive], device=model.device), state)
            logp = F.log_softmax(logits.float(), -1)                            # (W, V)
    model.train(was_training)
    candidates = finished + list(zip(seqs, scores.tolist()))
    return sorted(candidates, key=lambda c: c[1] / len(c[0]) ** length_norm, reverse=True)[:beam_width]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Generate text with a trained part-2 model.", allow_abbrev=False,
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--checkpoint", default="checkpoints/part2/best.pt", help="best.pt or checkpoint.pt of "
                   "part2/train.py")
    p.add_argument("--method", choices=["greedy", "sample", "beam"], default="sample",
                   help="greedy: the most likely character each step; sample: drawn from softmax(tau * logits); "
                   "beam: beam search over summed log-probabilities")
    p.add_argument("--temperature", type=float, default=1.0,
                   help="tau of softmax(tau * logits) for --method sample, as in the assignment: it multiplies "
                   "the logits, so tau = 2 is greedier and tau = 0.5 more random (this tau is the inverse of the "
                   "temperature T of the other common convention, softmax(logits / T))")
    p.add_argument("--prompt", default=None, help="text to complete, e.g. 'Sleeping beauty is' (\\n: newline); "
                   "None: a random first character")
    p.add_argument("--length", type=int, default=200, help="characters to generate after the prompt")
    p.add_argument("--num_samples", type=int, default=1, help="samples, or best beams for --method beam")
    p.add_argument("--beam_width", type=int, default=5, help="hypotheses kept by --method beam")
    p.add_argument("--length_norm", type=float, default=0.0, help="beam: rank by score / length**alpha")
    p.add_argument("--stop_at", default="", help="beam: characters that end a hypothesis, e.g. '.!?'")
    p.add_argument("--seed", type=int, default=0, help="random seed of the first characters and of sampling")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    p.add_argument("--json", default=None, metavar="PATH", help="also write the samples as JSON")
    return p


def load(path: Path, device: str):
    """The model of a checkpoint (eval mode) and its vocabulary."""
    if not path.is_file():
        raise UserError(f"no checkpoint at {path}; train one first: python part2/train.py --txt_file BOOK "
                        "(or pass --checkpoint PATH)")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
        c = ckpt["config"]
        model = TextGenerationModel(c["batch_size"], c["seq_length"], len(ckpt["vocabulary"]), c["lstm_num_hidden"],
                                    c["lstm_num_layers"], device, embedding_dim=c["embedding_dim"])
        model.load_state_dict(ckpt["model"])
    except Exception as exc:
        raise UserError(f"{path} is not a checkpoint of part2/train.py ({type(exc).__name__}); "
                        "train one with python part2/train.py") from None
    return model.eval(), ckpt


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    for name in ("length", "num_samples", "beam_width", "temperature"):
        if getattr(args, name) <= 0:
            parser.error(f"argument --{name}: must be positive, got {getattr(args, name)}")
    model, ckpt = load(Path(args.checkpoint), resolve_device(args.device))
    vocab = ckpt["vocabulary"]
    char_to_ix = {ch: i for i, ch in enumerate(vocab)}

    def encode(text):
        unknown = sorted(set(text) - char_to_ix.keys())
        if unknown:
            raise UserError(f"{len(unknown)} character(s) not in the vocabulary of the training text: "
                            + ", ".join(f"{ch!r} (U+{ord(ch):04X})" for ch in unknown))
        return [char_to_ix[ch] for ch in text]

    prompt = encode((args.prompt or "").replace("\\n", "\n"))
    generator = torch.Generator().manual_seed(args.seed)
    torch.manual_seed(args.seed)
    if args.method == "beam":
        if args.num_samples > args.beam_width:
            raise UserError(f"--num_samples {args.num_samples} exceeds --beam_width {args.beam_width}")
        start = prompt or torch.randint(len(vocab), (1,), generator=generator).tolist()
        beams = beam_search(model, start, args.length, args.beam_width, args.length_norm, set(encode(args.stop_at)))
        samples = [(start, ids, score) for ids, score in beams[:args.num_samples]]
    else:
        starts = (torch.tensor([prompt] * args.num_samples) if prompt else
                  torch.randint(len(vocab), (args.num_samples, 1), generator=generator))  # (N, P)
        tau = args.temperature if args.method == "sample" else None
        out = generate(model, starts.to(model.device), args.length, tau, generator).tolist()  # (N, length)
        samples = [(starts[i].tolist(), out[i], None) for i in range(args.num_samples)]
    texts = [("".join(vocab[i] for i in first), "".join(vocab[i] for i in rest), score)
             for first, rest, score in samples]
    for rank, (first, rest, score) in enumerate(texts, 1):
        label = {"greedy": "greedy", "sample": f"sample, tau={args.temperature:g}"}.get(args.method)
        print(f"--- {label} {rank}/{args.num_samples}" if label else
              f"--- beam {rank}/{args.beam_width}: log-probability {score:.3f} ({score / len(rest):.3f} per character)")
        print(first + rest)
    if args.json:
        Path(args.json).write_text(json.dumps(
            {"checkpoint": str(args.checkpoint), "step": ckpt["step"], "method": args.method, "prompt": args.prompt,
             "seed": args.seed, "temperature": args.temperature, "beam_width": args.beam_width,
             "samples": [{"text": a + b, "continuation": b, "log_probability": s} for a, b, s in texts]},
            ensure_ascii=False, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except UserError as exc:
        print(f"error: {' '.join(str(exc).split())}", file=sys.stderr)
        sys.exit(2)
