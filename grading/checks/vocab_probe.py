"""Build the student's TextDataset in a fresh interpreter and write its vocabulary as JSON.

Run by :func:`grading.checks.text.probe_vocabularies` as ``python -P vocab_probe.py ROOT TEXT
SEQ_LENGTH OUT`` with a PYTHONHASHSEED of its own, from the copy of the submission: a vocabulary
built by iterating a set changes order with the hash seed. Standard library only (torch only for a
``convert_to_string`` that needs a tensor), and ``-P`` keeps this folder off ``sys.path``; the
grader's repository is taken off it too.
"""
import json
import sys
from pathlib import Path


GRADER_ROOT = Path(__file__).resolve().parents[2]  # its part2/ must not shadow the student's


def to_string(dataset, index: int) -> str:
    """``convert_to_string([index])``, or of a tensor when a list fails (as grading.checks.text)."""
    try:
        return dataset.convert_to_string([index])
    except Exception:
        import torch  # only for a convert_to_string written for tensors
        return dataset.convert_to_string(torch.tensor([index]))


def main(root: str, text: str, seq_length: str, out: str) -> None:
    keep = [p for p in sys.path if Path(p).resolve() != GRADER_ROOT]  # e.g. from PYTHONPATH
    sys.path[:] = [root, str(Path(root) / "part2"), *keep]  # both import styles, as in the sandbox
    try:
        from part2.dataset import TextDataset
        dataset = TextDataset(text, int(seq_length))
        size = dataset.vocab_size() if callable(dataset.vocab_size) else dataset.vocab_size
        result = {"vocab": "".join(to_string(dataset, i) for i in range(int(size)))}
    except Exception as exc:
        result = {"error": f"{type(exc).__name__}: {' '.join(str(exc).split())[:200]}"}
    Path(out).write_text(json.dumps(result), encoding="utf-8")


if __name__ == "__main__":
    main(*sys.argv[1:5])
