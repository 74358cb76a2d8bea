"""Fetching URLs ourselves: TLS verification always on, a size limit, a timeout, real errors."""
from __future__ import annotations

import socket
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass

from kbc.errors import KbcError

USER_AGENT = "kbc/0.1 (+knowledge-base compiler)"


class FetchError(KbcError):
    pass


@dataclass
class Fetched:
    url: str  # after redirects
    content_type: str
    data: bytes


def fetch(url: str, max_bytes: int, timeout: float) -> Fetched:
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT, "Accept": "*/*"})
    context = ssl.create_default_context()  # verifies certificates and host names
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=context) as response:
            length = response.headers.get("Content-Length")
            if length and length.isdigit() and int(length) > max_bytes:
                raise FetchError(f"{url}: {int(length):,} bytes, over the {max_bytes:,}-byte limit")
            data = response.read(max_bytes + 1)
            if len(data) > max_bytes:
                raise FetchError(f"{url}: over the {max_bytes:,}-byte limit")
            content_type = response.headers.get_content_type() or ""
            return Fetched(response.geturl(), content_type, data)
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
