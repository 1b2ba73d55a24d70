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

from experiments.length_study import as_argv, recipe
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
        "baseline": ["--quick", "--lengths", "5"],
        "curriculum": ["--quick", "--lengths", "5", "10"],
        "chrono_ablation": {"length": 5, "seeds": [0], "train_steps": 10, "eval_every": 5,
                            "eval_size": 200, "test_size": 200, "time_limit": 60},
        "optimizers": {"length": 5, "train_steps": 10, "eval_every": 5, "eval_size": 200,
                       "test_size": 200, "time_limit": 60},
        "grads": {"length": 100, "train_steps": 3, "batch_size": 8, "eval_every": 3,
                  "eval_size": 100, "test_size": 100, "time_limit": 60, "grad_batch": 4},
        "part2_train": ["--train_steps", "20", "--batch_size", "16", "--lstm_num_hidden", "32",
                        "--eval_every", "10", "--sample_every", "10", "--print_every", "5"],
        "part2_best": ["--train_steps", "10", "--batch_size", "8",
                       "--lstm_num_hidden", "16", "--seq_length", "20", "--eval_every", "5",
                       "--sample_every", "5", "--print_every", "5"],
        "part2_samples": {"prompts": 1, "length": 20, "long": 40, "num_samples": 2},
        "karate": ["--epochs", "20", "--num_seeds", "2", "--snapshots", "2"],
    },
    "quick": {
        "threads": 1,
        "length_study": ["--quick"],
        "baseline": ["--quick"],
        "curriculum": ["--quick"],
        "chrono_ablation": {"length": 10, "seeds": [0], "time_limit": 60, "test_size": 2000},
        "optimizers": {"length": 10, "train_steps": 500, "eval_every": 25, "eval_size": 500,
                       "test_size": 2000, "time_limit": 90},
        "grads": {"length": 100, "train_steps": 400, "eval_every": 50, "eval_size": 500,
                  "test_size": 2000, "time_limit": 120, "grad_batch": 16},
        "part2_train": ["--train_steps", "600", "--eval_every", "100", "--sample_every", "100",
                        "--print_every", "10", "--time_limit", "360"],
        "part2_best": ["--train_steps", "100", "--lstm_num_hidden", "64",
                       "--eval_every", "50", "--sample_every", "50", "--print_every", "10",
                       "--time_limit", "120"],
        "part2_samples": {"prompts": 4, "length": 80, "long": 200, "num_samples": 3},
        "karate": ["--num_seeds", "5"],
    },
    "full": {
        "length_study": [],
        "baseline": [],
        "curriculum": [],
        "chrono_ablation": {"length": 30, "seeds": [0, 1, 2]},
        "optimizers": {"length": 20, "train_steps": 3000, "eval_every": 50, "eval_size": 1000,
                       "test_size": 10000, "time_limit": 600},
        "grads": {"length": 100, "train_steps": 3000, "eval_every": 50, "eval_size": 1000,
                  "test_size": 10000, "time_limit": 900, "grad_batch": 16},
        # the assignment's settings (T = 30 and the course defaults); the step budgets decide when
        # a run ends, the time limits only guard against a machine far slower than this one
        "part2_train": ["--train_steps", "20000", "--eval_every", "1000", "--sample_every", "1000",
                        "--print_every", "100", "--time_limit", "2400"],
        "part2_best": ["--sample_every", "1100", "--print_every", "100",
                       "--time_limit", "2400"],
        "part2_samples": {"prompts": 4, "length": 120, "long": 300, "num_samples": 5},
        "karate": [],
    },
}


def study_cmds(piece: str, *variant) -> Callable[[Context], list]:
    """The commands of a length-study piece: ``experiments/length_study.py`` with ``variant`` flags (e.g.
    ``--baseline``) and the mode's budget, into the piece's cache folder."""
    def commands(ctx: Context) -> list:
        workers = ["--workers", ctx.workers] if ctx.workers > 1 else []
        # RNN and LSTM only (the report's series); a variant's own --models comes later and wins
        return [["experiments/length_study.py", "--models", "RNN", "LSTM", *variant, "--out_dir",
                 ctx.cache(piece), "--device", "cpu",
                 *ctx.cfg[piece], *workers]]
    return commands


# the two cells of the chrono x learning-rate square that neither the tuned study (chrono, the
# recipe's rate) nor the baseline (no chrono, 1e-3) trains; everything else is the baseline's
ABLATION_CELLS = {"chrono_lr1e-3": {"chrono": True, "learning_rate": 1e-3},
                  "nochrono_lr_recipe": {"chrono": False}}


def chrono_ablation_cmds(ctx: Context) -> list:
    budget, quick = ctx.cfg["chrono_ablation"], ctx.mode != "full"
    length, tuned = budget["length"], recipe("LSTM", budget["length"], quick)
    cmds = []
    for seed in budget["seeds"]:
        for label, change in ABLATION_CELLS.items():
            flags = recipe("LSTM", length, quick, baseline=True)
            flags.update({"learning_rate": tuned["learning_rate"], **change})
            flags.update({key: budget[key] for key in ("train_steps", "eval_every", "eval_size",
                                                       "test_size", "time_limit") if key in budget})
            flags.update(seed=seed, device="cpu", quiet=True,
                         out_dir=ctx.cache("chrono_ablation") / f"{label}_s{seed}")
            cmds.append(["experiments/train_fast.py", "--model_type", "LSTM", "--input_length", length,
                         *as_argv(flags)])
    return cmds


def part1_train_cmd(ctx: Context, model_type: str, budget: dict, out_dir: Path, **changes) -> list:
    """``experiments/train_fast.py`` (part1/train.py with the hand-written backward) with the
    length study's recipe for ``budget['length']``, the mode's budget and ``changes`` on top."""
    flags = recipe(model_type, budget["length"])
    flags.update({key: budget[key] for key in ("train_steps", "eval_every", "eval_size",
                                               "test_size", "time_limit", "batch_size")
                  if key in budget})
    flags.update(changes, seed=0, device="cpu", quiet=True, out_dir=out_dir)
    return ["experiments/train_fast.py", "--model_type", model_type, "--input_length", budget["length"],
            *as_argv(flags)]


def optimizer_cmds(ctx: Context) -> list:
    return [part1_train_cmd(ctx, "LSTM", ctx.cfg["optimizers"], ctx.cache("optimizers") / opt,
                            optimizer=opt) for opt in part1.OPTIMIZERS]


def grads_cmds(ctx: Context) -> list:
    g, c = ctx.cfg["grads"], ctx.cache("grads")
    return [part1_train_cmd(ctx, "RNN", g, c / "RNN"), part1_train_cmd(ctx, "LSTM", g, c / "LSTM"),
            ["part1/grads_over_time.py", "--input_length", g["length"],
             "--batch_size", g["grad_batch"], "--input_dim", 10, "--device", "cpu",
             "--models", "RNN", "LSTM", "--trained", c / "RNN" / "model.pt", c / "LSTM" / "model.pt",
             "--out_dir", c / "curves"]]


def part2_train_cmds(piece: str, script: str = "part2/train.py") -> Callable[[Context], list]:
    """``script`` (part2/train.py or an experiment of its flags) on the book with the mode's flags
    for ``piece``, into its cache folder."""
    def commands(ctx: Context) -> list:
        c = ctx.cache(piece)
        return [[script, "--txt_file", ctx.txt_file or DEFAULT_BOOK,
                 "--summary_path", c / "summary", "--checkpoint_dir", c / "checkpoints",
                 "--device", "cpu", "--seed", 0, "--quiet", *ctx.cfg[piece]]]
    return commands


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
    Piece("length_study", "part 1: accuracy versus palindrome length, tuned recipes (q. 1.3, 1.6)",
          study_cmds("length_study"), part1.collect_length_study),
    Piece("baseline", "part 1: the same with the assignment's default parameters (q. 1.3, 1.6)",
          study_cmds("baseline", "--baseline"), part1.collect_baseline),
    Piece("curriculum", "part 1: the RNN trained through the lengths in order (q. 1.3)",
          study_cmds("curriculum", "--curriculum", "--models", "RNN"), part1.collect_curriculum),
    Piece("chrono_ablation", "part 1: LSTM, chrono initialisation against the learning rate (q. 1.6)",
          chrono_ablation_cmds, part1.collect_chrono_ablation),
    Piece("optimizers", "part 1: SGD, momentum, RMSprop, Adam on one length (q. 1.4)",
          optimizer_cmds, part1.collect_optimizers),
    Piece("grads", "part 1: train RNN and LSTM at T=100, then ||dL/dh(t)|| (q. 1.7)",
          grads_cmds, part1.collect_grads),
    Piece("param_count", "part 1: parameter count, formula against the code (q. 1.5)",
          no_commands, part1.collect_param_count),
    Piece("part2_train", "part 2: the character LSTM on the default book, T = 30 (q. 2.1)",
          part2_train_cmds("part2_train"), part2.collect_part2_train),
    Piece("part2_best", "part 2: the best configuration found, T = 100 and weight drop (extra)",
          part2_train_cmds("part2_best", "experiments/part2_best.py"), part2.collect_part2_best),
    Piece("part2_samples", "part 2: greedy, temperature, beam, completions (q. 2.1-2.3)",
          part2_samples_cmds, part2.collect_part2_samples, needs=("part2_train",)),
    Piece("temperature", "part 2: worked example of softmax(beta * x) (q. 2.1c)",
          no_commands, part2.collect_temperature),
    Piece("figure2", "part 3: the Figure 2 graph, A~, hops, message passing (q. 3.1, 3.2)",
          figure2_cmds, part3.collect_figure2),
    Piece("karate", "part 3: GCN on Zachary's karate club (q. 3.1)",
          karate_cmds, part3.collect_karate),
    Piece("oversmoothing", "part 3: over-smoothing with depth and a residual fix (q. 3.1)",
          no_commands, part3.collect_oversmoothing),
]
PIECE_NAMES = [p.name for p in PIECES]
