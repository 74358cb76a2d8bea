"""How many requests an endpoint gets at once: adaptive to its rate limits (429 / retry-after)."""
from __future__ import annotations

import threading
import time


class AdaptiveLimit:
    """At most `limit` requests in flight. A 429 halves the limit and holds every new request
    back for the server's retry-after; each success grows it by 1/limit (additive increase,
    multiplicative decrease, as TCP does), up to the configured ceiling."""

    def __init__(self, ceiling: int):
        self.ceiling = max(1, ceiling)
        self.limit = float(self.ceiling)
        self.throttles = 0
        self._in_flight = 0
        self._paused_until = 0.0
        self._cond = threading.Condition()

    def __enter__(self):
        with self._cond:
            while True:
                wait = self._paused_until - time.monotonic()
                if wait <= 0 and self._in_flight < int(self.limit):
                    break
                self._cond.wait(timeout=wait if wait > 0 else None)
            self._in_flight += 1
        return self

    def __exit__(self, *exc):
        with self._cond:
            self._in_flight -= 1
            self._cond.notify_all()

    def succeeded(self) -> None:
        with self._cond:
            self.limit = min(self.ceiling, self.limit + 1 / self.limit)
            self._cond.notify_all()

    def throttled(self, retry_after: float) -> None:
        with self._cond:
            self.throttles += 1
            self.limit = max(1.0, self.limit / 2)
            self._paused_until = max(self._paused_until, time.monotonic() + retry_after)


def retry_after(headers, attempt: int) -> float:
    """Seconds to wait before retrying: the server's retry-after(-ms) if it gave one, else an
    exponential backoff (0.5 s, 1 s, 2 s, ... at most 8 s)."""
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = (headers or {}).get(name)
        if value:
            try:
                return min(max(float(value) * scale, 0.0), 60.0)
            except ValueError:
                pass  # an HTTP date: rare from model servers; back off instead
    return min(0.5 * 2 ** attempt, 8.0)
