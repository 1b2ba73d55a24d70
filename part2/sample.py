"""Generate text from a part-2 checkpoint: greedy, temperature sampling, or beam search.

    python part2/sample.py --checkpoint checkpoints/part2/best.pt --length 200
    python part2/sample.py --prompt "Sleeping beauty is" --method sample --temperature 2 --num_samples 3
    python part2/sample.py --prompt "The king said" --method beam --beam_width 5 --length 60
    python part2/sample.py --prompt "The king" --method beam --stop_at ".!?" --length_norm 1 --json out.json

Temperature follows the assignment: p = softmax(beta * logits), where --temperature is beta, the
inverse temperature: it MULTIPLIES the logits, so a larger beta is greedier. The prompt is fed once;
every new character costs one step of the LSTM with its carried state (the prefix is never re-run).
The same ``--seed`` gives the same text.
"""
from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse

import torch

from common.args import make_parser, nonnegative_float, nonnegative_int, positive_float, positive_int
from common.io import write_json
from common.runtime import UserError, resolve_device, run_main, seed_everything
from part2.checkpoints import load_trained_model
from part2.dataset import encode
from part2.sampling import beam_search, generate


def build_parser() -> argparse.ArgumentParser:
    parser = make_parser("Generate text with a trained part-2 model (greedy, temperature sampling, beam search).")
    parser.allow_abbrev = False
    parser.add_argument("--checkpoint", default="checkpoints/part2/best.pt",
                        help="a checkpoint written by part2/train.py (best.pt or last.pt)")
    parser.add_argument("--length", type=positive_int, default=200,
                        help="number of characters to generate after the prompt")
    parser.add_argument("--prompt", default=None,
                        help="text to complete, e.g. 'Sleeping beauty is' (\\n for a newline); "
                             "None: one random character")
    parser.add_argument("--method", choices=["greedy", "sample", "beam"], default="sample",
                        help="greedy: argmax each step; sample: draw from softmax(beta*logits); "
                             "beam: beam search over summed log-probabilities")
    parser.add_argument("--temperature", type=positive_float, default=1.0,
                        help="beta, the inverse temperature of softmax(beta * logits), for --method sample: "
                             "it MULTIPLIES the logits (the assignment's definition), so beta=2 is greedier, "
                             "beta=0.5 more random, and a large beta approaches greedy")
    parser.add_argument("--beam_width", type=positive_int, default=5,
                        help="hypotheses kept by --method beam (at most the vocabulary size)")
    parser.add_argument("--length_norm", type=nonnegative_float, default=0.0,
                        help="beam: rank hypotheses by score / length**alpha (0 = plain sum)")
    parser.add_argument("--stop_at", default="",
                        help="beam: characters that end a hypothesis, e.g. '.!?'")
    parser.add_argument("--num_samples", type=positive_int, default=1,
                        help="independent samples (sample/greedy from random starts) or best beams (beam)")
    parser.add_argument("--seed", type=nonnegative_int, default=0,
                        help="random seed of the first characters and of sampling")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--json", default=None, metavar="PATH",
                        help="also write the samples as JSON (keys: checkpoint, step, method, prompt, seed, "
                             "temperature, beam_width, length_norm, stop_at, samples: [{text, continuation, "
                             "log_probability}])")
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    device = resolve_device(args.device)
    model, vocab, ckpt = load_trained_model(args.checkpoint, device)
    char_to_ix = {ch: i for i, ch in enumerate(vocab)}
    if args.method == "beam" and args.beam_width > len(vocab):
        raise UserError(f"--beam_width {args.beam_width} is larger than the vocabulary ({len(vocab)} "
                        "characters); use at most that many")
    if args.method == "beam" and args.num_samples > args.beam_width:
        raise UserError(f"--num_samples {args.num_samples} exceeds --beam_width {args.beam_width}")
    prompt = "" if args.prompt is None else args.prompt.replace("\\n", "\n")
    prompt_ids = encode(prompt, char_to_ix) if prompt else None
    stop_ids = encode(args.stop_at, char_to_ix) if args.stop_at else []

    seed_everything(args.seed)
    generator = torch.Generator().manual_seed(args.seed)
    if args.method == "beam":
        start = prompt_ids or [int(torch.randint(len(vocab), (1,), generator=generator))]
        beams = beam_search(model, start, args.length, args.beam_width, length_norm=args.length_norm,
                            stop_ids=stop_ids, return_all=True)[:args.num_samples]
        samples = [(start, ids.tolist(), score) for ids, score in beams]
    else:
        if prompt_ids:
            starts = torch.tensor([prompt_ids] * args.num_samples)                    # (N, P)
        else:
            starts = torch.randint(len(vocab), (args.num_samples, 1), generator=generator)  # (N, 1)
        beta = args.temperature if args.method == "sample" else None
        out = generate(model, starts.to(device), args.length, temperature=beta, generator=generator)  # (N, length)
        samples = [(starts[i].tolist(), out[i].tolist(), None) for i in range(args.num_samples)]
    texts = [("".join(vocab[i] for i in first), "".join(vocab[i] for i in rest), score)
             for first, rest, score in samples]
    for rank, (first, rest, score) in enumerate(texts, 1):
        print(f"--- {header(args, rank, score, len(rest))}")
        print(first + rest)
    if args.json:
        write_json(args.json, {"checkpoint": str(args.checkpoint), "step": ckpt["step"], "method": args.method,
                                "prompt": args.prompt, "seed": args.seed, "temperature": args.temperature,
                                "beam_width": args.beam_width, "length_norm": args.length_norm,
                                "stop_at": args.stop_at,
                                "samples": [{"text": first + rest, "continuation": rest, "log_probability": score}
                                            for first, rest, score in texts]})
    return 0


def header(args, rank: int, score: float | None, length: int) -> str:
    """The line printed above each sample."""
    if args.method == "beam":
        return (f"beam {rank}/{args.beam_width}: log-probability {score:.3f} "
                f"({score / length:.3f} per character)")
    label = "greedy" if args.method == "greedy" else f"sample, beta={args.temperature:g}"
    return f"{label} {rank}/{args.num_samples}"


if __name__ == "__main__":
    run_main(main)
