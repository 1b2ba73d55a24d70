"""Download a Project Gutenberg book into a cache folder and print its path, to train on it:

    python part2/gutenberg.py --list
    python part2/train.py --txt_file "$(python part2/gutenberg.py darwin_nl)"
    python part2/gutenberg.py 2591 --sha256 HEX     # any id; refuse a copy with another checksum

Grimm (#2591), the course's book, ships as assets/book_EN_grimms_fairy_tails.txt and is train.py's
default. A download is checked (UTF-8 text, not an HTML page) and written atomically to
<cache_dir>/pg<id>.txt; a cached copy is used without a request. $GUTENBERG_MIRROR (or --mirror)
replaces https://www.gutenberg.org and $GUTENBERG_CACHE (or --cache_dir) the cache folder.
"""
from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse
import hashlib
import os
import urllib.request

from part2.dataset import UserError

CACHE_DIR = Path(__file__).resolve().parents[1] / "assets" / "cache"  # git-ignored
MIRROR = "https://www.gutenberg.org"
URLS = ("{mirror}/cache/epub/{id}/pg{id}.txt", "{mirror}/files/{id}/{id}-0.txt")  # current, then older
BOOKS = {"grimm": (2591, "English", "Grimms' Fairy Tales (the Brothers Grimm)"),
         "democracy": (815, "English", "Democracy in America, Volume 1 (Alexis de Tocqueville)"),
         "darwin_nl": (33764, "Dutch", "De Reis om de Wereld (Charles Darwin)"),
         "anna_karenina_nl": (13214, "Dutch", "Anna Karenina (Lev Tolstoi)")}


def book_id(name_or_id: str) -> int:
    key = name_or_id.strip().lower()
    if key in BOOKS:
        return BOOKS[key][0]
    if key.isdigit() and int(key) > 0:
        return int(key)
    raise UserError(f"unknown book '{name_or_id}'; use a Gutenberg id or one of: {', '.join(BOOKS)}")


def download(name_or_id: str, cache_dir=None, mirror=None, sha256=None, force=False, timeout=30.0) -> Path:
    """The path of the cached book, downloaded first when it is not cached (or ``force``)."""
    number = book_id(name_or_id)
    path = Path(cache_dir or os.environ.get("GUTENBERG_CACHE") or CACHE_DIR) / f"pg{number}.txt"
    if path.is_file() and not force:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if sha256 and digest != sha256.lower():
            raise UserError(f"the cached copy '{path}' has SHA-256 {digest}, not the pinned {sha256}; "
                            "pass --force to download the book again")
        return path
    mirror = (mirror or os.environ.get("GUTENBERG_MIRROR") or MIRROR).rstrip("/")
    reasons = []
    for pattern in URLS:
        url = pattern.format(mirror=mirror, id=number)
        try:
            request = urllib.request.Request(url, headers={"User-Agent": "rnn-course (book download)"})
            with urllib.request.urlopen(request, timeout=timeout) as response:
                data = response.read()
            if data.lstrip(b"\xef\xbb\xbf \r\n").lower().startswith((b"<!doctype html", b"<html")):
                raise ValueError("an HTML page, not a plain-text book")
            data.decode("utf-8")
            break
        except (OSError, ValueError) as exc:  # URLError, timeouts, UnicodeDecodeError
            reasons.append(f"{url}: {getattr(exc, 'reason', None) or exc}")
    else:
        raise UserError(f"could not download Gutenberg #{number} ({'; '.join(reasons)}); "
                        "pass --txt_file PATH with a local UTF-8 copy")
    digest = hashlib.sha256(data).hexdigest()
    if sha256 and digest != sha256.lower():
        raise UserError(f"checksum mismatch for Gutenberg #{number}: expected {sha256}, got {digest}; "
                        "nothing was cached")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.with_suffix(".tmp").write_bytes(data)
    os.replace(path.with_suffix(".tmp"), path)  # atomic: never a half-written book in the cache
    return path


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="Download a Project Gutenberg book and print its path.",
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("book", nargs="?", default="grimm", help=f"a short name ({', '.join(BOOKS)}) or a Gutenberg id")
    p.add_argument("--cache_dir", default=None, help="cache folder; None: $GUTENBERG_CACHE or assets/cache")
    p.add_argument("--mirror", default=None, help=f"base URL; None: $GUTENBERG_MIRROR or {MIRROR}")
    p.add_argument("--sha256", default=None, help="expected SHA-256; a download or cached copy with another is refused")
    p.add_argument("--force", action="store_true", help="download again even when cached")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds per request")
    p.add_argument("--list", action="store_true", help="list the short names and exit")
    args = p.parse_args(argv)
    if args.list:
        for name, (number, language, title) in BOOKS.items():
            print(f"{name:18s} #{number:<6d} {language:8s} {title}")
        return 0
    print(download(args.book, args.cache_dir, args.mirror, args.sha256, args.force, args.timeout))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except UserError as exc:
        print(f"error: {' '.join(str(exc).split())}", file=sys.stderr)
        sys.exit(2)
