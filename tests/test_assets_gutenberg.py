"""assets/gutenberg.py against a small HTTP server on 127.0.0.1 (never the internet)."""
from __future__ import annotations

import hashlib
import http.server
import socket
import threading

import pytest

from assets import gutenberg
from common.runtime import UserError
from tests.conftest import assert_one_line_error, run_script
from tests.test_part2_support import ONE_THREAD, generated_text

BOOK = ("\ufeff" + generated_text(20_000)).encode("utf-8")  # made up; no real book text in the tests


class Server:
    """Serves ``routes`` (path -> (status, bytes)) and counts the requests per path."""

    def __init__(self):
        self.routes, self.hits = {}, []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (the http.server API)
                outer.hits.append(self.path)
                status, body = outer.routes.get(self.path, (404, b"not found"))
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    srv = Server()
    srv.routes["/cache/epub/2591/pg2591.txt"] = (200, BOOK)
    yield srv
    srv.close()


@pytest.fixture
def closed_port_url():
    """A URL on 127.0.0.1 where nothing listens: a port bound here and never listened on, held for
    the whole test so that no other process can take it (connections to it are refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


def test_download_by_short_name_caches_and_checksums(server, tmp_path):
    path = gutenberg.download("grimm", cache_dir=tmp_path, mirror=server.url)
    assert path == tmp_path / "pg2591.txt" and path.read_bytes() == BOOK
    recorded = (tmp_path / "pg2591.txt.sha256").read_text(encoding="utf-8").split()[0]
    assert recorded == hashlib.sha256(BOOK).hexdigest()
    assert gutenberg.is_cached("grimm", tmp_path)
    hits = len(server.hits)
    assert gutenberg.download("2591", cache_dir=tmp_path, mirror=server.url) == path  # by id, from the cache
    assert len(server.hits) == hits


def test_a_corrupted_cache_is_downloaded_again(server, tmp_path):
    path = gutenberg.download("grimm", cache_dir=tmp_path, mirror=server.url)
    path.write_bytes(BOOK[: len(BOOK) // 2])                 # e.g. an interrupted copy
    assert not gutenberg.is_cached("grimm", tmp_path)
    gutenberg.download("grimm", cache_dir=tmp_path, mirror=server.url)
    assert path.read_bytes() == BOOK


def test_a_pin_is_checked_against_the_cached_copy(server, tmp_path):
    """A cached copy with the pinned SHA-256 is used without a request; with another pin it is refused
    in one line and kept as it is; --force downloads it again."""
    path = gutenberg.download("grimm", cache_dir=tmp_path, mirror=server.url)
    good, hits = hashlib.sha256(BOOK).hexdigest(), len(server.hits)
    assert gutenberg.download("grimm", cache_dir=tmp_path, mirror=server.url, sha256=good.upper()) == path
    with pytest.raises(UserError) as err:
        gutenberg.main(["grimm", "--cache_dir", str(tmp_path), "--mirror", server.url, "--sha256", "ab" * 32])
    message = str(err.value)
    assert "\n" not in message and good in message and "ab" * 32 in message and "--force" in message
    assert len(server.hits) == hits and path.read_bytes() == BOOK and gutenberg.is_cached("grimm", tmp_path)
    with pytest.raises(UserError, match="checksum mismatch"):   # a fresh download with another sum
        gutenberg.download("grimm", cache_dir=tmp_path, mirror=server.url, sha256="ab" * 32, force=True)
    assert path.read_bytes() == BOOK


def test_pinned_checksum_mismatch_caches_nothing(server, tmp_path):
    with pytest.raises(UserError, match="checksum mismatch"):
        gutenberg.download("grimm", cache_dir=tmp_path, mirror=server.url, sha256="0" * 64)
    assert not (tmp_path / "pg2591.txt").exists()
    good = hashlib.sha256(BOOK).hexdigest()
    assert gutenberg.download("grimm", cache_dir=tmp_path, mirror=server.url, sha256=good).is_file()


def test_strip_writes_the_body_only(server, tmp_path):
    body = gutenberg.download("grimm", cache_dir=tmp_path, mirror=server.url, strip=True)
    text = body.read_text(encoding="utf-8")
    assert "*** START OF" not in text and "LICENCE" not in text and "Title:" not in text
    assert len(text) > 15_000


def test_falls_back_to_the_older_url_and_rejects_html(server, tmp_path):
    server.routes["/files/33764/33764-0.txt"] = (200, BOOK)
    assert gutenberg.download("darwin_nl", cache_dir=tmp_path, mirror=server.url).read_bytes() == BOOK
    assert "/cache/epub/33764/pg33764.txt" in server.hits                   # tried first, 404
    server.routes["/cache/epub/815/pg815.txt"] = (200, b"<!DOCTYPE html><html>Too many requests</html>" * 50)
    with pytest.raises(UserError, match="HTML page"):
        gutenberg.download("democracy", cache_dir=tmp_path, mirror=server.url)


def test_offline_is_one_line_saying_what_to_do(closed_port_url, tmp_path):
    with pytest.raises(UserError) as err:
        gutenberg.download("grimm", cache_dir=tmp_path, mirror=closed_port_url, timeout=5)
    message = str(err.value)
    assert message.startswith("could not download grimm") and message.endswith(
        "pass --txt_file PATH with a local UTF-8 copy")
    assert not list(tmp_path.iterdir())


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(UserError, match="grimm"):
        gutenberg.resolve("no-such-book")


def test_strip_gutenberg_leaves_plain_text_alone():
    assert gutenberg.strip_gutenberg("just a text\n") == "just a text\n"


def test_cli_downloads_and_prints_the_path(server, tmp_path):
    proc = run_script("assets/gutenberg.py", "grimm", "--cache_dir", tmp_path, "--mirror", server.url,
                      env=ONE_THREAD)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(tmp_path / "pg2591.txt")


def test_the_default_book_is_the_shipped_copy_whatever_the_network(closed_port_url, tmp_path, monkeypatch):
    monkeypatch.setenv("GUTENBERG_MIRROR", closed_port_url)
    shipped = gutenberg.SHIPPED["grimm"]
    assert gutenberg.book_file("grimm", cache_dir=tmp_path) == shipped
    assert gutenberg.book_file("2591", cache_dir=tmp_path) == shipped
    assert gutenberg.sha256_of(shipped) == gutenberg.BOOKS["grimm"].course_sha256
    assert not list(tmp_path.iterdir())


def test_train_without_txt_file_trains_on_the_shipped_book_offline(closed_port_url, tmp_path, monkeypatch, capsys):
    from part2.train import main as train_main
    monkeypatch.setenv("GUTENBERG_MIRROR", closed_port_url)
    monkeypatch.setenv("GUTENBERG_CACHE", str(tmp_path / "cache"))
    assert train_main(["--train_steps", "3", "--seq_length", "8", "--lstm_num_hidden", "8", "--val_every", "0",
                       "--sample_every", "0", "--quiet", "--device", "cpu",
                       "--checkpoint_dir", str(tmp_path / "ck"), "--summary_path", str(tmp_path / "s")]) == 0
    out = capsys.readouterr().out
    assert f"training on '{gutenberg.SHIPPED['grimm']}'" in out and "done at step 3" in out
    assert not (tmp_path / "cache").exists()


def test_train_on_another_book_offline_says_what_to_do(closed_port_url, tmp_path):
    proc = run_script("part2/train.py", "--book", "darwin_nl", "--checkpoint_dir", tmp_path / "ck",
                      "--summary_path", tmp_path / "s",
                      env={**ONE_THREAD, "GUTENBERG_MIRROR": closed_port_url, "GUTENBERG_CACHE": str(tmp_path)})
    assert_one_line_error(proc, "could not download darwin_nl", "pass --txt_file PATH")
    assert not (tmp_path / "ck").exists()


def test_train_on_another_book_downloads_it(server, tmp_path, monkeypatch, capsys):
    from part2.train import main as train_main
    server.routes["/cache/epub/33764/pg33764.txt"] = (200, BOOK)
    monkeypatch.setenv("GUTENBERG_MIRROR", server.url)
    monkeypatch.setenv("GUTENBERG_CACHE", str(tmp_path))
    assert train_main(["--book", "darwin_nl", "--train_steps", "3", "--seq_length", "8", "--lstm_num_hidden", "8",
                       "--val_every", "0", "--sample_every", "0", "--quiet", "--device", "cpu",
                       "--checkpoint_dir", str(tmp_path / "ck"), "--summary_path", str(tmp_path / "s")]) == 0
    out = capsys.readouterr().out
    assert str(tmp_path / "pg33764.txt") in out and "done at step 3" in out
