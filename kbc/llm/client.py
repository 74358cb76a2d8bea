"""The one call interface every stage uses: ledger, response cache, retries, budget, prefix groups."""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import queue
import re
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Callable

import jsonschema

from kbc.errors import KbcError, redact
from kbc.llm.backends import BackendError, EndpointUnavailable
from kbc.llm.prompts import IMAGE_TOKENS, Prompt, stable_json, text_of
from kbc.llm.schema import validate


STOP_GRACE = 2.0  # seconds Ctrl-C waits for answers already on their way, to keep them


class ItemFailed(KbcError):
    """This request could not give a usable answer; other items go on."""


class BudgetExceeded(KbcError):
    """The run stopped before spending past its token budget."""


@dataclass
class Request:
    stage: str
    prompt: Prompt
    schema: dict | None = None
    max_tokens: int = 1024
    label: str = ""  # what the request is about, for error messages
    # The stage's own check of a schema-valid answer: returns what is wrong, or "" if fine.
    # A complaint is treated like a schema error (one retry telling the model why).
    check: Callable[[object], str] | None = None


@dataclass
class Completion:
    text: str
    data: object
    model: str
    prompt_tokens: int = 0
    cached_tokens: int = 0
    completion_tokens: int = 0
    from_cache: bool = False


@dataclass
class RunTotals:
    requests: int = 0
    cache_hits: int = 0
    prompt_tokens: int = 0
    cached_tokens: int = 0
    completion_tokens: int = 0

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()


def parse_json(text: str):
    """Models sometimes wrap JSON in a code fence even when asked not to."""
    stripped = text.strip()
    fence = re.match(r"^```(?:json)?\s*(.*?)\s*```$", stripped, re.S)
    # strict=False: a raw newline inside a string is a common slip, harmless once parsed.
    return json.loads(fence.group(1) if fence else stripped, strict=False)


class LLM:
    def __init__(self, backend, db, db_lock=None, budget: int = 0, prices: dict | None = None,
                 concurrency: int = 4, on_progress: Callable[[RunTotals], None] | None = None):
        self.backend = backend
        self.model = backend.model
        self.db = db
        self.db_lock = db_lock or threading.RLock()
        self.budget = budget
        self.prices = prices or {}
        self.concurrency = max(1, concurrency)
        self.run_id = uuid.uuid4().hex[:12]
        self.totals = RunTotals()
        self.on_progress = on_progress
        self._reserved = 0
        self._money_lock = threading.Lock()
        self._interrupted = threading.Event()

    # -- public ---------------------------------------------------------------------------

    def count_tokens(self, text: str) -> int:
        return self.backend.count_tokens(text)

    def complete(self, request: Request) -> Completion:
        """One request: from the response cache if it was answered before, else from the model."""
        messages = request.prompt.messages()
        key = self.request_hash(request)
        cached = self._cached_response(key)
        if cached is not None:
            completion = self._accept(request, cached["text"], cached["finish_reason"])
            completion.from_cache = True
            self._record(request, key, prompt=0, cached=0, completion=0, latency=0.0,
                         finish=cached["finish_reason"], from_cache=True)
            return completion
        text, finish, usage = self._call(request, messages, request.max_tokens)
        if finish == "length":
            raise ItemFailed(f"{request.label or request.stage}: the answer was cut off at "
                             f"{request.max_tokens} tokens and was not used")
        try:
            completion = self._accept(request, text, finish)
        except ItemFailed as first:
            # One retry, telling the model what was wrong with its answer.
            retry = messages + [
                {"role": "assistant", "content": text},
                {"role": "user", "content": f"That answer was invalid: {first.reason}. "
                                            "Reply again with JSON that matches the schema exactly."},
            ]
            # Some sampling freedom, so a model stuck in a loop can get out of it.
            text, finish, usage = self._call(request, retry, request.max_tokens, temperature=0.7)
            if finish == "length":
                raise ItemFailed(f"{request.label or request.stage}: the answer was cut off at "
                                 f"{request.max_tokens} tokens and was not used") from None
            completion = self._accept(request, text, finish)
        completion.prompt_tokens, completion.cached_tokens, completion.completion_tokens = usage
        self._store_response(key, text, finish, usage)
        return completion

    def complete_all(self, requests: list[Request]) -> list[Completion | KbcError]:
        """Answers in request order; a failed item is its error. Requests that share a prefix
        go out as one first (it fills the engine's prefix cache), then the rest concurrently."""
        results: list[Completion | KbcError | None] = [None] * len(requests)
        warmed: set[str] = set()
        first, rest = [], []
        for index, request in enumerate(requests):
            prefix = request.prompt.prefix_hash()
            (rest if prefix in warmed else first).append(index)
            warmed.add(prefix)

        halt = threading.Event()  # a run-stopping error: start nothing more of this batch
        fatal: list[BaseException] = []

        def run(index: int):
            try:
                results[index] = self.complete(requests[index])
            except (BudgetExceeded, EndpointUnavailable) as exc:
                fatal.append(exc)  # the whole run stops: every other request would fail the same way
                halt.set()
            except (ItemFailed, BackendError) as exc:
                results[index] = exc

        pending = queue.SimpleQueue()
        for index in rest:
            pending.put(index)

        def worker():
            while not (halt.is_set() or self._interrupted.is_set()):
                try:
                    index = pending.get_nowait()
                except queue.Empty:
                    return
                try:
                    run(index)
                except KeyboardInterrupt:  # raised by _call once Ctrl-C was pressed
                    return
                except Exception as exc:  # a bug: raised in the caller's thread, as a pool would
                    fatal.append(exc)
                    halt.set()
                    return

        try:
            for index in first:
                if halt.is_set():
                    break
                run(index)
            # Daemon threads, not a pool: after Ctrl-C the process must not wait for them.
            threads = [threading.Thread(target=worker, daemon=True, name=f"kbc-llm-{n}")
                       for n in range(min(self.concurrency, len(rest)) if not halt.is_set() else 0)]
            for thread in threads:
                thread.start()
            for thread in threads:
                while thread.is_alive():
                    thread.join(0.1)  # a timed join lets Ctrl-C in
        except KeyboardInterrupt:
            self._interrupted.set()  # no request is sent after this
            ends = time.monotonic() + STOP_GRACE
            for thread in threading.enumerate():
                if thread.daemon and thread.name.startswith("kbc-llm") and thread.is_alive():
                    thread.join(max(0.0, ends - time.monotonic()))
            raise
        if fatal:
            raise fatal[0]
        return results

    def is_cached(self, request: Request) -> bool:
        """Would this request be answered from the response cache (at zero tokens)?"""
        return self._cached_response(self.request_hash(request)) is not None

    def request_hash(self, request: Request) -> str:
        blob = stable_json({"model": self.model, "messages": request.prompt.messages(),
                            "schema": request.schema, "max_tokens": request.max_tokens,
                            "temperature": 0})
        return hashlib.sha256(blob.encode()).hexdigest()

    # -- internals ------------------------------------------------------------------------

    def _call(self, request: Request, messages, max_tokens, temperature: float = 0.0):
        if self._interrupted.is_set():
            raise KeyboardInterrupt  # Ctrl-C was pressed: answers in flight are kept, none sent
        estimate = self.count_tokens(text_of(messages)) + IMAGE_TOKENS * len(request.prompt.images) + max_tokens
        self._reserve(estimate)
        started = time.perf_counter()
        try:
            raw = self.backend.complete(messages, request.schema, max_tokens,
                                        request.prompt.prefix_hash(), temperature)
        except BackendError as exc:
            self._release(estimate)
            self._record(request, "", 0, 0, 0, (time.perf_counter() - started) * 1000,
                         "error", error=redact(str(exc)))
            raise
        latency = (time.perf_counter() - started) * 1000
        self._release(estimate)
        self._record(request, self.request_hash(request), raw.prompt_tokens, raw.cached_tokens,
                     raw.completion_tokens, latency, raw.finish_reason)
        usage = (raw.prompt_tokens, raw.cached_tokens, raw.completion_tokens)
        return raw.text, raw.finish_reason, usage

    def _accept(self, request: Request, text: str, finish: str) -> Completion:
        if request.schema is None:
            if not text.strip():
                raise _invalid(request, "the answer was empty")
            return Completion(text=text, data=None, model=self.model)
        try:
            data = parse_json(text)
            validate(data, request.schema)  # the validator is built once per schema
        except json.JSONDecodeError as exc:
            raise _invalid(request, f"not JSON ({exc.msg} at character {exc.pos})") from None
        except jsonschema.ValidationError as exc:
            where = "/".join(str(p) for p in exc.absolute_path) or "top level"
            raise _invalid(request, f"{where}: {exc.message[:200]}") from None
        complaint = request.check(data) if request.check else ""
        if complaint:
            raise _invalid(request, complaint)
        return Completion(text=text, data=data, model=self.model)

    def _reserve(self, tokens: int) -> None:
        with self._money_lock:
            if self.budget and self.totals.tokens + self._reserved + tokens > self.budget:
                raise BudgetExceeded(
                    f"token budget reached: {self.totals.tokens:,} of {self.budget:,} tokens spent, "
                    f"the next request needs up to {tokens:,}; rerun with a larger --budget to resume "
                    "(finished work is kept)")
            self._reserved += tokens

    def _release(self, tokens: int) -> None:
        with self._money_lock:
            self._reserved -= tokens

    def _cached_response(self, key: str):
        with self.db_lock:
            rows = list(self.db.query("select text, finish_reason from responses where request_hash = ?", [key]))
        return rows[0] if rows else None

    def _store_response(self, key, text, finish, usage) -> None:
        with self.db_lock:
            self.db["responses"].upsert({
                "request_hash": key, "model": self.model, "text": text, "finish_reason": finish,
                "prompt_tokens": usage[0], "completion_tokens": usage[2], "created": _now(),
            }, pk="request_hash")

    def _record(self, request: Request, key: str, prompt: int, cached: int, completion: int,
                latency: float, finish: str, from_cache: bool = False, error: str = "") -> None:
        prefix = request.prompt.prefix_text()
        row = {
            "run_id": self.run_id, "time": _now(), "stage": request.stage,
            "backend": self.backend.name, "model": self.model,
            "prompt_tokens": prompt, "cached_tokens": cached, "completion_tokens": completion,
            "latency_ms": round(latency, 1), "finish_reason": finish, "request_hash": key,
            "prefix_hash": request.prompt.prefix_hash(),
            "prefix_tokens": self.count_tokens(prefix) if prefix else 0,
            "cost": cost(self.prices.get(self.model), prompt, cached, completion),
            "from_cache": int(from_cache), "error": error,
        }
        with self._money_lock:
            totals = self.totals
            totals.requests += 1
            totals.cache_hits += int(from_cache)
            totals.prompt_tokens += prompt
            totals.cached_tokens += cached
            totals.completion_tokens += completion
        with self.db_lock:
            self.db["requests"].insert(row)
        if self.on_progress:
            self.on_progress(self.totals)


def _invalid(request: Request, reason: str) -> ItemFailed:
    error = ItemFailed(f"{request.label or request.stage}: invalid answer from the model ({reason})")
    error.reason = reason
    return error


def cost(price: dict | None, prompt: int, cached: int, completion: int) -> float:
    if not price:
        return 0.0
    return ((prompt - cached) * price.get("prompt", 0) + cached * price.get("cached", price.get("prompt", 0))
            + completion * price.get("completion", 0)) / 1_000_000
