"""What a course collects, turned into submission folders: a folder of them, a Canvas bulk download
(zipped or unpacked) or one student's zip.

Canvas names each file of a bulk download ``lastnamefirstname_userid_submissionid_originalname``,
with ``_LATE`` after the name for a late submission and ``-N`` before the extension for a file name
the student handed in again. Files are grouped by user id; of each student the latest submission
(the highest submission id, and of a repeated file name the highest ``-N``) is kept.

Archives are unpacked without trusting them: no member may land outside the target (absolute
paths, ``..``, links), and the bytes written, the number of files, the compression ratio and the
nesting depth are limited, so a zip bomb is refused with one line instead of filling the disk.
"""
from __future__ import annotations

import os
import re
import shutil
import stat
import tempfile
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from grading import GradingError

CANVAS_NAME = re.compile(r"^(?P<student>[^_/]+?)(?P<late>_LATE)?_(?P<user_id>\d+)_(?P<submission_id>\d+)_(?P<name>.+)$")
REPEAT = re.compile(r"^(?P<stem>.+?)-(?P<n>\d+)(?P<ext>\.[^.]*)?$")  # "report-1.pdf": handed in again
MAX_BYTES = 300 * 2**20   # unpacked per student: the skeleton's code is kilobytes, a few books megabytes
MAX_FILES = 3000          # per student
MAX_RATIO = 200           # uncompressed / compressed size of one member: text compresses 3-10x
MAX_DEPTH = 3             # zips inside zips (Canvas's zip, the student's zip, one more)
SKIPPED = ("__MACOSX", ".DS_Store")  # what macOS adds to a zip
PART_NAMES = {"part1": ("part1", "part_1"), "part2": ("part2", "part_2"), "part3": ("part3", "part_3")}
REQUIRED = {"part1": ("dataset.py", "vanilla_rnn.py", "lstm.py", "train.py", "grads_over_time.py"),
            "part2": ("dataset.py", "model.py", "train.py")}  # the assignment's list of deliverables


@dataclass
class Submission:
    """One student's work as found: the folder to grade and what intake learnt on the way."""
    name: str                 # unique in a batch: file and row name
    path: Path                # the folder to grade (the parts are found inside it)
    student: str = ""         # Canvas's lastnamefirstname, or the folder's name
    user_id: str = ""         # Canvas's user id
    late: bool = False
    files: list[str] = field(default_factory=list)   # the file names the student handed in
    problem: str = ""         # why an archive was refused ("" when all was read)

    def record(self) -> dict:
        return {"student": self.student, "user_id": self.user_id, "late": self.late, "files": self.files,
                "problem": self.problem}


class Budget:
    """Bytes and files left for one student's archives, shared by the nested ones."""

    def __init__(self) -> None:
        self.bytes, self.files = MAX_BYTES, MAX_FILES

    def spend(self, size: int, what: str) -> None:
        self.bytes -= size
        self.files -= 1
        if self.bytes < 0:
            raise GradingError(f"{what}: unpacks to more than {MAX_BYTES >> 20} MB (a zip bomb?); refused")
        if self.files < 0:
            raise GradingError(f"{what}: holds more than {MAX_FILES} files; refused")


def _safe_member(info: zipfile.ZipInfo, archive: str) -> PurePosixPath | None:
    """The member's relative path, None for what is skipped; a path that would leave the target refuses
    the archive."""
    name = info.filename.replace("\\", "/")
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or re.match(r"^[A-Za-z]:", name):
        raise GradingError(f"{archive}: member '{info.filename}' points outside the folder; refused")
    if stat.S_ISLNK(info.external_attr >> 16):
        raise GradingError(f"{archive}: member '{info.filename}' is a symbolic link; refused")
    if any(part in SKIPPED for part in path.parts) or not path.parts:
        return None
    return path


def unpack(archive: Path, target: Path, budget: Budget | None = None, depth: int = 1, label: str = "") -> None:
    """Unpack ``archive`` into ``target``; a zip inside is unpacked in its place (``x.zip`` -> ``x/``)."""
    budget = budget or Budget()
    label = label or archive.name
    if depth > MAX_DEPTH:
        raise GradingError(f"{label}: zips nested more than {MAX_DEPTH} deep; refused")
    try:
        with zipfile.ZipFile(archive) as zipped:
            members = zipped.infolist()
            declared = sum(info.file_size for info in members)
            if declared > budget.bytes:
                raise GradingError(f"{label}: unpacks to {declared >> 20} MB, more than the "
                                   f"{MAX_BYTES >> 20} MB allowed (a zip bomb?); refused")
            for info in members:
                relative = _safe_member(info, label)
                if relative is None or info.is_dir():
                    continue
                if info.file_size > 2**20 and info.file_size > MAX_RATIO * max(info.compress_size, 1):
                    raise GradingError(f"{label}: '{info.filename}' expands {info.file_size // max(info.compress_size, 1)}"
                                       f" times (a zip bomb?); refused")
                destination = target.joinpath(*relative.parts)
                destination.parent.mkdir(parents=True, exist_ok=True)
                _copy_limited(zipped, info, destination, budget, label)
                if destination.suffix.lower() == ".zip":
                    inner = destination.with_suffix("")
                    unpack(destination, inner, budget, depth + 1, f"{label}/{relative}")
                    destination.unlink()
    except zipfile.BadZipFile as exc:
        raise GradingError(f"{label}: not a readable zip file ({exc})") from None
    except (RuntimeError, NotImplementedError, EOFError, OSError, zlib.error) as exc:  # encrypted, damaged, odd names
        raise GradingError(f"{label}: cannot be unpacked ({' '.join(str(exc).split())[:200]})") from None


def _copy_limited(zipped: zipfile.ZipFile, info: zipfile.ZipInfo, destination: Path, budget: Budget,
                  label: str) -> None:
    """Copy one member, counting the bytes really written (a header can lie about the size)."""
    written = 0
    with zipped.open(info) as source, open(destination, "wb") as sink:
        while chunk := source.read(2**20):
            written += len(chunk)
            if written > budget.bytes:
                break
            sink.write(chunk)
    budget.spend(written, label)


# --- where the parts are ---------------------------------------------------------------------------

def _part_folder(folder: Path, part: str) -> Path | None:
    return next((folder / name for name in PART_NAMES[part] if (folder / name).is_dir()), None)


def holds_parts(folder: Path) -> bool:
    return any(_part_folder(folder, part) for part in ("part1", "part2"))


def find_roots(folder: Path, max_depth: int = 6) -> list[Path]:
    """The folders at any depth (up to ``max_depth``) that hold ``part1/``/``part_1/`` or
    ``part2/``/``part_2/``, shallowest first; hidden folders and ``__MACOSX`` are not searched."""
    found, level = [], [folder]
    for _ in range(max_depth + 1):
        found += [d for d in level if holds_parts(d)]
        if found:
            return found
        level = sorted(c for d in level for c in d.iterdir()
                       if c.is_dir() and not c.name.startswith((".", "__")))
    return found


def missing(root: Path, whole: Path) -> list[str]:
    """What the assignment's deliverables list has and the submission lacks: a part, one of its
    files, the report PDF (anywhere in ``whole``, the student's whole folder)."""
    lacking = []
    for part, files in REQUIRED.items():
        folder = _part_folder(root, part)
        if folder is None:
            lacking.append(f"{part}/")
            continue
        lacking += [f"{part}/{name}" for name in files if not (folder / name).is_file()]
    if not any(name.lower().endswith(".pdf") for _, _, names in walk(whole) for name in names):
        lacking.append("report PDF")
    return lacking


def walk(folder: Path):
    """``os.walk`` without hidden folders, caches and ``__MACOSX``."""
    for entry in os.walk(folder):
        entry[1][:] = sorted(d for d in entry[1] if not d.startswith((".", "__")))
        yield entry


# --- Canvas ----------------------------------------------------------------------------------------

def canvas_fields(filename: str) -> dict | None:
    match = CANVAS_NAME.match(filename)
    if not match:
        return None
    fields = match.groupdict()
    repeat = REPEAT.match(fields["name"])
    fields["base"] = repeat["stem"] + (repeat["ext"] or "") if repeat else fields["name"]
    fields["repeat"] = int(repeat["n"]) if repeat else 0
    fields["late"] = bool(fields["late"])
    return fields


def latest_files(names: list[str]) -> dict[str, list[dict]]:
    """Canvas file names grouped by user id, keeping each student's latest submission (highest
    submission id) and, of a file name handed in again, the highest ``-N``."""
    by_user: dict[str, list[dict]] = {}
    for name in names:
        fields = canvas_fields(name)
        if fields:
            by_user.setdefault(fields["user_id"], []).append({**fields, "file": name})
    latest = {}
    for user, files in sorted(by_user.items()):
        newest = max(int(f["submission_id"]) for f in files)
        kept: dict[str, dict] = {}
        for f in sorted((f for f in files if int(f["submission_id"]) == newest), key=lambda f: f["repeat"]):
            kept[f["base"]] = f  # a higher -N replaces the earlier upload of the same name
        latest[user] = sorted(kept.values(), key=lambda f: f["base"])
    return latest


def _is_canvas(names: list[str]) -> bool:
    return bool(names) and sum(canvas_fields(n) is not None for n in names) * 2 > len(names)


def _student_from_canvas(files: list[dict], open_file, target: Path) -> Submission:
    """One student's folder from their Canvas files: each zip unpacked into a folder of its own name,
    loose files as they are."""
    first = files[0]
    sub = Submission(name=f"{first['student']}_{first['user_id']}", path=target, student=first["student"],
                     user_id=first["user_id"], late=any(f["late"] for f in files), files=[f["name"] for f in files])
    target.mkdir(parents=True)
    budget = Budget()
    try:
        for f in files:
            destination = target / Path(f["base"]).name
            with open_file(f["file"]) as source, open(destination, "wb") as sink:
                shutil.copyfileobj(source, sink)
            if destination.suffix.lower() == ".zip":
                unpack(destination, destination.with_suffix(""), budget, 2, f["name"])
                destination.unlink()
            else:
                budget.spend(destination.stat().st_size, f["name"])
    except GradingError as exc:
        _refuse(sub, exc)
    return sub


# --- entry points ----------------------------------------------------------------------------------

def _fresh(folder: Path) -> Path:
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    return folder


def _refuse(sub: Submission, exc: GradingError) -> None:
    """An archive refused: nothing half-unpacked is graded, nor left on the disk."""
    sub.problem = str(exc)
    sub.path = _fresh(sub.path)


def _student_zip(archive: Path, work_dir: Path) -> Submission:
    sub = Submission(name=archive.stem, path=_fresh(work_dir / archive.stem), student=archive.stem,
                     files=[archive.name])
    try:
        unpack(archive, sub.path)
    except GradingError as exc:
        _refuse(sub, exc)
    return sub


def submissions_from(source: Path, work_dir: Path) -> tuple[list[Submission], list[str]]:
    """The submissions in ``source`` (a folder of folders or zips, a Canvas download as a zip or
    unpacked, or one student's zip) and notes for the TA; archives are unpacked under ``work_dir``."""
    if not source.exists():
        raise GradingError(f"batch source '{source}' does not exist; pass a folder, a Canvas zip or a student's zip")
    if source.is_file():
        if not zipfile.is_zipfile(source):
            raise GradingError(f"'{source}' is neither a folder nor a zip file")
        with zipfile.ZipFile(source) as zipped:
            names = [i.filename for i in zipped.infolist() if not i.is_dir()]
            if _is_canvas(names) and all("/" not in n for n in names):
                return _from_canvas(names, zipped.open, work_dir)
        return [_student_zip(source, work_dir)], []
    if holds_parts(source):
        raise GradingError(f"'{source}' holds the parts itself: grade it without --batch, or pass the "
                           f"folder that holds one folder per student")
    entries = [p for p in sorted(source.iterdir()) if not p.name.startswith((".", "_"))
               and p.resolve() != work_dir.parent.resolve() and p.resolve() != work_dir.resolve()]
    names = [p.name for p in entries if p.is_file()]
    if _is_canvas(names):
        return _from_canvas(names, lambda n: open(source / n, "rb"), work_dir)
    subs = []
    for entry in entries:
        if entry.is_dir():
            sub = Submission(name=entry.name, path=entry, student=entry.name)
            try:
                sub.path, sub.files = open_folder(entry, work_dir / entry.name)
            except GradingError as exc:
                sub.path = work_dir / entry.name
                _refuse(sub, exc)
            subs.append(sub)
        elif entry.suffix.lower() == ".zip":
            subs.append(_student_zip(entry, work_dir))
    if not subs:
        raise GradingError(f"no submission folders or zips in '{source}'")
    return subs, []


def open_folder(folder: Path, scratch: Path) -> tuple[Path, list[str]]:
    """``folder``, or, when the parts are not in it as files but one zip is, that zip unpacked into
    ``scratch``; and the names of the files read."""
    zips = [] if find_roots(folder) else sorted(p for p in folder.rglob("*.zip") if "__MACOSX" not in p.parts)
    if len(zips) != 1:
        return folder, []
    target = _fresh(scratch) / zips[0].stem
    unpack(zips[0], target)
    return scratch, [zips[0].name]


def _from_canvas(names: list[str], open_file, work_dir: Path) -> tuple[list[Submission], list[str]]:
    notes = [f"not a Canvas file name, left out: {n}" for n in names if canvas_fields(n) is None]
    subs = []
    for files in latest_files(names).values():
        name = f"{files[0]['student']}_{files[0]['user_id']}"
        if (work_dir / name).exists():
            shutil.rmtree(work_dir / name)
        subs.append(_student_from_canvas(files, open_file, work_dir / name))
    return subs, notes


def unpack_one(archive: Path) -> tuple[Path, tempfile.TemporaryDirectory]:
    """A student's own zip unpacked into a temporary folder (removed with the returned handle)."""
    if not zipfile.is_zipfile(archive):
        raise GradingError(f"'{archive}' is not a zip file; pass the zip or the folder that holds part1/ and part2/")
    handle = tempfile.TemporaryDirectory(prefix="grading-zip-")
    target = Path(handle.name) / archive.stem
    try:
        unpack(archive, target)
    except BaseException:
        handle.cleanup()
        raise
    return target, handle
