"""Running the pieces of a reproduction: subprocesses, the configuration hash that decides whether a
finished piece is skipped, resuming an interrupted one, and the provenance of every piece.

A finished piece leaves ``<out>/.cache/<piece>/done.json`` (its configuration hash, mode, commit,
seconds, finish time and commands); ``started.json`` marks a piece under way, so that a run killed
in the middle continues it (the trainers resume from their own checkpoints) instead of starting over.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from common.io import markdown_table, read_json, write_json
from report.pieces import Piece
from report.store import ROOT, Context, put_table, put_values

# The committed outputs of a full run: writing them is what a full run is for, so they do not make
# the code that ran "modified" in the provenance.
REPORT_OUTPUTS = ("report/REPORT.md", "report/values.json", "report/figures", "report/tables")


class PieceFailed(Exception):
    pass


def _wait(child: subprocess.Popen) -> int:
    """Wait for ``child``; on Ctrl-C (or SIGTERM, turned into KeyboardInterrupt by reproduce.py)
    stop it with SIGTERM too, so trainers save their checkpoint and the next run resumes them
    instead of finding an orphan still writing into the same folder."""
    try:
        return child.wait()
    except KeyboardInterrupt:
        child.terminate()
        try:
            child.wait(timeout=60)
        except subprocess.TimeoutExpired:
            child.kill()
        raise


def run_command(cmd: list, log: Path, threads: int | None = None) -> None:
    """Run ``python <cmd>`` from the repository root, its output appended to ``log``; ``threads``
    caps its torch threads unless OMP_NUM_THREADS is set already."""
    full = [sys.executable, *map(str, cmd)]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    if threads is not None:
        env.setdefault("OMP_NUM_THREADS", str(threads))
    with open(log, "a", encoding="utf-8") as handle:
        handle.write(f"\n$ {' '.join(full[1:])}\n")
        handle.flush()
        code = _wait(subprocess.Popen(full, cwd=ROOT, stdout=handle, stderr=handle, env=env))
    if code != 0:
        tail = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-1:]
        raise PieceFailed(f"'{cmd[0]}' exited with {code}: {tail[0] if tail else ''} (log: {log})")


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
            record = read_json(marker)
            upstream[name] = [record.get("config_hash"), record.get("finished")]
    config = {"piece": piece.name, "mode": ctx.mode, "commands": cmds}
    if upstream:
        config["upstream"] = upstream
    text = json.dumps(config, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def with_resume(cmd: list) -> list:
    """Let an interrupted trainer continue from its own checkpoint instead of refusing to start."""
    script = str(cmd[0])
    if script in ("part1/train.py", "experiments/train_fast.py"):
        checkpoint = Path(cmd[cmd.index("--out_dir") + 1]) / "checkpoint.pt"
    elif script in ("part2/train.py", "experiments/part2_best.py"):
        checkpoint = Path(cmd[cmd.index("--checkpoint_dir") + 1]) / "checkpoint.pt"
    else:
        return cmd
    return cmd + (["--resume"] if checkpoint.exists() else ["--overwrite"])


def _finished_record(ctx: Context, marker: Path, digest: str, force: bool) -> dict | None:
    if marker.exists() and not force:
        record = read_json(marker)
        if record.get("config_hash") == digest:
            return record
    return None


def run_piece(ctx: Context, piece: Piece, force: bool, say) -> dict:
    """Run one piece unless it is already done with the same configuration; return its record."""
    cache = ctx.cache(piece.name)
    marker, started = cache / "done.json", cache / "started.json"
    digest = config_hash(ctx, piece)
    record = _finished_record(ctx, marker, digest, force)
    if record is not None:
        say(f"[skip] {piece.name}: done already ({record['seconds']:.0f} s when it ran); "
            "--force to redo")
        return {**record, "status": "skipped"}
    resumable = (started.exists() and not force
                 and read_json(started).get("config_hash") == digest)
    if cache.exists() and not resumable:
        shutil.rmtree(cache)
    cache.mkdir(parents=True, exist_ok=True)
    write_json(started, {"config_hash": digest})
    marker.unlink(missing_ok=True)
    log = cache / "log.txt"
    say(f"[run ] {piece.name}: {piece.what} (log: {log.relative_to(ctx.out)})")
    begin = time.perf_counter()
    for cmd in piece.commands(ctx):
        run_command(with_resume(cmd), log, ctx.cfg.get("threads"))
    seconds = time.perf_counter() - begin
    record = {"piece": piece.name, "config_hash": digest, "mode": ctx.mode, "commit": ctx.commit,
              "seconds": round(seconds, 1),
              "finished": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
              "commands": ["python " + " ".join(str(a) for a in cmd)
                           for cmd in piece.commands(ctx)]}
    write_json(marker, record)
    say(f"[done] {piece.name} in {seconds:.0f} s")
    return {**record, "status": "ran"}


def _git(*args) -> subprocess.CompletedProcess:
    # no optional locks: a status check must not take .git/index.lock from someone committing
    return subprocess.run(["git", "--no-optional-locks", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=30)


def code_version() -> str:
    """The commit of the code that runs, '-modified' when tracked files differ from it (the report's
    own outputs aside), or 'unknown' outside a git checkout."""
    try:
        head = _git("rev-parse", "--short", "HEAD")
        if head.returncode != 0:
            return "unknown"
        excluded = [f":(exclude){path}" for path in REPORT_OUTPUTS]
        status = _git("status", "--porcelain", "--untracked-files=no", "--", ".", *excluded)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return head.stdout.strip() + ("-modified" if status.stdout.strip() else "")


MODE_NOTES = {
    "full": "",
    "quick": "This is a preview made with the quick budgets; its numbers are not the report's.",
    "smoke": "This is a preview made with the smoke budgets; its numbers are not the report's.",
}


def provenance_sentence(pieces: list, values: dict, total: int) -> str:
    """One sentence saying per piece the mode, commit and date it ran at, grouped: "All 14 pieces
    ran in mode full at commit X on DATE." when they agree, else one clause per group."""
    groups: dict[tuple, list] = {}
    for name in pieces:
        key = tuple(values[f"provenance.{name}.{k}"] for k in ("mode", "commit"))
        groups.setdefault(key, []).append((name, values[f"provenance.{name}.date"][:10]))

    def when(dates: set) -> str:
        return f"on {min(dates)}" if len(dates) == 1 else f"between {min(dates)} and {max(dates)}"

    missing = total - len(pieces)
    head = f"{missing} of {total} pieces {'has' if missing == 1 else 'have'} no result yet"
    if not groups:
        return head + "."
    if len(groups) == 1:
        (mode, commit), members = next(iter(groups.items()))
        who = f"the other {len(members)}" if missing else f"All {len(members)} pieces"
        text = f"{who} ran in mode {mode} at commit `{commit}` {when({d for _, d in members})}."
    else:
        text = ("the others ran " if missing else "the pieces ran ") + "; ".join(
            f"in mode {mode} at commit `{commit}` {when({d for _, d in members})}: "
            + ", ".join(f"`{n}`" for n, _ in members)
            for (mode, commit), members in sorted(groups.items(), key=lambda g: -len(g[1]))) + "."
    return f"{head}; {text}" if missing else text[0].upper() + text[1:]


def write_run_info(ctx: Context, pieces: list[Piece], records: dict, environment: dict) -> None:
    """Per piece its provenance (from its done.json: mode, commit, date, seconds) as a table and as
    values ``provenance.<piece>.mode|commit|date``; and facts about this run (``run.*``)."""
    rows, total, values = [], 0.0, {}
    for piece in pieces:
        marker = ctx.cache(piece.name) / "done.json"
        if not marker.exists():
            rows.append([piece.name, "-", "not run", "-", "-", "-"])
            continue
        rec = read_json(marker)
        total += rec["seconds"]
        commit = rec.get("commit", "unknown")
        status = records.get(piece.name, {}).get("status", "earlier run")
        rows.append([piece.name, rec["mode"], status, f"{rec['seconds']:.0f}",
                     rec["finished"].removesuffix(" UTC")[:16], commit])
        values.update({f"provenance.{piece.name}.mode": rec["mode"],
                       f"provenance.{piece.name}.commit": commit,
                       f"provenance.{piece.name}.date": rec["finished"]})
    done = [p.name for p in pieces if f"provenance.{p.name}.mode" in values]
    note = MODE_NOTES[ctx.mode]
    values["run.provenance"] = provenance_sentence(done, values, len(pieces)) + (" " + note if note else "")
    put_table(ctx, "timings.md", markdown_table(
        ["piece", "mode", "this invocation", "seconds", "finished (UTC)", "commit"], rows))
    flag = {"smoke": " --smoke", "quick": " --quick", "full": ""}[ctx.mode]
    values.update({"run.mode": ctx.mode, "run.command": f"python reproduce.py{flag}",
                   "run.total_minutes": f"{total / 60:.1f}", "run.date": time.strftime("%Y-%m-%d"),
                   "run.commit": ctx.commit, "run.torch": environment["torch"],
                   "run.cpu_count": str(environment["cpu_count"]),
                   "run.platform": environment["platform"]})
    put_values(ctx, values)
