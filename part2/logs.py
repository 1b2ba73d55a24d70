"""What part-2 training writes into ``--summary_path``: ``config.json``, ``metrics.csv``, TensorBoard
events, ``samples.jsonl`` (one JSON row per sampling step, see
:func:`part2.sampling.training_samples`), the same samples as text in ``samples.txt`` and, at the
end, ``result.json``. Only rank 0 writes (see part2/train.py).

``result.json`` has these keys, always all of them (None where there is no value):
``steps`` (the last step trained), ``train_steps``, ``seconds`` (training time over all sessions),
``stopped`` (None when ``--train_steps`` was reached, else ``"SIGINT"``, ``"SIGTERM"``,
``"time_limit"`` or ``"a stop request to another process"``), ``best_val_loss``, ``best_val_step``,
``best_val_stream_loss`` (carried-state loss at that step), ``last_val_loss``, ``last_val_accuracy``,
``last_val_stream_loss``, ``last_val_stream_accuracy``, ``last_val_step``, ``processes``,
``checkpoint`` (last.pt) and ``best_checkpoint`` (best.pt).
"""
from __future__ import annotations

import csv
import json
import math
from pathlib import Path

from common.io import atomic_write_text, write_json
from part2.sampling import samples_text

CSV_FIELDS = ["step", "split", "loss", "accuracy", "learning_rate", "elapsed_s", "chars_per_s"]
RESULT_KEYS = ("steps", "train_steps", "seconds", "stopped", "best_val_loss", "best_val_step",
               "best_val_stream_loss", "last_val_loss", "last_val_accuracy", "last_val_stream_loss",
               "last_val_stream_accuracy", "last_val_step", "processes", "checkpoint", "best_checkpoint")


class RunLog:
    """The summary folder of one run; a resumed run (``resume_step``) first drops what a killed
    session wrote after its checkpoint, so the files read as if the run had never stopped."""

    def __init__(self, summary_path, config: dict, resume_step: int | None):
        self.folder = Path(summary_path)
        self.csv_path, self.samples_path = self.folder / "metrics.csv", self.folder / "samples.txt"
        self.jsonl_path = self.folder / "samples.jsonl"
        self.folder.mkdir(parents=True, exist_ok=True)
        self.last_validation: dict = {}
        if resume_step is None:
            atomic_write_text(self.csv_path, ",".join(CSV_FIELDS) + "\n")
            atomic_write_text(self.samples_path, "")
            atomic_write_text(self.jsonl_path, "")
            for old in (self.folder / "tensorboard").glob("events.out.tfevents.*"):
                old.unlink()
        else:
            truncate_after(self.csv_path, resume_step)
            truncate_after(self.samples_path, resume_step)
            truncate_after(self.jsonl_path, resume_step)
            if not self.csv_path.exists():
                atomic_write_text(self.csv_path, ",".join(CSV_FIELDS) + "\n")
        write_json(self.folder / "config.json", config)
        from torch.utils.tensorboard import SummaryWriter  # slow to import: only where it is used
        self.writer = SummaryWriter(log_dir=str(self.folder / "tensorboard"),
                                    purge_step=None if resume_step is None else resume_step + 1)

    def row(self, step: int, split: str, loss: float, accuracy: float, lr: float, elapsed: float,
            rate: str = "") -> None:
        """One line of metrics.csv and the matching TensorBoard scalars."""
        with open(self.csv_path, "a", encoding="utf-8", newline="") as handle:
            csv.writer(handle).writerow([step, split, f"{loss:.6f}", f"{accuracy:.6f}", f"{lr:.6g}",
                                         f"{elapsed:.1f}", rate])
        self.writer.add_scalar(f"loss/{split}", loss, step)
        self.writer.add_scalar(f"accuracy/{split}", accuracy, step)
        if split == "train":
            self.writer.add_scalar("learning_rate", lr, step)

    def validation(self, step: int, windows: tuple, stream: tuple, lr: float, elapsed: float) -> None:
        """The ``val`` (zero-state windows) and ``val_stream`` (carried state) rows of one validation."""
        self.row(step, "val", *windows, lr, elapsed)
        self.row(step, "val_stream", *stream, lr, elapsed)
        self.last_validation = {"last_val_step": step, "last_val_loss": windows[0], "last_val_accuracy": windows[1],
                                "last_val_stream_loss": stream[0], "last_val_stream_accuracy": stream[1]}

    def samples(self, row: dict) -> None:
        """Append one row of :func:`part2.sampling.training_samples` to samples.jsonl and as text to
        samples.txt and TensorBoard."""
        with open(self.jsonl_path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
        block = samples_text(row)
        with open(self.samples_path, "a", encoding="utf-8") as handle:
            handle.write(block)
        self.writer.add_text("samples", "    " + block.replace("\n", "\n    "), row["step"])

    def result(self, values: dict) -> Path:
        """Write result.json with every key of :data:`RESULT_KEYS` (NaN and infinity become None)."""
        clean = {key: _plain(values.get(key)) for key in RESULT_KEYS}
        write_json(self.folder / "result.json", clean)
        return self.folder / "result.json"

    def close(self) -> None:
        self.writer.close()


def _plain(value):
    return None if isinstance(value, float) and not math.isfinite(value) else value


def truncate_after(path: Path, step: int) -> None:
    """Drop what a killed run wrote after ``step`` from metrics.csv / samples.jsonl / samples.txt
    before resuming (a row cut short by the kill is dropped too)."""
    if not path.exists():
        return
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".jsonl":
        kept = [ln for ln in text.splitlines(keepends=True) if ln.endswith("\n") and json.loads(ln)["step"] <= step]
        atomic_write_text(path, "".join(kept))
        return
    if path.suffix == ".csv":
        lines = text.splitlines(keepends=True)
        kept = lines[:1] + [ln for ln in lines[1:] if ln.strip() and int(ln.split(",", 1)[0]) <= step]
        atomic_write_text(path, "".join(kept))
        return
    blocks = text.split("## step ")
    kept = [blocks[0]] + ["## step " + b for b in blocks[1:] if int(b.split(" ", 1)[0]) <= step]
    atomic_write_text(path, "".join(kept))
