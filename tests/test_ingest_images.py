"""A local page's images: from beside it, never over the network; one TLS context a run."""
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from kbc.ingest import Ingester
from kbc.ingest.fetch import tls_context
from kbc.vault import Vault
from tests.conftest import png_bytes


class CountingHandler(BaseHTTPRequestHandler):
    hits = 0

    def log_message(self, *args):
        pass

    def do_GET(self):
        type(self).hits += 1
        body = png_bytes()
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def test_a_local_page_never_fetches_its_remote_images(vault_dir, tmp_path):
    server = ThreadingHTTPServer(("127.0.0.1", 0), CountingHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    remote = f"http://127.0.0.1:{server.server_port}"
    try:
        saved = tmp_path / "saved"
        (saved / "page_files").mkdir(parents=True)
        (saved / "page_files" / "local.png").write_bytes(png_bytes(30, 20))
        paragraph = "<p>" + "Consistent hashing maps keys and nodes onto one ring of positions. " * 8 + "</p>"
        (saved / "page.html").write_text(
            f"<html><head><title>Saved page</title></head><body><article><h1>Saved page</h1>{paragraph}"
            f'<p><img src="page_files/local.png" alt="ring"></p>{paragraph}'
            f'<p><img src="{remote}/a.png" alt="a"></p><p><img src="{remote}/b.png" alt="b"></p>'
            f"{paragraph}</article></body></html>")
        result = Ingester(Vault(vault_dir, env={})).ingest_all([str(saved / "page.html")])[0]
    finally:
        server.shutdown()
    assert result.status == "created", result.error
    assert CountingHandler.hits == 0
    text = (vault_dir / result.note).read_text()
    embeds = re.findall(r"!\[\[(local-[0-9a-f]+\.png)\]\]", text)
    assert len(embeds) == 1 and list(vault_dir.rglob(embeds[0]))  # the local image, stored
    assert f"{remote}/a.png" in text and f"{remote}/b.png" in text
    assert [w for w in result.warnings if "remote images" in w] == [
        f"{saved / 'page.html'}: 2 remote images of a local page left as links (not fetched)"]
    assert tls_context() is tls_context()
