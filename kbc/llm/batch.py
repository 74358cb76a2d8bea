"""Big runs as batches: the OpenAI Batch API (/v1/files + /v1/batches), or a JSONL file for any
runner that reads that format (`vllm run-batch`, cluster batch jobs).

A BatchLLM is an LLM whose un-cached requests, in batch mode, are collected instead of sent;
when a stage's `complete_all` ends, they go out as one batch and the run stops cleanly. A later
run collects the answers, which then pass through the same validation, ledger and response
cache as a live answer, so the stage resumes where it stopped. Each line's custom_id is the hash
of its request body, so an answer can only ever meet the request it was made for.
"""
from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path

from kbc.errors import KbcError
from kbc.llm.backends import BackendError, raw_completion
from kbc.llm.client import LLM, BudgetExceeded, Request, _now
from kbc.llm.prompts import stable_json

ENDPOINT = "/v1/chat/completions"
FINISHED = ("completed", "expired", "cancelled", "failed")


class BatchStopped(BudgetExceeded):
    """The run stopped to wait for a batch, as it stops at a budget: nothing lost, rerun to go on."""


class _Deferred(BackendError):
    """This request waits for a batch (a stage never sees it: complete_all stops the run)."""


def body_key(body: dict) -> str:
    return hashlib.sha256(stable_json(body).encode()).hexdigest()


class BatchStore:
    """The vault's record of batches: which request is waiting in which, and answers collected."""

    def __init__(self, db, lock=None):
        self.db, self.lock = db, lock or threading.RLock()
        with self.lock:
            db["batches"].create({"id": str, "sink": str, "status": str, "requests": int,
                                  "created": str, "detail": str}, pk="id", if_not_exists=True)
            db["batch_requests"].create({"key": str, "batch_id": str}, pk="key", if_not_exists=True)
            db["batch_results"].create({"key": str, "text": str, "finish_reason": str, "prompt_tokens": int,
                                        "cached_tokens": int, "completion_tokens": int}, pk="key",
                                       if_not_exists=True)

    def add(self, batch_id: str, sink: str, keys: list[str], detail: str = "") -> None:
        with self.lock:
            self.db["batches"].upsert({"id": batch_id, "sink": sink, "status": "submitted",
                                       "requests": len(keys), "created": _now(), "detail": detail}, pk="id")
            self.db["batch_requests"].upsert_all([{"key": k, "batch_id": batch_id} for k in keys], pk="key")

    def result(self, key: str):
        with self.lock:
            rows = list(self.db.query("select * from batch_results where key = ?", [key]))
        return rows[0] if rows else None

    def waiting_in(self, key: str) -> str:
        """The unfinished batch this request waits in, or ""."""
        with self.lock:
            rows = list(self.db.query(
                "select b.id from batch_requests r join batches b on b.id = r.batch_id "
                "where r.key = ? and b.status not in ('collected', 'cancelled')", [key]))
        return rows[0]["id"] if rows else ""

    def pending(self, sink: str | None = None) -> list[dict]:
        sql = "select * from batches where status not in ('collected', 'cancelled')"
        with self.lock:
            return [r for r in self.db.query(sql + " order by created") if sink is None or r["sink"] == sink]

    def all(self) -> list[dict]:
        with self.lock:
            return list(self.db.query("select * from batches order by created"))

    def take_lines(self, lines) -> tuple[int, int]:
        """Store a results file's lines; a failed line's request is released to be sent again.
        Returns (answers stored, failures)."""
        answers, failures = [], []
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
                key = item["custom_id"]
                response = item.get("response") or {}
                if item.get("error") or response.get("status_code", 200) != 200:
                    failures.append(key)
                    continue
                raw = raw_completion(response["body"], "batch result")
            except (ValueError, KeyError, TypeError, AttributeError, BackendError):
                raise KbcError(f"line {number} is not an OpenAI batch result line "
                               "(custom_id, response.body)") from None
            answers.append({"key": key, "text": raw.text, "finish_reason": raw.finish_reason,
                            "prompt_tokens": raw.prompt_tokens, "cached_tokens": raw.cached_tokens,
                            "completion_tokens": raw.completion_tokens})
        with self.lock:
            self.db["batch_results"].upsert_all(answers, pk="key")
            for key in failures:
                self.db["batch_requests"].delete_where("key = ?", [key])
        return len(answers), len(failures)

    def settle(self, batch_id: str, status: str, detail: str = "") -> None:
        """A finished batch: requests it did not answer are released, to be sent again."""
        with self.lock:
            self.db.execute("delete from batch_requests where batch_id = ? and key not in "
                            "(select key from batch_results)", [batch_id])
            self.db["batches"].update(batch_id, {"status": status, "detail": detail})

    def settle_imported(self) -> list[str]:
        """File batches all of whose requests now have an answer (or were released) are done."""
        done = []
        for batch in self.pending(sink="file"):
            with self.lock:
                left = next(iter(self.db.query(
                    "select count(*) as n from batch_requests where batch_id = ? and key not in "
                    "(select key from batch_results)", [batch["id"]])))["n"]
            if not left:
                self.settle(batch["id"], "collected", batch["detail"])
                done.append(batch["id"])
        return done


def has_batches(db) -> bool:
    return "batches" in db.table_names()


class ApiSink:
    """Submits to the endpoint's own Batch API (OpenAI: half the price, answers within 24 h)."""

    name = "api"

    def __init__(self, backend):
        self.backend = backend

    def submit(self, lines: list[dict]) -> tuple[str, str]:
        data = "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines).encode()
        client = self.backend.client
        uploaded = client.files.create(file=("kbc-batch.jsonl", data), purpose="batch")
        batch = client.batches.create(input_file_id=uploaded.id, endpoint=ENDPOINT,
                                           completion_window="24h")
        return batch.id, uploaded.id


class FileSink:
    """Writes the batch as a JSONL file for a runner elsewhere (`vllm run-batch -i FILE -o OUT`)."""

    name = "file"

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def submit(self, lines: list[dict]) -> tuple[str, str]:
        tmp = self.path.with_name(self.path.name + ".tmp")
        with open(tmp, "w", encoding="utf-8") as out:
            for line in lines:
                out.write(json.dumps(line, ensure_ascii=False) + "\n")
        os.replace(tmp, self.path)
        return f"file:{body_key({'path': str(self.path.resolve()), 'time': _now()})[:12]}", str(self.path)


def collect(store: BatchStore, backend) -> list[str]:
    """Poll the endpoint's unfinished batches; store the answers of those that are done."""
    lines = []
    for batch in store.pending(sink="api"):
        client = getattr(backend, "client", None)  # made on first use: only when a batch waits
        if client is None:
            break
        try:
            remote = client.batches.retrieve(batch["id"])
            if remote.status not in FINISHED:
                counts = remote.request_counts
                detail = f"{remote.status}" + (f", {counts.completed} of {counts.total} done" if counts else "")
                store.db["batches"].update(batch["id"], {"detail": detail})
                continue
            for file_id in (remote.output_file_id, remote.error_file_id):
                if file_id:
                    store.take_lines(client.files.content(file_id).text.splitlines())
        except Exception as exc:  # the endpoint's client raises many kinds; one line is enough
            raise KbcError(f"batch {batch['id']}: cannot collect it from {backend.base_url} "
                           f"({type(exc).__name__}: {' '.join(str(exc).split())[:160]})") from None
        store.settle(batch["id"], "collected" if remote.status == "completed" else remote.status, remote.status)
        lines.append(batch["id"])
    return lines


class BatchLLM(LLM):
    """An LLM that answers from collected batches first; with a sink, it batches what is left."""

    def __init__(self, *args, sink=None, **kwargs):
        super().__init__(*args, **kwargs)
        if sink is not None and not hasattr(self.backend, "body"):
            raise KbcError("batch mode needs an OpenAI-compatible endpoint: set KBC_BASE_URL and KBC_MODEL "
                           "(the model name the batch runner serves)")
        self.sink = sink
        self.store = BatchStore(self.db, self.db_lock)
        self.collected = collect(self.store, self.backend)
        self._new: dict[str, dict] = {}
        self._waiting: set[str] = set()
        self._batch_lock = threading.Lock()

    def complete_all(self, requests: list[Request]):
        results = super().complete_all(requests)
        with self._batch_lock:
            new, waiting = list(self._new.values()), sorted(self._waiting)
            self._new.clear()
            self._waiting.clear()
        if new:
            batch_id, where = self.sink.submit(new)
            self.store.add(batch_id, self.sink.name, [line["custom_id"] for line in new], where)
            if self.sink.name == "file":
                raise BatchStopped(f"wrote {len(new)} requests to {where}; run them (e.g. `vllm run-batch "
                                   f"-i {where} -o results.jsonl --model {self.model}`), then "
                                   "`kbc batch import results.jsonl` and `kbc compile`")
            raise BatchStopped(f"submitted {len(new)} requests as batch {batch_id}; "
                               "run `kbc compile` again to collect")
        if waiting:
            details = {b["id"]: b["detail"] for b in self.store.pending()}
            described = ", ".join(f"{b} ({details.get(b) or 'waiting'})" for b in waiting)
            raise BatchStopped(f"waiting for batch {described}; run `kbc compile` again later "
                               "(`kbc batch status` shows it, `kbc batch cancel` gives up on it)")
        return results

    def _call(self, request: Request, messages, max_tokens, temperature: float = 0.0):
        if not hasattr(self.backend, "body"):  # the embedded model: nothing to batch
            return super()._call(request, messages, max_tokens, temperature)
        body = self.backend.body(messages, request.schema, max_tokens, request.prompt.prefix_hash(), temperature)
        key = body_key(body)
        answer = self.store.result(key)
        if answer is not None:
            usage = (answer["prompt_tokens"], answer["cached_tokens"], answer["completion_tokens"])
            self._record(request, self.request_hash(request), *usage, latency=0.0,
                         finish=answer["finish_reason"])
            return answer["text"], answer["finish_reason"], usage
        waiting = self.store.waiting_in(key)
        if waiting or self.sink is not None:
            with self._batch_lock:
                if waiting:
                    self._waiting.add(waiting)
                else:
                    self._new[key] = {"custom_id": key, "method": "POST", "url": ENDPOINT, "body": body}
            raise _Deferred(f"{request.label or request.stage}: waits for a batch")
        return super()._call(request, messages, max_tokens, temperature)
