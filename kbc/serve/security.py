"""What kbc serve lets a browser do, and who may spend tokens through it.

- Pages: a CSP with no inline script (the page's JavaScript is a served file, /static/kbc.js),
  so a hostile note that slips markup through can run nothing.
- Attachments (/file): their own CSP with `sandbox`; SVG and PDF are downloads, never
  documents of this origin (an SVG's <script> would otherwise run here and POST /api/ask).
- Requests: the Host header must name this server when it listens on loopback (no DNS
  rebinding); /api/ask also needs JSON, a same-origin Origin if one is sent, and the token
  the server put in its own pages (a per-run secret another site cannot read).
"""
from __future__ import annotations

import hmac
import ipaddress
import json
import secrets
from dataclasses import dataclass, field

from kbc.llm.prompts import package_template_dir

PAGE_CSP = ("default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self'; "
            "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
FILE_CSP = "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; sandbox"
DOWNLOADED = {".svg", ".pdf"}  # documents that could hold script: never rendered in this origin
TOKEN_HEADER = "X-KBC-Token"
MAX_BODY = 100_000
SOCKET_TIMEOUT = 10.0  # seconds a request may keep a thread waiting for its bytes
STATIC = package_template_dir() / "pages"
STATIC_FILES = {"kbc.js": "text/javascript; charset=utf-8", "graph.js": "text/javascript; charset=utf-8"}


class Refused(Exception):
    """A request refused before any work: (status, message)."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


@dataclass
class Guard:
    host: str
    port: int
    token: str = field(default_factory=lambda: secrets.token_urlsafe(24))

    @property
    def loopback(self) -> bool:
        try:
            return ipaddress.ip_address(self.host.strip("[]")).is_loopback
        except ValueError:
            return self.host == "localhost"

    def allowed_hosts(self) -> set[str]:
        return {f"{name}:{self.port}" for name in ("127.0.0.1", "localhost", "[::1]", self.host)}

    def check_host(self, host_header: str | None) -> None:
        """On loopback only names of this machine: a rebinding DNS name is refused."""
        if self.loopback and (host_header or "").strip().lower() not in self.allowed_hosts():
            raise Refused(421, "this server answers only to its own address (DNS rebinding guard)")

    def check_ask(self, headers) -> None:
        """For a request that spends tokens."""
        kind = (headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if kind != "application/json":
            raise Refused(415, "send the question as JSON (Content-Type: application/json)")
        origin = headers.get("Origin")
        if origin is not None and origin.rstrip("/") != f"http://{headers.get('Host', '')}":
            raise Refused(403, "cross-site request refused")
        if not hmac.compare_digest(headers.get(TOKEN_HEADER, ""), self.token):
            raise Refused(403, f"missing or wrong {TOKEN_HEADER}: ask from the server's own /ask page")


def read_json_body(headers, stream) -> dict:
    """The request's JSON object, or Refused(400) for a bad length, bad UTF-8 or bad JSON."""
    raw = headers.get("Content-Length")
    if raw is None or not raw.strip().isdigit():
        raise Refused(400, "a numeric Content-Length is required")
    length = int(raw)
    if length > MAX_BODY:
        raise Refused(413, f"request body over {MAX_BODY:,} bytes")
    data = stream.read(length)  # the socket timeout ends a body shorter than announced
    if len(data) < length:
        raise Refused(400, "the request body ended early")
    try:
        payload = json.loads(data.decode("utf-8") or "{}")
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise Refused(400, 'send JSON: {"question": "..."}') from None
    if not isinstance(payload, dict):
        raise Refused(400, 'send JSON: {"question": "..."}')
    return payload


def file_headers(suffix: str, name: str) -> dict[str, str]:
    headers = {"Content-Security-Policy": FILE_CSP, "Cross-Origin-Resource-Policy": "same-origin"}
    if suffix.lower() in DOWNLOADED:
        safe = "".join(ch for ch in name if ch.isalnum() or ch in "._- ") or "file"
        headers["Content-Disposition"] = f'attachment; filename="{safe}"'
    return headers


def static_file(name: str) -> tuple[bytes, str] | None:
    if name not in STATIC_FILES:
        return None
    path = STATIC / name
    return (path.read_bytes(), STATIC_FILES[name]) if path.is_file() else None
