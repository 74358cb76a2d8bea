"""Leaks: nothing outside the input (or inside the vault) is ingested, served or sent; secrets
never reach files."""
from __future__ import annotations

import sqlite3
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.attacks import Lab, Lost, attack, intact, one_error, snapshot

SECRET = "TOP-SECRET-7f3a9c"


def _secret_file(lab: Lab, name: str = "private.md") -> str:
    outside = lab.tmp / "outside"
    outside.mkdir(exist_ok=True)
    path = outside / name
    path.write_text(f"# Private\n\n{SECRET} never leaves this file.\n")
    return str(path)


def _nothing_secret_in(root, lab: Lab) -> None:
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink() and SECRET.encode() in path.read_bytes():
            raise Lost(f"the secret reached {path.relative_to(root)}")
    if any(SECRET in str(r) for r in lab.server.requests):
        raise Lost("the secret was sent to the endpoint")


@attack("ingest: a folder holding b.md -> a private file")
def folder_symlink(lab: Lab) -> None:
    root = lab.vault(sample=False)
    folder = lab.tmp / "notes"
    folder.mkdir()
    (folder / "a.md").write_text("# Alpha\n\nAlpha is a fine note about Paxos.\n")
    (folder / "b.md").symlink_to(_secret_file(lab))
    (folder / "passwd.md").symlink_to("/etc/passwd")
    (folder / "loop").symlink_to(folder)  # a folder loop
    done = lab.kbc(root, "ingest", str(folder))
    assert done.returncode == 0, done.stderr
    assert "b.md" in done.stderr and "not read" in done.stderr, done.stderr
    assert len(list((root / "raw").glob("*.md"))) == 1
    lab.kbc(root, "compile")
    _nothing_secret_in(root, lab)
    assert not any("root:x:0:0" in str(r) for r in lab.server.requests)


@attack("ingest: a repository whose README links to a private key")
def repo_symlink(lab: Lab) -> None:
    root = lab.vault(sample=False)
    repo = lab.tmp / "repo"
    (repo / ".git").mkdir(parents=True)
    (repo / "main.py").write_text("print('hello')\n")
    (repo / "README.md").symlink_to(_secret_file(lab, "id_rsa"))
    (repo / "Makefile").symlink_to(_secret_file(lab, "Makefile"))
    done = lab.kbc(root, "ingest", str(repo))
    assert done.returncode == 0, done.stderr
    lab.kbc(root, "compile")
    _nothing_secret_in(root, lab)


@attack("ingest: a web page with <img src=file:///...>")
def remote_file_url(lab: Lab) -> None:
    root = lab.vault(sample=False)
    private = lab.tmp / "outside" / "private.png"
    private.parent.mkdir(exist_ok=True)
    private.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01" + SECRET.encode())
    page = (f"<html><head><title>Hostile</title></head><body><article><h1>Hostile</h1>"
            f"<p>{'A paragraph about consensus and Paxos. ' * 20}</p>"
            f'<img src="file://{private}" alt="x"><img src="{private}" alt="y">'
            f"<p>{'More words about Raft leaders. ' * 20}</p></article></body></html>").encode()
    with _serving({"/page.html": ("text/html", page)}) as base:
        done = lab.kbc(root, "ingest", base + "/page.html")
    assert done.returncode == 0, done.stderr
    _nothing_secret_in(root, lab)


@attack("ingest: `kbc ingest .` and `kbc ingest raw/` inside the vault")
def vault_into_itself(lab: Lab) -> None:
    root = lab.vault()
    lab.kbc(root, "compile")
    before = snapshot(root)
    for target in (".", "raw", "wiki", "raw/Leases.md"):
        done = lab.kbc(None, "ingest", target, cwd=root)
        assert done.returncode == 1, done.stdout + done.stderr
        one_error(done.stderr, "inside the vault")
    intact(before, root)


@attack("serve and search: a wiki page linked to a file outside the vault")
def wiki_symlink(lab: Lab) -> None:
    from kbc.search import Searcher, refresh_index
    from kbc.vault import Vault

    root = lab.vault()
    lab.kbc(root, "compile")
    (root / "wiki" / "concepts" / "Leak.md").symlink_to(_secret_file(lab))
    (root / "wiki" / "loop").symlink_to(root / "wiki")
    vault = Vault(root, env=lab.env())
    assert "leak" not in vault.wiki_pages()
    refresh_index(vault)
    assert not Searcher(vault).search(SECRET)
    done = lab.kbc(root, "ask", "What never leaves this file? Tell me about Private and Leak.")
    assert done.returncode == 0, done.stderr
    lab.kbc(root, "compile")
    _nothing_secret_in(root, lab)
    from tests.attacks.web import served

    with served(root, lab) as (base, _):
        status, body = _get(base + "/page/Leak")
        assert status == 404 and SECRET not in body


@attack("secrets: an API key ending in \\r, and an endpoint echoing the key")
def api_key_cr(lab: Lab) -> None:
    root = lab.vault()
    key = "sk-live-abcdefghijklmnop1234"
    done = lab.kbc(root, "compile", env=lab.env(root, OPENAI_API_KEY=key + "\r"))
    assert done.returncode == 0, done.stderr
    lab.server.script = [{"status": 401, "message": f"Incorrect API key provided: Bearer {key}"}] * 8
    (root / "raw" / "New.md").write_text("# New\n\nA new note about Quorum and Paxos.\n")
    done = lab.kbc(root, "compile", env=lab.env(root, OPENAI_API_KEY=key))
    assert done.returncode != 0 and key not in done.stderr, done.stderr
    for path in root.rglob("*"):
        if path.is_file() and key.encode() in path.read_bytes():
            raise Lost(f"the API key reached {path.relative_to(root)}")
    with sqlite3.connect(root / ".kbc" / "kbc.db") as db:
        assert not [r for r in db.execute("select error from requests") if key in (r[0] or "")]


def _get(url: str, headers: dict | None = None):
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            return response.status, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8", "replace")


class _serving:
    """A tiny web server on 127.0.0.1 answering fixed paths: {path: (type, bytes)}."""

    def __init__(self, routes: dict):
        routes_ = routes

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                kind, data = routes_.get(self.path, ("text/plain", b""))
                self.send_response(200 if self.path in routes_ else 404)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)

    def __enter__(self) -> str:
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self.httpd.server_port}"

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


