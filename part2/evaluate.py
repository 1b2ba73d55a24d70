"""Score a part-2 checkpoint on the held-out tail of its book, both ways part2/train.py does.

    python part2/evaluate.py --checkpoint checkpoints/part2/best.pt
    python part2/evaluate.py --checkpoint best.pt --txt_file BOOK   # the book moved

* windows: the tail cut into ``seq_length`` windows, each read from a zero state, as the model is
  trained (the ``val`` rows of metrics.csv);
* carried state: the tail read as one text, the LSTM state carried along, so every character is
  predicted from all the text before it (the ``val_stream`` rows; the usual language-model measure).
"""
from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse

from common.args import make_parser
from common.io import write_json
from common.runtime import UserError, resolve_device, run_main
from part2.checkpoints import load_trained_model
from part2.dataset import TextDataset
from part2.training import evaluate, evaluate_stream


def build_parser() -> argparse.ArgumentParser:
    parser = make_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", default="checkpoints/part2/best.pt",
                        help="a checkpoint written by part2/train.py")
    parser.add_argument("--txt_file", default=None,
                        help="the book it was trained on; None: the path stored in the checkpoint")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--json", default=None, metavar="PATH",
                        help="also write the scores as JSON (keys: checkpoint, step, book, val_chars, "
                             "window_loss, window_accuracy, stream_loss, stream_accuracy)")
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    device = resolve_device(args.device)
    model, vocabulary, ckpt = load_trained_model(args.checkpoint, device)
    saved = ckpt["args"]
    book = args.txt_file or saved.get("txt_file")
    if not book:
        raise UserError("the checkpoint names no book; pass --txt_file PATH")
    dataset = TextDataset(book, saved["seq_length"], val_fraction=saved["val_fraction"],
                          strip_header=not saved.get("keep_gutenberg_header", False))
    if vocabulary != dataset.chars:
        raise UserError(f"the checkpoint's vocabulary ({len(vocabulary)} characters) differs "
                        f"from that of '{book}' ({dataset.vocab_size}); pass the book it was trained on")
    window_loss, window_acc = evaluate(model, *dataset.val_windows())
    stream_loss, stream_acc = evaluate_stream(model, dataset.val_data)
    print(f"{args.checkpoint} (step {ckpt['step']}), {len(dataset.val_data):,} held-out characters "
          f"of '{Path(book).name}':")
    print(f"  {saved['seq_length']}-character windows from a zero state: loss {window_loss:.4f} "
          f"nats/char, accuracy {window_acc:.4f}")
    print(f"  carried state over the whole tail:      loss {stream_loss:.4f} nats/char, "
          f"accuracy {stream_acc:.4f}")
    if args.json:
        write_json(args.json, {"checkpoint": str(args.checkpoint), "step": ckpt["step"], "book": str(book),
                               "val_chars": len(dataset.val_data), "window_loss": window_loss,
                               "window_accuracy": window_acc, "stream_loss": stream_loss,
                               "stream_accuracy": stream_acc})
    return 0


if __name__ == "__main__":
    run_main(main)
