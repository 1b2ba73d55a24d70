"""Steps the grading kit's T = 5 sanity check (grading/checks/recurrent.py) needs, per seed: the
spread that the check's budget must hold with a margin on any CPU, whose float kernels move a run
as another seed does.

For each submission and model the check runs as the kit runs it (the grader's palindromes and loop,
the student's model and initialisation), with the sanity seed set to each of ``--seeds``, in a fresh
interpreter per submission (every fixture has its own ``part1`` package). Prints one line per run and
the range per model.

    python bench/bench_grading_sanity.py tests/grading_fixtures/classic_2019 --kinds rnn --seeds 0 1 2 3 4 5
    python bench/bench_grading_sanity.py tests/grading_fixtures/* . --lr 3e-3   # another learning rate
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_one(submission: Path, kind: str, seeds: list[int], lr: float | None, max_steps: int | None) -> None:
    """In this interpreter: the check on ``submission``'s model for every seed."""
    sys.path.insert(0, str(ROOT))
    import torch
    from grading.checks import recurrent
    from grading.checks.common import CheckFailed, Context
    others = [p for p in sys.path[1:] if Path(p or ".").resolve() != ROOT]  # this repository's part1/ stays out
    sys.path[:] = [str(submission), str(submission / "part1"), *others]
    os.chdir(submission)
    torch.set_num_threads(1)
    recurrent.SANITY.update({k: v for k, v in (("lr", lr), ("max_steps", max_steps)) if v is not None})
    for seed in seeds:
        recurrent.SANITY["seed"] = seed
        try:
            message = recurrent.check_sanity(Context(submission, Path("/tmp"), kind))
        except CheckFailed as exc:
            message = str(exc)
        found = re.search(r"([\d.]+)% held-out accuracy after (\d+) steps", message)
        print(f"{submission.name} {kind} seed {seed}: {found[1]}% after {found[2]} steps", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("submissions", nargs="+", type=Path, help="folders holding part1/")
    parser.add_argument("--kinds", nargs="+", default=["rnn", "lstm"], choices=["rnn", "lstm"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    parser.add_argument("--lr", type=float, help="another learning rate than the check's")
    parser.add_argument("--max_steps", type=int, help="another budget than the check's")
    parser.add_argument("--_one", nargs=2, help=argparse.SUPPRESS)  # submission, kind: run in this process
    args = parser.parse_args()
    if args._one:
        run_one(Path(args._one[0]).resolve(), args._one[1], args.seeds, args.lr, args.max_steps)
        return
    for submission in args.submissions:
        for kind in args.kinds:
            extra = [f"--{k}={v}" for k, v in (("lr", args.lr), ("max_steps", args.max_steps)) if v is not None]
            out = subprocess.run([sys.executable, __file__, ".", "--_one", str(submission), kind, "--seeds",
                                  *map(str, args.seeds), *extra], capture_output=True, text=True,
                                 env={**os.environ, "OMP_NUM_THREADS": "1", "PYTHONHASHSEED": "0"})
            print(out.stdout, end="", file=sys.stdout)
            steps = [int(s) for s in re.findall(r"after (\d+) steps", out.stdout)]
            if out.returncode or not steps:
                print(f"{submission} {kind}: failed: {out.stderr.strip().splitlines()[-1:]}")
            else:
                print(f"{submission.name} {kind}: {min(steps)}-{max(steps)} steps over {len(steps)} seeds")


if __name__ == "__main__":
    main()
