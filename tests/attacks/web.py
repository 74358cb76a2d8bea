"""kbc serve against hostile pages and requests (Chromium for script), and ingest against
hostile web servers (trickling, short bodies)."""
from __future__ import annotations

import contextlib
import re
import shutil
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.attacks import Lab, attack, intact, snapshot
from tests.attacks.leaks import _get

EVIL_SVG = ('<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><script>'
            'fetch("/api/ask",{method:"POST",headers:{"Content-Type":"application/json"},'
            'body:JSON.stringify({question:"pwned"})});document.title="PWNED";</script>'
            '<rect width="10" height="10"/></svg>')


@contextlib.contextmanager
def served(root, lab: Lab, socket_timeout: float | None = None):
    """kbc serve's Site on 127.0.0.1 (in this process), asking through the scripted server.
    Yields (base URL, list of questions asked)."""
    from kbc.ask import ask
    from kbc.llm import LLM, OpenAIBackend, Templates
    from kbc.serve import Site, make_server
    from kbc.vault import Vault

    vault = Vault(root, env=lab.env())
    asked: list[str] = []
    llm = LLM(OpenAIBackend(lab.server.base_url, "scripted", "test", max_retries=0), vault.db, vault.db_lock)

    def answer(question, **_):
        asked.append(question)
        return ask(vault, llm, Templates([root / "templates"]), question)

    server = make_server(Site(vault, ask=answer), "127.0.0.1", 0)
    if socket_timeout:
        server.RequestHandlerClass.timeout = socket_timeout
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", asked
    finally:
        server.shutdown()
        server.server_close()


@contextlib.contextmanager
def chromium(profile):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    assert shutil.which("chromium") and shutil.which("chromedriver"), "make install puts chromium here"
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-dev-shm-usage", f"--user-data-dir={profile}"):
        options.add_argument(flag)
    options.add_experimental_option("prefs", {"download.default_directory": str(profile / "downloads")})
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
    driver.set_page_load_timeout(20)
    try:
        yield driver
    finally:
        driver.quit()


def _token(base: str) -> str:
    return re.search(r'name="kbc-token" content="([^"]+)"', _get(base + "/ask")[1]).group(1)


@attack("serve: an SVG attachment and a page with script, in Chromium")
def svg_script(lab: Lab) -> None:
    root = lab.vault()
    lab.kbc(root, "compile")
    (root / "raw" / "attachments").mkdir(exist_ok=True)
    (root / "raw" / "attachments" / "evil.svg").write_text(EVIL_SVG)
    (root / "wiki" / "Evil.md").write_text(
        "# Evil\n\n![[evil.svg]]\n\n<script>document.title='PWNED'</script>\n"
        "<img src=x onerror=\"document.title='PWNED'\">\n[x](javascript:document.title='PWNED')\n")
    with served(root, lab) as (base, asked), chromium(lab.tmp / "profile") as browser:
        status, _ = _get(base + "/file/raw/attachments/evil.svg")
        assert status == 200
        for url in (base + "/page/Evil", base + "/file/raw/attachments/evil.svg", base + "/page/Evil"):
            with contextlib.suppress(Exception):  # a download may end the navigation early
                browser.get(url)
            time.sleep(1.0)
            assert "PWNED" not in browser.title, f"script ran at {url}"
        assert browser.execute_script("return document.querySelectorAll('img').length") >= 1
        assert asked == [], f"a script asked {asked}"


@attack("serve: cross-site, rebinding and tokenless /api/ask")
def ask_guard(lab: Lab) -> None:
    import urllib.error
    import urllib.request

    root = lab.vault()
    lab.kbc(root, "compile")
    with served(root, lab) as (base, asked):
        host = base.split("//", 1)[1]
        token = _token(base)

        def post(headers, body=b'{"question": "What is Paxos?"}'):
            request = urllib.request.Request(base + "/api/ask", body, headers)
            try:
                with urllib.request.urlopen(request, timeout=30) as response:
                    return response.status
            except urllib.error.HTTPError as exc:
                return exc.code

        json_type = {"Content-Type": "application/json"}
        assert post({"Content-Type": "text/plain", "X-KBC-Token": token}) == 415
        assert post({**json_type, "X-KBC-Token": token, "Origin": "http://evil.example"}) == 403
        assert post({**json_type}) == 403
        assert post({**json_type, "X-KBC-Token": "guess"}) == 403
        assert post({**json_type, "X-KBC-Token": token, "Host": "evil.example"}) == 421
        assert _get(base + "/page/index", {"Host": f"rebound.example:{host.split(':')[1]}"})[0] == 421
        assert asked == []
        assert post({**json_type, "X-KBC-Token": token, "Origin": base}) == 200 and len(asked) == 1


@attack("serve: Content-Length abc, invalid UTF-8, a body shorter than announced")
def bad_requests(lab: Lab) -> None:
    root = lab.vault()
    lab.kbc(root, "compile")
    with served(root, lab, socket_timeout=2.0) as (base, asked):
        port = int(base.rsplit(":", 1)[1])
        token = _token(base)

        def raw(request: bytes, wait: float = 10) -> bytes:
            with socket.create_connection(("127.0.0.1", port), timeout=wait) as conn:
                conn.sendall(request)
                chunks = []
                with contextlib.suppress(socket.timeout, ConnectionError):
                    while chunk := conn.recv(65536):
                        chunks.append(chunk)
                return b"".join(chunks)

        head = (f"POST /api/ask HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
                f"X-KBC-Token: {token}\r\nConnection: close\r\n")
        assert raw((head + "Content-Length: abc\r\n\r\n{}").encode()).startswith(b"HTTP/1.0 400")
        body = b'{"question": "\xff\xfe bad"}'
        assert raw((head + f"Content-Length: {len(body)}\r\n\r\n").encode() + body).startswith(b"HTTP/1.0 400")
        body = b"[" * 100_000
        assert raw((head + f"Content-Length: {len(body)}\r\n\r\n").encode() + body).split(b" ")[1] in (b"400", b"413")
        started = time.monotonic()
        hung = threading.Thread(target=raw, args=((head + "Content-Length: 500\r\n\r\n{").encode(), 15))
        hung.start()
        assert _get(base + "/page/index")[0] == 200  # other requests go on meanwhile
        hung.join(15)
        assert not hung.is_alive() and time.monotonic() - started < 10, "a short body held the thread"
        assert asked == []


class _Hostile(BaseHTTPRequestHandler):
    """/trickle sends a byte a second; /short announces 5000 bytes and sends 100."""

    def log_message(self, *args):
        pass

    def do_GET(self):
        page = b"<html><head><title>T</title></head><body><article><p>" + b"Consensus words. " * 300
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", "5000")
        self.end_headers()
        if self.path == "/short":
            self.wfile.write(page[:100])
            return
        for byte in page[:60]:
            self.wfile.write(bytes([byte]))
            self.wfile.flush()
            time.sleep(1)


@attack("ingest: a server that trickles, and a body shorter than its Content-Length")
def hostile_fetch(lab: Lab) -> None:
    from kbc.ingest import Ingester
    from kbc.vault import Vault

    root = lab.vault()
    before = snapshot(root, ("raw",))
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Hostile)
    httpd.daemon_threads = True
    httpd.handle_error = lambda *args: None  # the trickle's client leaves early: that is the point
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{httpd.server_port}"
    try:
        started = time.monotonic()
        [trickle] = Ingester(Vault(root, env={}), timeout=5, deadline=3).ingest(base + "/trickle")
        assert trickle.status == "failed" and "longer than 3 s" in trickle.error, trickle
        assert time.monotonic() - started < 8
        done = lab.kbc(root, "ingest", base + "/short")
        assert done.returncode == 1 and "ended" in done.stderr and "100 of 5,000" in done.stderr, done.stderr
    finally:
        httpd.shutdown()
        httpd.server_close()
    intact(before, root, ("raw",))



@attack("an endpoint answering HTML, an empty body, or JSON that is no chat completion")
def endpoint_garbage(lab: Lab) -> None:
    bodies = {"/html": b"<html>Please log in to the proxy</html>", "/empty": b"",
              "/wrong": b'{"choices": "x", "usage": 7}', "/bare": b'{"choices": [{"message": 3}]}'}

    class Garbage(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            body = bodies[self.path.split("/v1")[0]]
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Garbage)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    root = lab.vault()
    before = snapshot(root, ("raw",))
    try:
        for path in bodies:
            url = f"http://127.0.0.1:{httpd.server_port}{path}/v1"
            done = lab.kbc(root, "compile", env=lab.env(root, KBC_BASE_URL=url))
            assert done.returncode != 0 and url in done.stderr, done.stderr
            assert "a bug in kbc" not in done.stderr, done.stderr
    finally:
        httpd.shutdown()
        httpd.server_close()
    intact(before, root, ("raw",))
    assert lab.kbc(root, "compile").returncode == 0  # the right endpoint: all is built
