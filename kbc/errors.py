"""Errors that kbc reports to the user as one line, never as a traceback."""
import re

# Things that look like credentials in an error text (an HTTP library may echo a header).
_SECRET_SHAPES = re.compile(
    r"(?i)(bearer\s+)[^\s'\"]+"
    r"|\b(?:sk|rk|pk|key)-[A-Za-z0-9_\-]{8,}"
    r"|((?:api[_-]?key|token|password|secret|authorization)[\"']?\s*[:=]\s*[\"']?)[^\s'\"&,;]+")


class KbcError(Exception):
    """A problem with the user's input, config or environment; its message is the one line shown."""


class ConfigError(KbcError):
    pass


class VaultNotFound(KbcError):
    pass

_URL_PASSWORD = re.compile(r"(://)[^/\s:@]+:[^/\s@]+@")


def redact(text: str, secrets=()) -> str:
    """The text with the given secrets and anything key-shaped replaced: for every message
    that may reach a file (log.md, the ledger) or a terminal."""
    text = str(text)
    for secret in secrets:
        secret = (secret or "").strip()
        if len(secret) >= 4:
            text = text.replace(secret, "[redacted]")
    text = _URL_PASSWORD.sub(r"\1[redacted]@", text)
    return _SECRET_SHAPES.sub(lambda m: (m.group(1) or m.group(2) or "") + "[redacted]", text)
