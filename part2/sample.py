"""Generate text from a part-2 checkpoint: greedy, temperature sampling, or beam search.

    python part2/sample.py --checkpoint checkpoints/part2/best.pt --length 200
    python part2/sample.py --prompt "Sleeping beauty is" --method sample --temperature 2 --num_samples 3
    python part2/sample.py --prompt "The king said" --method beam --beam_width 5 --length 60

Temperature follows the assignment: p = softmax(tau * logits), tau MULTIPLIES the logits, so a larger
tau is greedier. The prompt is fed once; every new character costs one step of the LSTM with its
carried state (the prefix is never re-run).
"""
from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse

import torch

from common.args import nonnegative_int, positive_float, positive_int
from common.checkpoint import load_checkpoint
from common.runtime import UserError, resolve_device, run_main, seed_everything
from part2.dataset import encode
from part2.model import build_model
from part2.sampling import beam_search, generate
from part2.train import KIND


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Generate text with a trained part-2 model (greedy, temperature sampling, beam search).",
        allow_abbrev=False, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--checkpoint", default="checkpoints/part2/best.pt",
                        help="a checkpoint written by part2/train.py (best.pt or last.pt)")
    parser.add_argument("--length", type=int, default=200,
                        help="number of characters to generate after the prompt (>= 1)")
    parser.add_argument("--prompt", default=None,
                        help="text to complete, e.g. 'Sleeping beauty is'; default: one random character")
    parser.add_argument("--method", choices=["greedy", "sample", "beam"], default="sample",
                        help="greedy: argmax each step; sample: draw from softmax(tau*logits); "
                             "beam: beam search over summed log-probabilities")
    parser.add_argument("--temperature", type=positive_float, default=1.0,
                        help="tau of softmax(tau * logits) for --method sample; tau MULTIPLIES the logits "
                             "(the assignment's definition): tau=2 is greedier, tau=0.5 more random, "
                             "large tau approaches greedy")
    parser.add_argument("--beam_width", type=positive_int, default=5,
                        help="hypotheses kept by --method beam (at most the vocabulary size)")
    parser.add_argument("--length_norm", type=float, default=0.0,
                        help="beam: rank finished hypotheses by score / length**alpha (0 = plain sum)")
    parser.add_argument("--stop_at", default="",
                        help="beam: characters that end a hypothesis, e.g. '.!?'")
    parser.add_argument("--num_samples", type=positive_int, default=1,
                        help="independent samples (sample/greedy from random starts) or best beams (beam)")
    parser.add_argument("--seed", type=nonnegative_int, default=0, help="random seed")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if args.length < 1:
        raise UserError(f"--length must be at least 1, got {args.length}")
    if args.length_norm < 0:
        raise UserError(f"--length_norm must be >= 0, got {args.length_norm}")
    device = resolve_device(args.device)
    ckpt = load_checkpoint(args.checkpoint, KIND, map_location=device)
    if "model_state" not in ckpt or "vocabulary" not in ckpt:
        raise UserError(f"checkpoint '{args.checkpoint}' holds no model")
    vocab = list(ckpt["vocabulary"])
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
    model = build_model(len(vocab), ckpt["args"], device)
    model.load_state_dict(ckpt["model_state"])
    model.eval()

    def text(ids) -> str:
        return "".join(vocab[i] for i in ids)

    if args.method == "beam":
        start = prompt_ids or [int(torch.randint(len(vocab), (1,), generator=generator))]
        beams = beam_search(model, start, args.length, args.beam_width, length_norm=args.length_norm,
                            stop_ids=stop_ids, return_all=True)
        for rank, (ids, score) in enumerate(beams[:args.num_samples], 1):
            print(f"--- beam {rank}/{args.beam_width}: log-probability {score:.3f} "
                  f"({score / len(ids):.3f} per character)")
            print(text(start) + text(ids.tolist()))
        return 0
    if prompt_ids:
        starts = torch.tensor([prompt_ids] * args.num_samples)                    # (N, P)
    else:
        starts = torch.randint(len(vocab), (args.num_samples, 1), generator=generator)  # (N, 1)
    tau = args.temperature if args.method == "sample" else None
    out = generate(model, starts.to(device), args.length, temperature=tau, generator=generator)  # (N, length)
    for i in range(args.num_samples):
        label = "greedy" if tau is None else f"sample, tau={tau:g}"
        print(f"--- {label} {i + 1}/{args.num_samples}")
        print(text(starts[i].tolist()) + text(out[i].tolist()))
    return 0


if __name__ == "__main__":
    run_main(main)
