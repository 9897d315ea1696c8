"""Downloads against a local HTTP server on 127.0.0.1 (never the real mirrors)."""

from __future__ import annotations

import collections
import gzip
import hashlib
import http.server
import io
import threading
import time
from pathlib import Path

import nnf.datasets as D
import numpy as np
import pytest
from nnf.datasets.download import download_file
from nnf.datasets.remote import REMOTES, Remote
from nnf.errors import DataError

BODY = bytes(range(256)) * 300  # 76.8 kB: several read chunks
BODY_SHA = hashlib.sha256(BODY).hexdigest()


class Server:
    """Serves ``routes[path] = (kind, payload)``; counts requests per path."""

    def __init__(self) -> None:
        self.routes: dict[str, tuple[str, object]] = {}
        self.hits: collections.Counter[str] = collections.Counter()
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                server.hits[self.path] += 1
                kind, payload = server.routes.get(self.path, ("status", 404))
                if kind == "status":
                    self.send_error(payload)
                    return
                if kind == "sleep":
                    time.sleep(payload)
                    payload = BODY
                self.send_response(200)
                if kind == "short":  # promise more than is sent, then hang up
                    self.send_header("Content-Length", str(len(payload) + 10_000))
                elif kind != "nolength":
                    self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                try:
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up on purpose (size cap, timeout)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def url(self, path: str) -> str:
        return self.base + path


@pytest.fixture
def server():
    s = Server()
    s.thread.start()
    yield s
    s.httpd.shutdown()
    s.httpd.server_close()


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_good_file(server, tmp_path):
    server.routes["/f.bin"] = ("ok", BODY)
    dest = tmp_path / "out" / "f.bin"
    assert download_file(server.url("/f.bin"), dest, BODY_SHA, progress=False) == dest
    assert dest.read_bytes() == BODY
    assert leftovers(dest.parent) == ["f.bin"]  # no temporary file left


def test_corrupted_file_is_rejected_and_removed(server, tmp_path):
    server.routes["/f.bin"] = ("ok", BODY[:-1] + b"\x00")
    dest = tmp_path / "f.bin"
    with pytest.raises(DataError) as info:
        download_file([server.url("/f.bin")], dest, BODY_SHA, progress=False)
    message = str(info.value)
    assert "SHA-256 mismatch" in message and server.url("/f.bin") in message
    assert "\n" not in message
    assert leftovers(tmp_path) == []


def test_interrupted_transfer(server, tmp_path):
    server.routes["/f.bin"] = ("short", BODY)
    with pytest.raises(DataError, match=r"closed after 76,800 of 86,800 bytes"):
        download_file(server.url("/f.bin"), tmp_path / "f.bin", BODY_SHA, progress=False)
    assert leftovers(tmp_path) == []


def test_http_500_and_fallback_to_second_mirror(server, tmp_path):
    server.routes["/a/f.bin"] = ("status", 500)
    server.routes["/b/f.bin"] = ("ok", BODY)
    with pytest.raises(DataError, match="HTTP 500"):
        download_file(server.url("/a/f.bin"), tmp_path / "x", BODY_SHA, progress=False)
    urls = [server.url("/a/f.bin"), server.url("/b/f.bin")]
    dest = download_file(urls, tmp_path / "f.bin", BODY_SHA, progress=False)
    assert dest.read_bytes() == BODY
    assert server.hits["/a/f.bin"] == 2 and server.hits["/b/f.bin"] == 1
    assert leftovers(tmp_path) == ["f.bin"]


def test_all_mirrors_failing_names_each_url_and_the_fix(server, tmp_path):
    server.routes["/a"] = ("status", 500)
    urls = [server.url("/a"), server.url("/missing"), "http://127.0.0.1:9/closed-port"]
    with pytest.raises(DataError) as info:
        download_file(urls, tmp_path / "f", BODY_SHA, progress=False, hint="do X")
    message = str(info.value)
    assert all(u in message for u in urls) and "HTTP 404" in message
    assert message.endswith("do X")


def test_timeout(server, tmp_path):
    server.routes["/slow"] = ("sleep", 1.0)
    with pytest.raises(DataError, match=r"timed out|timeout"):
        download_file(server.url("/slow"), tmp_path / "f", BODY_SHA, timeout=0.2, progress=False)
    assert leftovers(tmp_path) == []


def test_size_cap_with_and_without_content_length(server, tmp_path):
    server.routes["/big"] = ("ok", BODY)
    server.routes["/big-nolength"] = ("nolength", BODY)
    for path in ("/big", "/big-nolength"):
        with pytest.raises(DataError, match="limit"):
            download_file(
                server.url(path), tmp_path / "f", BODY_SHA, max_bytes=1000, progress=False
            )
    assert leftovers(tmp_path) == []


def test_content_digest_ignores_gzip_wrapper(server, tmp_path):
    # Two different gzip encodings of one content: both pass a content digest.
    server.routes["/a.gz"] = ("ok", gzip.compress(BODY, mtime=0))
    server.routes["/b.gz"] = ("ok", gzip.compress(BODY, mtime=123456, compresslevel=1))
    server.routes["/raw"] = ("ok", BODY)
    for path in ("/a.gz", "/b.gz", "/raw"):
        dest = tmp_path / path.strip("/")
        download_file(server.url(path), dest, BODY_SHA, sha256_of="content", progress=False)
        assert dest.exists()


def test_content_digest_rejects_truncated_gzip_and_gzip_bomb(server, tmp_path):
    packed = gzip.compress(BODY)
    server.routes["/cut.gz"] = ("ok", packed[:-20])
    with pytest.raises(DataError, match="gzip"):
        download_file(
            server.url("/cut.gz"), tmp_path / "c", BODY_SHA, sha256_of="content", progress=False
        )
    server.routes["/bomb.gz"] = ("ok", gzip.compress(bytes(20_000_000)))
    with pytest.raises(DataError, match="content is over"):
        download_file(
            server.url("/bomb.gz"),
            tmp_path / "b",
            BODY_SHA,
            sha256_of="content",
            max_bytes=1_000_000,
            progress=False,
        )
    assert leftovers(tmp_path) == []


def test_progress_plain_lines_tty_bar_and_silence(server, tmp_path):
    server.routes["/f.bin"] = ("ok", BODY)
    plain = io.StringIO()
    download_file(server.url("/f.bin"), tmp_path / "1", BODY_SHA, stream=plain)
    lines = plain.getvalue().splitlines()
    assert lines[0].startswith("nnf: downloading " + server.url("/f.bin"))
    assert 2 <= len(lines) <= 6 and "\r" not in plain.getvalue()

    class Tty(io.StringIO):
        def isatty(self):
            return True

    tty = Tty()
    download_file(server.url("/f.bin"), tmp_path / "2", BODY_SHA, stream=tty)
    assert "\rf.bin [" in tty.getvalue() and "100.0%" in tty.getvalue()

    quiet = io.StringIO()
    download_file(server.url("/f.bin"), tmp_path / "3", BODY_SHA, stream=quiet, progress=False)
    assert quiet.getvalue() == ""


def test_interrupt_mid_download_leaves_nothing(server, tmp_path):
    server.routes["/f.bin"] = ("ok", BODY)

    class Interrupting(io.StringIO):
        def write(self, text):
            if "%" in text:  # the first progress mark, mid-transfer
                raise KeyboardInterrupt
            return super().write(text)

    with pytest.raises(KeyboardInterrupt):
        download_file(server.url("/f.bin"), tmp_path / "f", BODY_SHA, stream=Interrupting())
    assert leftovers(tmp_path) == []


# ---------------------------------------------------------------- load() with a local mirror


def serve_fake_mnist(server: Server) -> tuple[Remote, dict[str, np.ndarray]]:
    """Tiny IDX files served as .gz under /m/, with a Remote pointing at them."""
    from nnf.datasets.idx import write_idx

    arrays = {
        "train-images-idx3-ubyte": np.full((6, 4, 4), 5, np.uint8),
        "train-labels-idx1-ubyte": np.arange(6, dtype=np.uint8) % 10,
        "t10k-images-idx3-ubyte": np.full((3, 4, 4), 6, np.uint8),
        "t10k-labels-idx1-ubyte": np.arange(3, dtype=np.uint8),
    }
    digests = {}
    for stem, array in arrays.items():
        raw, packed = io.BytesIO(), io.BytesIO()
        write_idx(raw, array)
        write_idx(packed, array, compress=True)
        digests[stem] = hashlib.sha256(raw.getvalue()).hexdigest()
        server.routes[f"/m/{stem}.gz"] = ("ok", packed.getvalue())
    spec = REMOTES["mnist"]
    remote = Remote(
        name="mnist",
        mirrors=(server.url("/down/"), server.url("/m/")),
        files=digests,
        class_names=spec.class_names,
    )
    return remote, arrays


@pytest.fixture
def env(monkeypatch, tmp_path):
    monkeypatch.delenv("NNF_DATA_DIR", raising=False)
    monkeypatch.setenv("NNF_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path


def test_load_downloads_into_cache_then_uses_it(server, env, capsys):
    remote, arrays = serve_fake_mnist(server)
    ds = D.load("mnist", remote=remote)
    np.testing.assert_array_equal(ds.x_test, arrays["t10k-images-idx3-ubyte"])
    assert ds.name == "mnist" and ds.num_classes == 10
    cache = env / "cache" / "mnist"
    assert leftovers(cache) == sorted(f"{stem}.gz" for stem in arrays)
    assert "downloading" in capsys.readouterr().err
    hits = sum(server.hits.values())
    assert hits == 8  # each file: the dead first mirror, then the good one
    again = D.load("mnist", remote=remote, progress=False)
    assert sum(server.hits.values()) == hits  # second time: no request at all
    np.testing.assert_array_equal(again.x_train, ds.x_train)


def test_load_downloads_only_missing_files(server, env):
    remote, _ = serve_fake_mnist(server)
    D.load("mnist", remote=remote, progress=False)
    (env / "cache" / "mnist" / "t10k-labels-idx1-ubyte.gz").unlink()
    server.hits.clear()
    D.load("mnist", remote=remote, progress=False)
    assert server.hits["/m/t10k-labels-idx1-ubyte.gz"] == 1
    assert sum(server.hits.values()) == 2  # that file from the dead mirror, then the good one


def test_load_prefers_data_dir_without_any_request(server, env):
    remote, arrays = serve_fake_mnist(server)
    from nnf.datasets.idx import write_idx

    mine = env / "mine"
    mine.mkdir()
    for stem, array in arrays.items():
        write_idx(mine / stem, array + (1 if "images" in stem else 0))
    ds = D.load("mnist", data_dir=mine, remote=remote)
    assert int(ds.x_train[0, 0, 0]) == 6 and sum(server.hits.values()) == 0


def test_load_failed_download_tells_where_to_put_files(server, env):
    remote, _ = serve_fake_mnist(server)
    server.routes["/m/train-images-idx3-ubyte.gz"] = ("ok", gzip.compress(b"\0\0\x08\x01junk"))
    with pytest.raises(DataError) as info:
        D.load("mnist", remote=remote, progress=False)
    message = str(info.value)
    assert "train-images-idx3-ubyte.gz" in message and "SHA-256 mismatch" in message
    assert "NNF_DATA_DIR" in message and "--data DIR" in message
    assert "train-images-idx3-ubyte.gz" not in leftovers(env / "cache" / "mnist")
