"""Download a Project Gutenberg book into a cache folder, the way torchvision fetches a data set.

Usage::

    python assets/gutenberg.py grimm              # by short name; prints the cached path
    python assets/gutenberg.py 2591 --strip       # by Gutenberg id, also write the body only
    python assets/gutenberg.py --list

The default book, Grimm (#2591), ships with the repository (``assets/book_EN_grimms_fairy_tails.txt``,
the course's copy): :func:`book_file` returns it without any network, and that is what
``part2/train.py`` uses without ``--txt_file``. Any other book is fetched once into
``assets/cache/pg<id>.txt`` (git-ignored); the command line always fetches into the cache. Right after
the download the file is checked (UTF-8 text, not an HTML error page, optional pinned SHA-256) and its
SHA-256 is written next to it (``pg<id>.txt.sha256``); later uses verify the cached copy against that
sum, so a half-written or edited cache file is noticed and fetched again. A pinned SHA-256 is also
checked against a cached copy: one with another sum is kept but refused (``--force`` fetches anew). The environment variable
``GUTENBERG_MIRROR`` (or ``--mirror``) replaces ``https://www.gutenberg.org`` and
``GUTENBERG_CACHE`` (or ``--cache_dir``) the cache folder; the tests point them at a server on
127.0.0.1 and a temporary folder. Without a network the error is one line that says what to do instead.
"""
from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse
import hashlib
import os
import re
import urllib.error
import urllib.request
from dataclasses import dataclass

from common.args import make_parser, positive_float
from common.io import atomic_write
from common.runtime import UserError, run_main

CACHE_DIR = Path(__file__).resolve().parent / "cache"  # the environment variable GUTENBERG_CACHE overrides it
DEFAULT_MIRROR = "https://www.gutenberg.org"
# Tried in order: the current plain-text location first, then the older one.
URL_PATTERNS = ("{mirror}/cache/epub/{id}/pg{id}.txt", "{mirror}/files/{id}/{id}-0.txt")
DEFAULT_BOOK = "grimm"
SHIPPED = {"grimm": Path(__file__).resolve().parent / "book_EN_grimms_fairy_tails.txt"}


@dataclass(frozen=True)
class Book:
    gutenberg_id: int
    title: str
    language: str
    course_sha256: str | None = None  # SHA-256 of the copy the course shipped (not what is served today)


BOOKS = {
    "grimm": Book(2591, "Grimms' Fairy Tales (the Brothers Grimm)", "English",
                  "e6439bd511820742e842e21b75e89b394d3809eec82ca56b506c39ff39d4a7d6"),
    "democracy": Book(815, "Democracy in America, Volume 1 (Alexis de Tocqueville)", "English",
                      "1ba23c5acbb00b0ffbfe48be30273f5b965eaedca5e8dfce55253e6bb24f2ca5"),
    "darwin_nl": Book(33764, "De Reis om de Wereld (Charles Darwin)", "Dutch",
                      "389b114334f9e34bea0b01d43dbe6892d44d7c9430c79a6517c74f0658370535"),
    "anna_karenina_nl": Book(13214, "Anna Karenina (Lev Tolstoi)", "Dutch",
                             "e8516bf15a6636966224617543fa22a129b35655f66fdfe8af224a9802e8e633"),
}

_START = re.compile(r"^\*{3}\s*START OF (THE|THIS) PROJECT GUTENBERG.*$", re.IGNORECASE | re.MULTILINE)
_END = re.compile(r"^\*{3}\s*END OF (THE|THIS) PROJECT GUTENBERG.*$", re.IGNORECASE | re.MULTILINE)
_END_OLD = re.compile(r"^End of (the )?Project Gutenberg.*$", re.IGNORECASE | re.MULTILINE)


def strip_gutenberg(text: str) -> str:
    """The book's body: drop the Project Gutenberg header (up to the ``*** START OF`` line) and the
    licence footer (from the ``*** END OF`` line, or an older ``End of the Project Gutenberg``
    line). Text without these markers is returned unchanged."""
    start = _START.search(text)
    if start:
        text = text[start.end():]
    ends = [m.start() for m in (_END.search(text), _END_OLD.search(text)) if m]
    end = min(ends) if ends else None
    if end is not None:
        text = text[:end]
    return text.strip("\r\n") + "\n" if (start or end is not None) else text


def resolve(name_or_id: str) -> tuple[str, int]:
    """``'grimm'`` -> ``('grimm', 2591)``; ``'2591'`` -> ``('2591', 2591)``; else a UserError."""
    key = str(name_or_id).strip().lower()
    if key in BOOKS:
        return key, BOOKS[key].gutenberg_id
    if key.isdigit() and int(key) > 0:
        return key, int(key)
    raise UserError(f"unknown book '{name_or_id}'; use a Gutenberg id or one of: {', '.join(BOOKS)}")


def cache_dir_or_default(cache_dir=None) -> Path:
    """``cache_dir``, else ``$GUTENBERG_CACHE``, else ``assets/cache``."""
    return Path(cache_dir or os.environ.get("GUTENBERG_CACHE") or CACHE_DIR)


def cached_path(name_or_id: str, cache_dir: str | os.PathLike | None = None) -> Path:
    """Where the book is (or would be) cached."""
    return cache_dir_or_default(cache_dir) / f"pg{resolve(name_or_id)[1]}.txt"


def sha256_of(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _sum_file(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def is_cached(name_or_id: str, cache_dir: str | os.PathLike | None = None) -> bool:
    """True when the cached copy exists and still matches the SHA-256 recorded at download."""
    path = cached_path(name_or_id, cache_dir)
    sums = _sum_file(path)
    if not (path.is_file() and sums.is_file()):
        return False
    recorded = sums.read_text(encoding="utf-8").split()
    return bool(recorded) and recorded[0] == sha256_of(path)


def _check_payload(data: bytes, url: str) -> None:
    """A Gutenberg plain-text book: UTF-8, not HTML, not tiny."""
    head = data[:2048].lstrip(b"\xef\xbb\xbf").lstrip().lower()
    if head.startswith(b"<!doctype html") or head.startswith(b"<html"):
        raise ValueError(f"{url} returned an HTML page, not a plain-text book")
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{url} did not return UTF-8 text (byte {exc.start})") from None
    if len(data) < 1000:
        raise ValueError(f"{url} returned only {len(data)} bytes")


def _fetch(url: str, timeout: float) -> bytes:
    request = urllib.request.Request(url, headers={"User-Agent": "rnn-gnn-course/1.0 (book download)"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return response.read()


def download(name_or_id: str = DEFAULT_BOOK, cache_dir: str | os.PathLike | None = None,
             mirror: str | None = None, sha256: str | None = None, strip: bool = False,
             timeout: float = 30.0, force: bool = False) -> Path:
    """Return the path of the cached book, downloading it first when needed.

    ``strip=True`` also writes ``pg<id>-body.txt`` without the Gutenberg header and licence and
    returns that path. ``sha256`` pins the expected checksum of the download. Network failures raise
    a one-line :class:`UserError` ending in "pass --txt_file PATH".
    """
    name, book_id = resolve(name_or_id)
    path = cached_path(name, cache_dir)
    if sha256 and not force and is_cached(name, cache_dir):
        _check_pin(path, sha256)
    if force or not is_cached(name, cache_dir):
        mirror = (mirror or os.environ.get("GUTENBERG_MIRROR") or DEFAULT_MIRROR).rstrip("/")
        reasons = []
        data = None
        for pattern in URL_PATTERNS:
            url = pattern.format(mirror=mirror, id=book_id)
            try:
                data = _fetch(url, timeout)
                _check_payload(data, url)
                break
            except (urllib.error.URLError, OSError, ValueError) as exc:
                reason = getattr(exc, "reason", None) or exc
                reasons.append(f"{url}: {reason}")
                data = None
        if data is None:
            raise UserError(f"could not download {name} (Gutenberg #{book_id}) "
                            f"({'; '.join(reasons)}); pass --txt_file PATH with a local UTF-8 copy")
        digest = hashlib.sha256(data).hexdigest()
        if sha256 and digest != sha256.lower():
            raise UserError(f"checksum mismatch for {name} (Gutenberg #{book_id}): expected {sha256}, "
                            f"got {digest}; nothing was cached")
        _atomic_write(path, data)
        _atomic_write(_sum_file(path), f"{digest}  {path.name}\n".encode("utf-8"))
    if not strip:
        return path
    body = path.with_name(f"pg{book_id}-body.txt")
    text = path.read_text(encoding="utf-8-sig")
    _atomic_write(body, strip_gutenberg(text).encode("utf-8"))
    return body


def _atomic_write(path: Path, data: bytes) -> None:
    atomic_write(path, lambda handle: handle.write(data), mode="xb")


def _check_pin(path: Path, sha256: str) -> None:
    """A cached copy whose SHA-256 is not the pinned one is refused (and kept)."""
    digest = sha256_of(path)
    if digest != sha256.lower():
        raise UserError(f"the cached copy '{path}' has SHA-256 {digest}, not the pinned {sha256}; it is kept "
                        "as it is: pass --force to download the book again")


def book_file(name_or_id: str = DEFAULT_BOOK, cache_dir: str | os.PathLike | None = None) -> Path:
    """The text of a book for ``part2/train.py --book``: the copy shipped in ``assets/`` for Grimm
    (by name or by its id), else the verified cached copy or a fresh download."""
    name, book_id = resolve(name_or_id)
    shipped = [path for key, path in SHIPPED.items() if BOOKS[key].gutenberg_id == book_id]
    if shipped and shipped[0].is_file():
        return shipped[0]
    return download(name, cache_dir=cache_dir)


def build_parser() -> argparse.ArgumentParser:
    parser = make_parser("Download a Project Gutenberg book into the cache and print its path.")
    parser.add_argument("book", nargs="?", default=DEFAULT_BOOK,
                        help=f"short name ({', '.join(BOOKS)}) or a Gutenberg id")
    parser.add_argument("--cache_dir", default=None,
                        help="cache folder; None: $GUTENBERG_CACHE or assets/cache")
    parser.add_argument("--mirror", default=None,
                        help=f"base URL instead of {DEFAULT_MIRROR}; None: $GUTENBERG_MIRROR or that")
    parser.add_argument("--sha256", default=None,
                        help="expected SHA-256 of the book; a cached copy with another one is refused")
    parser.add_argument("--strip", action="store_true",
                        help="also write the body without the Gutenberg header and licence")
    parser.add_argument("--force", action="store_true", help="download again even if cached")
    parser.add_argument("--timeout", type=positive_float, default=30.0, help="seconds per request")
    parser.add_argument("--list", action="store_true", help="list the short names and exit")
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if args.list:
        for name, book in BOOKS.items():
            print(f"{name:18s} #{book.gutenberg_id:<6d} {book.language:8s} {book.title}")
        return 0
    path = download(args.book, cache_dir=args.cache_dir, mirror=args.mirror, sha256=args.sha256,
                    strip=args.strip, timeout=args.timeout, force=args.force)
    print(path)
    return 0


if __name__ == "__main__":
    run_main(main)
