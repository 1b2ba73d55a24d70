"""The pieces of a reproduction run: per mode the budgets, per piece the commands it runs (the parts'
own scripts, as a user would type them) and the collector that turns their outputs into the report's
figures, tables and values.

A command is a list ``[script, *arguments]`` run as ``python script ...`` from the repository root;
paths inside the output folder are recorded as ``<out>/...`` in the configuration hash, so a run
that moves its folder is not redone.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from part1.recipes import as_argv, recipe
from report import part1, part2, part3
from report.store import Context

DEFAULT_BOOK = Path("assets") / "book_EN_grimms_fairy_tails.txt"  # shipped; relative to the root

# Budgets per mode. Everything not listed here is the scripts' own default. "threads": the torch
# threads of every script (OMP_NUM_THREADS, unless the user set it): the short runs' models are too
# small to gain from more, and on a busy machine the threads of one process wait on each other
# (part-1 training measured 25 times slower with 2 threads than with 1 beside other jobs). The full
# run keeps the scripts' defaults, with which the committed report was made.
MODES = {
    "smoke": {
        "threads": 1,
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
        "threads": 1,
        "length_study": ["--quick"],
        "optimizers": {"length": 10, "train_steps": 500, "eval_every": 25, "eval_size": 500,
                       "test_size": 2000, "time_limit": 90},
        "grads": {"length": 100, "train_steps": 400, "eval_every": 50, "eval_size": 500,
                  "test_size": 2000, "time_limit": 120, "grad_batch": 16},
        "part2_train": ["--train_steps", "600", "--val_every", "100", "--sample_every", "100",
                        "--print_every", "10", "--checkpoint_every", "100", "--time_limit", "360"],
        "part2_samples": {"prompts": 4, "length": 80, "long": 200, "num_samples": 3},
        "karate": ["--num_seeds", "5"],
    },
    "full": {
        "length_study": [],
        "optimizers": {"length": 20, "train_steps": 3000, "eval_every": 50, "eval_size": 1000,
                       "test_size": 10000, "time_limit": 600},
        "grads": {"length": 100, "train_steps": 3000, "eval_every": 50, "eval_size": 1000,
                  "test_size": 10000, "time_limit": 900, "grad_batch": 16},
        "part2_train": ["--preset", "best", "--time_limit", "900", "--sample_every", "250",
                        "--print_every", "10"],
        "part2_samples": {"prompts": 4, "length": 120, "long": 300, "num_samples": 5},
        "karate": [],
    },
}


def length_study_cmds(ctx: Context) -> list:
    workers = ["--workers", ctx.workers] if ctx.workers > 1 else []
    return [["part1/length_study.py", "--out_dir", ctx.cache("length_study"), "--device", "cpu",
             *ctx.cfg["length_study"], *workers]]


def part1_train_cmd(ctx: Context, model_type: str, budget: dict, out_dir: Path, **changes) -> list:
    """``part1/train.py`` with the length study's recipe for ``budget['length']``, the mode's budget
    and ``changes`` (e.g. another optimizer) on top."""
    flags = recipe(model_type, budget["length"])
    flags.update({key: budget[key] for key in ("train_steps", "eval_every", "eval_size",
                                               "test_size", "time_limit", "batch_size")
                  if key in budget})
    flags.update(changes, seed=0, device="cpu", quiet=True, out_dir=out_dir)
    return ["part1/train.py", "--model_type", model_type, "--input_length", budget["length"],
            *as_argv(flags)]


def optimizer_cmds(ctx: Context) -> list:
    return [part1_train_cmd(ctx, "LSTM", ctx.cfg["optimizers"], ctx.cache("optimizers") / opt,
                            optimizer=opt) for opt in part1.OPTIMIZERS]


def grads_cmds(ctx: Context) -> list:
    g, c = ctx.cfg["grads"], ctx.cache("grads")
    return [part1_train_cmd(ctx, "RNN", g, c / "RNN"), part1_train_cmd(ctx, "LSTM", g, c / "LSTM"),
            ["part1/grads_over_time.py", "--input_length", g["length"],
             "--batch_size", g["grad_batch"], "--input_dim", 10, "--device", "cpu",
             "--rnn_model", c / "RNN" / "model.pt", "--lstm_model", c / "LSTM" / "model.pt",
             "--out_dir", c / "curves"]]


def part2_train_cmds(ctx: Context) -> list:
    c = ctx.cache("part2_train")
    return [["part2/train.py", "--txt_file", ctx.txt_file or DEFAULT_BOOK,
             "--summary_path", c / "summary", "--checkpoint_dir", c / "checkpoints",
             "--device", "cpu", "--seed", 0, "--quiet", *ctx.cfg["part2_train"]]]


def part2_samples_cmds(ctx: Context) -> list:
    """part2/sample.py runs, each writing ``<label>.json`` (read by report.part2.SampleOutputs)."""
    s, out = ctx.cfg["part2_samples"], ctx.cache("part2_samples")
    ckpt = ctx.cache("part2_train") / "checkpoints" / "best.pt"

    def job(label: str, *flags, seed: int = 0) -> list:
        return ["part2/sample.py", "--checkpoint", ckpt, "--device", "cpu", "--seed", seed,
                *flags, "--json", out / f"{label}.json"]

    prompt, length = part2.PROMPTS[1], ["--length", s["length"]]
    jobs = [job("greedy_long", "--method", "greedy", "--length", s["long"],
                "--num_samples", s["num_samples"])]
    jobs += [job(f"tau_{tau}", "--method", "sample", "--temperature", tau, "--prompt", prompt,
                 *length, "--num_samples", s["num_samples"]) for tau in ("0.5", "1", "2")]
    jobs.append(job("tau_greedy", "--method", "greedy", "--prompt", prompt, *length))
    for i, p in enumerate(part2.PROMPTS[:s["prompts"]]):
        jobs += [job(f"prompt{i}_beam1", "--method", "beam", "--beam_width", 1, "--prompt", p,
                     *length),
                 job(f"prompt{i}_beam5", "--method", "beam", "--beam_width", 5, "--prompt", p,
                     *length),
                 # a seed of its own per prompt: no shared random draws
                 job(f"prompt{i}_sample", "--method", "sample", "--temperature", "1", "--prompt", p,
                     *length, "--num_samples", 2, seed=i)]
    return jobs


def figure2_cmds(ctx: Context) -> list:
    return [["part3/figure2.py", "--out_dir", ctx.cache("figure2")]]


def karate_cmds(ctx: Context) -> list:
    return [["part3/train.py", "--out_dir", ctx.cache("karate"), "--device", "cpu", "--quiet",
             *ctx.cfg["karate"]]]


def no_commands(ctx: Context) -> list:
    """A piece computed by its collector alone (from the project's modules)."""
    return []


@dataclass
class Piece:
    name: str
    what: str
    commands: Callable[[Context], list]
    collect: Callable[[Context], None]
    needs: tuple = ()


PIECES = [
    Piece("length_study", "part 1: accuracy versus palindrome length (q. 1.3, 1.6)",
          length_study_cmds, part1.collect_length_study),
    Piece("optimizers", "part 1: SGD, momentum, RMSprop, Adam on one length (q. 1.4)",
          optimizer_cmds, part1.collect_optimizers),
    Piece("grads", "part 1: train RNN and LSTM at T=100, then ||dL/dh(t)|| (q. 1.7)",
          grads_cmds, part1.collect_grads),
    Piece("param_count", "part 1: parameter count, formula against the code (q. 1.5)",
          no_commands, part1.collect_param_count),
    Piece("part2_train", "part 2: train the character LSTM on the default book (q. 2.1)",
          part2_train_cmds, part2.collect_part2_train),
    Piece("part2_samples", "part 2: greedy, temperature, beam, completions (q. 2.1-2.3)",
          part2_samples_cmds, part2.collect_part2_samples, needs=("part2_train",)),
    Piece("temperature", "part 2: worked example of softmax(tau * x) (q. 2.1c)",
          no_commands, part2.collect_temperature),
    Piece("figure2", "part 3: the Figure 2 graph, A~, hops, message passing (q. 3.1, 3.2)",
          figure2_cmds, part3.collect_figure2),
    Piece("karate", "part 3: GCN on Zachary's karate club (q. 3.1)",
          karate_cmds, part3.collect_karate),
    Piece("oversmoothing", "part 3: over-smoothing with depth and a residual fix (q. 3.1)",
          no_commands, part3.collect_oversmoothing),
]
PIECE_NAMES = [p.name for p in PIECES]
