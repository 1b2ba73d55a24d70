"""Reproduce every figure, table and number of the report with one command.

    python reproduce.py --quick          # a few minutes on a laptop CPU (short budgets)
    python reproduce.py                  # the full run (about an hour and more on a 2-core CPU)
    python reproduce.py --smoke --out /tmp/report   # tiny budgets, for tests and CI
    python reproduce.py --only part2_train,part2_samples --force   # redo some pieces

Each piece runs the parts' own command-line scripts as subprocesses -- exactly what a user would
type -- with their raw outputs under ``<out>/.cache/<piece>/`` (log included). The figures and
tables the report uses are then copied or derived into ``<out>/figures/`` and ``<out>/tables/``,
key numbers into ``<out>/values.json``, and ``report/REPORT.template.md`` is rendered into
``<out>/REPORT.md`` (see ``report/render.py``).

Resuming: a finished piece leaves ``<out>/.cache/<piece>/done.json`` holding the hash of its
configuration (mode, commands); the next run skips it unless ``--force`` is given or its
configuration changed. An interrupted piece continues where its scripts can (the length study and
the trainers resume from their own checkpoints).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent))

from common.args import positive_int
from common.runtime import UserError, environment_info, run_main
from report import analyses
from report.render import render_report

ROOT = Path(__file__).resolve().parent
TEMPLATE = ROOT / "report" / "REPORT.template.md"
SHARED_BOOK = ROOT.parent / "shared" / "books" / "book_EN_grimms_fairy_tails.txt"

# Budgets per mode. Everything not listed here is the scripts' own default.
MODES = {
    "smoke": {
        "length_study": ["--quick", "--lengths", "5"],
        "optimizers": {"length": 5, "train_steps": 10, "eval_every": 5, "eval_size": 200,
                       "test_size": 200, "time_limit": 60},
        "grads": {"length": 100, "train_steps": 3, "batch_size": 8, "eval_every": 3,
                  "eval_size": 100, "test_size": 100, "time_limit": 60, "grad_batch": 4},
        "part2_train": ["--train_steps", "20", "--batch_size", "16", "--lstm_num_hidden", "32",
                        "--val_every", "10", "--sample_every", "10", "--print_every", "5",
                        "--checkpoint_every", "10"],
        "part2_samples": {"prompts": 1, "length": 20, "long": 40, "num_samples": 2},
        "karate": ["--epochs", "20", "--num_seeds", "2", "--snapshots", "2"],
    },
    "quick": {
        "length_study": ["--quick"],
        "optimizers": {"length": 10, "train_steps": 500, "eval_every": 25, "eval_size": 500,
                       "test_size": 2000, "time_limit": 90},
        "grads": {"length": 100, "train_steps": 400, "eval_every": 50, "eval_size": 500,
                  "test_size": 2000, "time_limit": 120, "grad_batch": 16},
        "part2_train": ["--train_steps", "600", "--val_every", "100", "--sample_every", "100",
                        "--print_every", "10", "--checkpoint_every", "100", "--time_limit", "6"],
        "part2_samples": {"prompts": 4, "length": 80, "long": 200, "num_samples": 3},
        "karate": ["--num_seeds", "5"],
    },
    "full": {
        "length_study": [],
        "optimizers": {"length": 20, "train_steps": 3000, "eval_every": 50, "eval_size": 1000,
                       "test_size": 10000, "time_limit": 600},
        "grads": {"length": 100, "train_steps": 3000, "eval_every": 50, "eval_size": 1000,
                  "test_size": 10000, "time_limit": 900, "grad_batch": 16},
        "part2_train": ["--preset", "best", "--time_limit", "15", "--sample_every", "250",
                        "--print_every", "10"],
        "part2_samples": {"prompts": 4, "length": 120, "long": 300, "num_samples": 5},
        "karate": [],
    },
}

PROMPTS, OPTIMIZERS = analyses.PROMPTS, analyses.OPTIMIZERS


@dataclass
class Context:
    out: Path
    mode: str
    cfg: dict
    workers: int = 1
    python: str = sys.executable
    values: dict = field(default_factory=dict)

    @property
    def figures(self) -> Path:
        return self.out / "figures"

    @property
    def tables(self) -> Path:
        return self.out / "tables"

    def cache(self, piece: str) -> Path:
        return self.out / ".cache" / piece


class PieceFailed(Exception):
    pass


def run_command(cmd: list, log: Path, stdout_file: Path | None = None) -> None:
    """Run ``python <cmd>`` from the repository root; its output is appended to ``log`` (or, with
    ``stdout_file``, its standard output goes there and a copy to the log).

    When reproduce.py is interrupted (Ctrl-C, or SIGTERM turned into KeyboardInterrupt by
    :func:`main`) the child gets SIGTERM too, so trainers save their checkpoint and the next run
    resumes them instead of finding an orphan still writing into the same folder.
    """
    full = [sys.executable, *map(str, cmd)]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with open(log, "a", encoding="utf-8") as handle:
        handle.write(f"\n$ {' '.join(full[1:])}\n")
        handle.flush()
        out = open(stdout_file, "w", encoding="utf-8") if stdout_file else handle
        try:
            child = subprocess.Popen(full, cwd=ROOT, stdout=out, stderr=handle, env=env)
            try:
                code = child.wait()
            except KeyboardInterrupt:
                child.terminate()
                try:
                    child.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    child.kill()
                raise
        finally:
            if stdout_file:
                out.close()
    if stdout_file and code == 0:
        with open(log, "a", encoding="utf-8") as handle:
            handle.write(Path(stdout_file).read_text(encoding="utf-8"))
    if code != 0:
        tail = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-1:]
        raise PieceFailed(f"'{' '.join(map(str, cmd[:1]))}' exited with {code}: "
                          f"{tail[0] if tail else ''} (log: {log})")


def book_path(ctx: Context) -> Path | None:
    """The default book: ../shared/books when present, else the downloader's cache, else (smoke
    only) a generated text so that CI without books or network still runs end to end."""
    if SHARED_BOOK.is_file():
        return SHARED_BOOK
    from assets.gutenberg import cached_path

    cached = cached_path("grimm")
    if cached.is_file():
        return cached
    if ctx.mode != "smoke":
        return None  # part2/train.py --book grimm downloads it, or says what to do when offline
    fake = ctx.cache("part2_train") / "generated_book.txt"
    fake.parent.mkdir(parents=True, exist_ok=True)
    line = ("Once upon a time there was a king's daughter. The wolf said to the king: "
            "Sleeping beauty is asleep in the tower, and the frog is in the well.\n")
    fake.write_text(line * 400, encoding="utf-8")
    return fake


# ----------------------------------------------------------------------------------------------
# Pieces: each has commands (whose hash decides whether it must rerun) and a collect step that
# turns the raw outputs into the report's figures, tables and values. Collect always runs.
# ----------------------------------------------------------------------------------------------

def length_study_cmds(ctx):
    workers = ["--workers", ctx.workers] if ctx.workers > 1 else []
    return [["part1/length_study.py", "--out_dir", ctx.cache("length_study"), "--device", "cpu",
             *ctx.cfg["length_study"], *workers]]


def optimizer_cmds(ctx):
    from part1.recipes import recipe

    o = ctx.cfg["optimizers"]
    flags = recipe("LSTM", o["length"])
    cmds = []
    for opt in OPTIMIZERS:
        cmd = ["part1/train.py", "--model_type", "LSTM", "--input_length", o["length"],
               "--input_dim", flags["input_dim"], "--num_hidden", flags["num_hidden"],
               "--batch_size", flags["batch_size"], "--learning_rate", flags["learning_rate"],
               "--max_norm", flags["max_norm"], "--optimizer", opt,
               "--train_steps", o["train_steps"], "--eval_every", o["eval_every"],
               "--eval_size", o["eval_size"], "--test_size", o["test_size"],
               "--early_stop_accuracy", flags["early_stop_accuracy"], "--seed", 0,
               "--time_limit", o["time_limit"], "--device", "cpu", "--quiet",
               "--out_dir", ctx.cache("optimizers") / opt]
        if flags.get("chrono"):
            cmd.append("--chrono")
        cmds.append(cmd)
    return cmds


def grads_train_cmd(ctx, model_type):
    from part1.recipes import recipe

    g = ctx.cfg["grads"]
    flags = recipe(model_type, g["length"])
    cmd = ["part1/train.py", "--model_type", model_type, "--input_length", g["length"],
           "--input_dim", flags["input_dim"], "--num_hidden", flags["num_hidden"],
           "--batch_size", g.get("batch_size", flags["batch_size"]),
           "--learning_rate", flags["learning_rate"], "--max_norm", flags["max_norm"],
           "--optimizer", flags["optimizer"], "--train_steps", g["train_steps"],
           "--eval_every", g["eval_every"], "--eval_size", g["eval_size"],
           "--test_size", g["test_size"], "--time_limit", g["time_limit"],
           "--early_stop_accuracy", flags["early_stop_accuracy"], "--seed", 0, "--device", "cpu",
           "--quiet", "--out_dir", ctx.cache("grads") / model_type]
    if flags.get("chrono"):
        cmd.append("--chrono")
    if model_type == "RNN" and flags.get("recurrent_init"):
        cmd += ["--recurrent_init", flags["recurrent_init"]]
    return cmd


def grads_cmds(ctx):
    g, c = ctx.cfg["grads"], ctx.cache("grads")
    return [grads_train_cmd(ctx, "RNN"), grads_train_cmd(ctx, "LSTM"),
            ["part1/grads_over_time.py", "--input_length", g["length"],
             "--batch_size", g["grad_batch"], "--input_dim", 10, "--device", "cpu",
             "--rnn_model", c / "RNN" / "model.pt", "--lstm_model", c / "LSTM" / "model.pt",
             "--out_dir", c / "curves"]]


def part2_train_cmds(ctx):
    c = ctx.cache("part2_train")
    book = book_path(ctx)
    source = ["--txt_file", book] if book else ["--book", "grimm"]
    return [["part2/train.py", *source, "--summary_path", c / "summary",
             "--checkpoint_dir", c / "checkpoints", "--device", "cpu", "--seed", 0,
             "--no_progress", *ctx.cfg["part2_train"]]]


def part2_sample_jobs(ctx) -> list[tuple[str, list]]:
    """(label, command) pairs; each command's stdout is saved as <label>.txt."""
    s = ctx.cfg["part2_samples"]
    ckpt = ctx.cache("part2_train") / "checkpoints" / "best.pt"
    base = ["part2/sample.py", "--checkpoint", ckpt, "--device", "cpu", "--seed", 0]
    jobs = [("greedy_long", [*base, "--method", "greedy", "--length", s["long"],
                             "--num_samples", s["num_samples"]])]
    prompt = PROMPTS[1]
    for tau in ("0.5", "1", "2"):
        jobs.append((f"tau_{tau}", [*base, "--method", "sample", "--temperature", tau,
                                    "--prompt", prompt, "--length", s["length"],
                                    "--num_samples", s["num_samples"]]))
    jobs.append(("tau_greedy", [*base, "--method", "greedy", "--prompt", prompt,
                                "--length", s["length"]]))
    for i, p in enumerate(PROMPTS[:s["prompts"]]):
        seeded = [*base[:-1], i]  # a seed of its own per prompt: no shared random draws
        jobs.append((f"prompt{i}_beam1", [*base, "--method", "beam", "--beam_width", 1,
                                          "--prompt", p, "--length", s["length"]]))
        jobs.append((f"prompt{i}_beam5", [*base, "--method", "beam", "--beam_width", 5,
                                          "--prompt", p, "--length", s["length"]]))
        jobs.append((f"prompt{i}_sample", [*seeded, "--method", "sample", "--temperature", "1",
                                           "--prompt", p, "--length", s["length"],
                                           "--num_samples", 2]))
    return jobs


def part2_samples_cmds(ctx):
    return [cmd for _, cmd in part2_sample_jobs(ctx)]


def run_part2_samples(ctx, log):
    """Each sample.py call's printed text is kept as <label>.txt next to the command that made it."""
    out = ctx.cache("part2_samples")
    for label, cmd in part2_sample_jobs(ctx):
        (out / f"{label}.cmd").write_text("python " + " ".join(map(str, cmd)), encoding="utf-8")
        run_command(cmd, log, stdout_file=out / f"{label}.txt")


def figure2_cmds(ctx):
    return [["part3/figure2.py", "--out", ctx.cache("figure2")]]


def karate_cmds(ctx):
    return [["part3/train.py", "--out", ctx.cache("karate"), "--device", "cpu", *ctx.cfg["karate"]]]


@dataclass
class Piece:
    name: str
    what: str
    commands: Callable[[Context], list]
    collect: Callable[[Context], None]
    runner: Callable | None = None  # custom runner instead of running ``commands`` in order
    needs: tuple = ()


PIECES = [
    Piece("length_study", "part 1: accuracy versus palindrome length (q. 1.3, 1.6)",
          length_study_cmds, analyses.collect_length_study),
    Piece("optimizers", "part 1: SGD, momentum, RMSprop, Adam on one length (q. 1.4)",
          optimizer_cmds, analyses.collect_optimizers),
    Piece("grads", "part 1: train RNN and LSTM at T=100, then ||dL/dh(t)|| (q. 1.7)",
          grads_cmds, analyses.collect_grads),
    Piece("param_count", "part 1: parameter count, formula against the code (q. 1.5)",
          lambda ctx: [], analyses.collect_param_count),
    Piece("part2_train", "part 2: train the character LSTM on the default book (q. 2.1)",
          part2_train_cmds, analyses.collect_part2_train),
    Piece("part2_samples", "part 2: greedy, temperature, beam, completions (q. 2.1-2.3)",
          part2_samples_cmds, analyses.collect_part2_samples, runner=run_part2_samples,
          needs=("part2_train",)),
    Piece("temperature", "part 2: worked example of softmax(tau * x) (q. 2.1c)",
          lambda ctx: [], analyses.collect_temperature),
    Piece("figure2", "part 3: the Figure 2 graph, A~, hops, message passing (q. 3.1, 3.2)",
          figure2_cmds, analyses.collect_figure2),
    Piece("karate", "part 3: GCN on Zachary's karate club (q. 3.1)",
          karate_cmds, analyses.collect_karate),
    Piece("oversmoothing", "part 3: over-smoothing with depth and a residual fix (q. 3.1)",
          lambda ctx: [], analyses.collect_oversmoothing),
]
PIECE_NAMES = [p.name for p in PIECES]


def config_hash(ctx: Context, piece: Piece) -> str:
    """Hash of what defines a piece's result: the mode and its commands (paths made relative)."""
    cmds = [[str(a).replace(str(ctx.out), "<out>") for a in cmd] for cmd in piece.commands(ctx)]
    for cmd in cmds:  # the number of workers changes the speed, not the result
        if "--workers" in cmd:
            del cmd[cmd.index("--workers"):cmd.index("--workers") + 2]
    # a piece built on another one's output (samples of a trained model) is redone when that reruns
    upstream = {}
    for name in piece.needs:
        marker = ctx.cache(name) / "done.json"
        if marker.exists():
            record = json.loads(marker.read_text(encoding="utf-8"))
            upstream[name] = [record.get("config_hash"), record.get("finished")]
    config = {"piece": piece.name, "mode": ctx.mode, "commands": cmds}
    if upstream:
        config["upstream"] = upstream
    text = json.dumps(config, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def with_resume(cmd: list) -> list:
    """Let an interrupted trainer continue from its own checkpoint instead of refusing to start."""
    script = str(cmd[0])
    if script == "part1/train.py":
        out = Path(cmd[cmd.index("--out_dir") + 1])
        return cmd + (["--resume"] if (out / "checkpoint.pt").exists() else ["--overwrite"])
    if script == "part2/train.py":
        ckpt = Path(cmd[cmd.index("--checkpoint_dir") + 1]) / "last.pt"
        return cmd + (["--resume"] if ckpt.exists() else ["--overwrite"])
    return cmd


def run_piece(ctx: Context, piece: Piece, force: bool, say) -> dict:
    """Run one piece unless it is already done with the same configuration; return its record."""
    cache = ctx.cache(piece.name)
    marker, started = cache / "done.json", cache / "started.json"
    digest = config_hash(ctx, piece)
    if marker.exists() and not force:
        record = json.loads(marker.read_text(encoding="utf-8"))
        if record.get("config_hash") == digest:
            say(f"[skip] {piece.name}: done already ({record['seconds']:.0f} s when it ran); "
                "--force to redo")
            return {**record, "status": "skipped"}
    resumable = (started.exists() and not force
                 and json.loads(started.read_text(encoding="utf-8")).get("config_hash") == digest)
    if cache.exists() and not resumable:
        shutil.rmtree(cache)
    cache.mkdir(parents=True, exist_ok=True)
    started.write_text(json.dumps({"config_hash": digest}), encoding="utf-8")
    marker.unlink(missing_ok=True)
    log = cache / "log.txt"
    say(f"[run ] {piece.name}: {piece.what} (log: {log.relative_to(ctx.out)})")
    begin = time.perf_counter()
    if piece.runner is not None:
        piece.runner(ctx, log)
    else:
        for cmd in piece.commands(ctx):
            run_command(with_resume(cmd), log)
    seconds = time.perf_counter() - begin
    record = {"piece": piece.name, "config_hash": digest, "mode": ctx.mode,
              "seconds": round(seconds, 1), "finished": time.strftime("%Y-%m-%d %H:%M:%S UTC",
                                                                      time.gmtime()),
              "commands": ["python " + " ".join(str(a) for a in cmd)
                           for cmd in piece.commands(ctx)]}
    marker.write_text(json.dumps(record, indent=2), encoding="utf-8")
    say(f"[done] {piece.name} in {seconds:.0f} s")
    return {**record, "status": "ran"}


def parse_only(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in PIECE_NAMES]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"unknown piece(s) {', '.join(unknown) or '(none)'}; "
                                         f"choose from {', '.join(PIECE_NAMES)}")
    return names


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Run every experiment of the report and render report/REPORT.md.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter, allow_abbrev=False)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true",
                      help="short budgets: a few minutes on a laptop CPU")
    mode.add_argument("--smoke", action="store_true",
                      help="tiny budgets for tests and CI (the numbers mean nothing)")
    parser.add_argument("--force", action="store_true",
                        help="rerun the selected pieces even if they are done")
    parser.add_argument("--only", type=parse_only, default=None, metavar="PIECES",
                        help=f"comma-separated subset of: {', '.join(PIECE_NAMES)}")
    parser.add_argument("--out", type=Path, default=ROOT / "report",
                        help="folder for figures/, tables/, values.json, REPORT.md and .cache/")
    parser.add_argument("--workers", type=positive_int, default=1,
                        help="parallel worker processes of the length study (part1/length_study.py "
                             "--workers); results do not depend on it")
    parser.add_argument("--list", action="store_true", help="list the pieces and exit")
    return parser


def _terminate(signum, frame):
    raise KeyboardInterrupt  # handled like Ctrl-C: the running child is stopped, run_main exits 130


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    if args.list:
        for p in PIECES:
            print(f"{p.name:14s} {p.what}")
        return 0
    mode = "smoke" if args.smoke else "quick" if args.quick else "full"
    out = args.out.resolve()
    if out.exists() and not out.is_dir():
        raise UserError(f"--out '{args.out}' exists and is not a folder")
    try:
        for sub in ("figures", "tables", ".cache"):
            (out / sub).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create the output folder '{args.out}': {exc.strerror}") from None
    ctx = Context(out=out, mode=mode, cfg=MODES[mode], workers=args.workers)
    selected = [p for p in PIECES if args.only is None or p.name in args.only]

    from tqdm import tqdm

    bar = tqdm(total=len(selected), desc=f"reproduce ({mode})", unit="piece",
               disable=not sys.stderr.isatty())
    say = bar.write if sys.stderr.isatty() else (lambda msg: print(msg, flush=True))
    say(f"mode {mode}: {len(selected)} piece(s) into {out}")
    begin = time.perf_counter()
    records, failed = {}, []
    for piece in selected:
        bar.set_postfix_str(piece.name)
        missing = [n for n in piece.needs if n in failed]
        if missing:
            say(f"[fail] {piece.name}: needs {', '.join(missing)}, which failed")
            failed.append(piece.name)
            bar.update(1)
            continue
        try:
            records[piece.name] = run_piece(ctx, piece, args.force, say)
            piece.collect(ctx)
        except (PieceFailed, UserError, OSError) as exc:
            say(f"[fail] {piece.name}: {' '.join(str(exc).split())}")
            failed.append(piece.name)
        except Exception as exc:  # a bug or an output format we do not understand: keep going
            say(f"[fail] {piece.name}: {type(exc).__name__}: {' '.join(str(exc).split())}")
            failed.append(piece.name)
        bar.update(1)
    bar.close()
    wall = time.perf_counter() - begin
    analyses.write_run_info(ctx, PIECE_NAMES, records, environment_info())
    problems = render_report(TEMPLATE, out)
    print(f"{sum(r['status'] == 'ran' for r in records.values())} piece(s) ran, "
          f"{sum(r['status'] == 'skipped' for r in records.values())} skipped, {len(failed)} failed "
          f"in {wall:.0f} s; report: {out / 'REPORT.md'}")
    if failed:
        raise UserError(f"piece(s) failed: {', '.join(failed)}; see their log.txt under "
                        f"{out / '.cache'}")
    if problems and args.only is None:
        raise UserError(f"REPORT.md has {len(problems)} unfilled placeholder(s), e.g. {problems[0]}")
    if problems:
        print(f"note: {len(problems)} placeholder(s) still unfilled (pieces not run yet with --only)")
    return 0


if __name__ == "__main__":
    run_main(main)
