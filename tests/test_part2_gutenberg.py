"""part2/gutenberg.py against a small HTTP server on 127.0.0.1 (never the internet)."""
from __future__ import annotations

import hashlib
import http.server
import socket
import threading

import pytest

from part2 import gutenberg
from part2.dataset import UserError
from tests.test_part2_dataset import generated_text

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


def test_download_by_short_name_then_by_id_from_the_cache(server, tmp_path):
    path = gutenberg.download("grimm", cache_dir=tmp_path, mirror=server.url)
    assert path == tmp_path / "pg2591.txt" and path.read_bytes() == BOOK
    hits = len(server.hits)
    assert gutenberg.download("2591", cache_dir=tmp_path, mirror=server.url) == path  # no request
    assert len(server.hits) == hits and sorted(p.name for p in tmp_path.iterdir()) == ["pg2591.txt"]


def test_a_pin_is_checked_against_the_download_and_the_cached_copy(server, tmp_path):
    with pytest.raises(UserError, match="checksum mismatch"):
        gutenberg.download("grimm", cache_dir=tmp_path, mirror=server.url, sha256="0" * 64)
    assert not list(tmp_path.iterdir())  # nothing cached
    good = hashlib.sha256(BOOK).hexdigest()
    path = gutenberg.download("grimm", cache_dir=tmp_path, mirror=server.url, sha256=good.upper())
    with pytest.raises(UserError) as err:
        gutenberg.download("grimm", cache_dir=tmp_path, mirror=server.url, sha256="ab" * 32)
    assert "\n" not in str(err.value) and good in str(err.value) and "--force" in str(err.value)
    assert path.read_bytes() == BOOK
    hits = len(server.hits)
    gutenberg.download("grimm", cache_dir=tmp_path, mirror=server.url, force=True)
    assert len(server.hits) == hits + 1


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
    assert message.startswith("could not download Gutenberg #2591") and message.endswith(
        "pass --txt_file PATH with a local UTF-8 copy")
    assert not list(tmp_path.iterdir())
    with pytest.raises(UserError, match="grimm"):
        gutenberg.book_id("no-such-book")


def test_cli_downloads_prints_the_path_and_trains_on_it(server, tmp_path, monkeypatch, capsys):
    from part2 import train
    server.routes["/cache/epub/33764/pg33764.txt"] = (200, BOOK)
    monkeypatch.setenv("GUTENBERG_MIRROR", server.url)
    monkeypatch.setenv("GUTENBERG_CACHE", str(tmp_path))
    assert gutenberg.main(["darwin_nl"]) == 0
    path = capsys.readouterr().out.strip()
    assert path == str(tmp_path / "pg33764.txt")
    assert gutenberg.main(["--list"]) == 0 and "darwin_nl" in capsys.readouterr().out
    assert train.main(["--txt_file", path, "--train_steps", "3", "--seq_length", "8", "--lstm_num_hidden", "8",
                       "--eval_every", "0", "--sample_every", "0", "--quiet", "--device", "cpu",
                       "--checkpoint_dir", str(tmp_path / "ck"), "--summary_path", str(tmp_path / "s")]) == 0
    assert "done at step 3" in capsys.readouterr().out
