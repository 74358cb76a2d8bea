"""Fetching URLs ourselves: TLS verification always on, a size limit, a timeout, real errors."""
from __future__ import annotations

import functools
import http.client
import socket
import ssl
import time
import urllib.error
import urllib.request
from dataclasses import dataclass

from kbc.errors import KbcError

USER_AGENT = "kbc/0.1 (+knowledge-base compiler)"
CHUNK = 64 * 1024


class FetchError(KbcError):
    pass


@dataclass
class Fetched:
    url: str  # after redirects
    content_type: str
    data: bytes


@functools.lru_cache(maxsize=1)
def tls_context() -> ssl.SSLContext:
    """One context a run: building one loads the CA store (about 50 ms), once per image otherwise.
    It verifies certificates and host names."""
    return ssl.create_default_context()


def fetch(url: str, max_bytes: int, timeout: float, deadline: float = 120.0) -> Fetched:
    """`timeout` bounds each wait for bytes, `deadline` the whole fetch: a server that trickles
    a byte every few seconds is cut off too. A body shorter than its Content-Length is refused."""
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT, "Accept": "*/*"})
    context = tls_context()
    ends = time.monotonic() + deadline
    try:
        with urllib.request.urlopen(request, timeout=min(timeout, deadline), context=context) as response:
            length = response.headers.get("Content-Length")
            declared = int(length) if length and length.strip().isdigit() else None
            if declared is not None and declared > max_bytes:
                raise FetchError(f"{url}: {declared:,} bytes, over the {max_bytes:,}-byte limit")
            chunks, size = [], 0
            while True:
                if time.monotonic() > ends:
                    raise FetchError(f"{url}: took longer than {deadline:g} s; stopped")
                chunk = response.read1(CHUNK) if hasattr(response, "read1") else response.read(CHUNK)
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
                if size > max_bytes:
                    raise FetchError(f"{url}: over the {max_bytes:,}-byte limit")
            data = b"".join(chunks)
            if declared is not None and len(data) < declared:
                raise FetchError(f"{url}: the connection ended after {len(data):,} of {declared:,} bytes; "
                                 "not stored (try again)")
            content_type = response.headers.get_content_type() or ""
            return Fetched(response.geturl(), content_type, data)
    except http.client.IncompleteRead as exc:
        raise FetchError(f"{url}: the connection ended early ({len(exc.partial):,} bytes read); "
                         "not stored (try again)") from None
    except urllib.error.HTTPError as exc:
        raise FetchError(f"{url}: HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, ssl.SSLCertVerificationError):
            raise FetchError(f"{url}: TLS certificate not valid ({reason.verify_message})") from None
        if isinstance(reason, ssl.SSLError):
            raise FetchError(f"{url}: TLS failure ({reason.reason or reason})") from None
        if isinstance(reason, (socket.timeout, TimeoutError)):
            raise FetchError(f"{url}: timed out after {timeout:g} s") from None
        raise FetchError(f"{url}: cannot connect ({reason})") from None
    except (socket.timeout, TimeoutError):
        raise FetchError(f"{url}: timed out after {timeout:g} s") from None
    except ValueError as exc:
        raise FetchError(f"{url}: not a valid URL ({exc})") from None
    except (ConnectionError, OSError) as exc:
        raise FetchError(f"{url}: connection failed ({exc})") from None
