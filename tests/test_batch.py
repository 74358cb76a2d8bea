"""Batch runs: the Batch API against the scripted server (submit, wait, collect, resume), the
JSONL export/import round trip, 429 back-off, and each engine's cached-token figure."""
import json
import time

from kbc.compile import CompileOptions, compile_vault
from kbc.llm import OpenAIBackend
from kbc.llm.backends import usage_figures
from kbc.llm.batch import ApiSink, BatchLLM, BatchStore, FileSink
from kbc.llm.prompts import Prompt
from kbc.llm.client import Request
from tests.conftest import open_vault, templates


def batch_run(root, server, sink=None):
    vault = open_vault(root, server)
    backend = OpenAIBackend(server.base_url, "scripted", "test", max_retries=0)
    llm = BatchLLM(backend, vault.db, vault.db_lock, sink=sink(backend) if sink else None)
    return vault, llm, compile_vault(vault, llm, templates(vault), CompileOptions())


def live_requests(server):
    return len(server.headers)  # batch lines reach the chat handler too, but not over HTTP


def test_batch_submit_wait_collect_resume(sample_vault, server):
    server.batch.polls_before_done = 1
    vault, llm, report = batch_run(sample_vault, server, ApiSink)
    assert report.stopped.startswith("submitted 3 requests as batch batch_1; run `kbc compile` again")
    assert live_requests(server) == 0 and not list((vault.wiki_dir / "concepts").glob("*.md"))
    lines = server.batch.files["file-1"].decode().splitlines()
    assert len(lines) == 3 and json.loads(lines[0])["url"] == "/v1/chat/completions"

    vault, llm, report = batch_run(sample_vault, server)  # still in progress: nothing is sent twice
    assert "waiting for batch batch_1 (in_progress, 0 of 3 done)" in report.stopped
    assert live_requests(server) == 0

    vault, llm, report = batch_run(sample_vault, server)  # done: collected, then the writes go live
    assert not report.stopped and not report.errors and len(report.new) == 3
    assert list((vault.wiki_dir / "concepts").glob("*.md"))
    extract = [r for r in vault.db["requests"].rows if r["stage"] == "extract"]
    assert len(extract) == 3 and all(r["prompt_tokens"] > 0 and r["latency_ms"] == 0 for r in extract)
    assert live_requests(server) == llm.totals.requests - 3 > 0
    assert [b["status"] for b in BatchStore(vault.db).all()] == ["collected"]

    before = live_requests(server)
    vault, llm, report = batch_run(sample_vault, server)
    assert live_requests(server) == before and llm.totals.requests == 0


def test_batch_mode_batches_every_step_and_failed_lines_go_again(sample_vault, server):
    from kbc.compile.sources import scan_sources

    vault = open_vault(sample_vault, server)
    server.batch.fail_ids = {"*first*"}
    original = server.batch._create

    def fail_first(body):  # the first line of the first batch fails
        if server.batch.fail_ids == {"*first*"}:
            first = server.batch.files[body["input_file_id"]].decode().splitlines()[0]
            server.batch.fail_ids = {json.loads(first)["custom_id"]}
        else:
            server.batch.fail_ids = set()
        return original(body)

    server.batch._create = fail_first
    steps = []
    for _ in range(8):
        vault, llm, report = batch_run(sample_vault, server, ApiSink)
        steps.append(report.stopped.split(";")[0])
        if not report.stopped:
            break
    assert steps[:3] == ["submitted 3 requests as batch batch_1", "submitted 1 requests as batch batch_2",
                         steps[2]] and steps[2].startswith("submitted") and steps[-1] == ""
    assert not report.errors and live_requests(server) == 0 and len(scan_sources(vault)[0]) == 3
    assert list((vault.wiki_dir / "concepts").glob("*.md"))


def test_export_import_round_trip_matches_a_live_compile(tmp_path, sample_vault, server):
    import shutil

    twin = tmp_path / "twin"
    shutil.copytree(sample_vault, twin)
    live_vault, _, live_report = batch_run(twin, server)
    assert not live_report.stopped
    live = live_requests(server)

    requests_file = tmp_path / "requests.jsonl"
    for step in range(6):
        vault, llm, report = batch_run(sample_vault, server, lambda backend: FileSink(requests_file))
        if not report.stopped:
            break
        assert f"requests to {requests_file}" in report.stopped and "kbc batch import" in report.stopped
        results = tmp_path / f"results{step}.jsonl"
        with open(results, "w") as out:  # what `vllm run-batch` does with the file
            for line in requests_file.read_text().splitlines():
                item = json.loads(line)
                status, body = server.handle(item["url"], item["body"])
                out.write(json.dumps({"id": "x", "custom_id": item["custom_id"], "error": None,
                                      "response": {"status_code": status, "body": body}}) + "\n")
        store = BatchStore(vault.db)
        assert store.take_lines(results.read_text().splitlines())[1] == 0
        assert len(store.settle_imported()) == 1
    assert step >= 2 and not report.errors  # extractions, then the writes, then done
    assert live_requests(server) == live  # every answer came through the files
    pages = lambda v: sorted(p.relative_to(v.wiki_dir).as_posix() for p in v.wiki_dir.rglob("*.md"))
    assert pages(vault) == pages(live_vault)


def test_a_429_slows_the_run_and_honours_retry_after(server):
    backend = OpenAIBackend(server.base_url, "scripted", "test", max_retries=2, concurrency=8)
    server.script.append({"status": 429, "headers": {"retry-after": "0.3"}})
    started = time.perf_counter()
    answer = backend.complete([{"role": "user", "content": "hi"}], None, 20, "prefix-1")
    assert answer.text and time.perf_counter() - started >= 0.3
    assert backend.limit.throttles == 1 and backend.limit.limit == 4.0 + 1 / 4
    assert server.headers[-1]["x-session-id"] == "prefix-1"
    assert server.requests[-1]["prompt_cache_key"] == "prefix-1"


def test_cached_tokens_as_each_engine_reports_them():
    usage = {"prompt_tokens": 100, "completion_tokens": 5}
    shapes = {
        "openai/vllm/sglang": {"usage": {**usage, "prompt_tokens_details": {"cached_tokens": 64}}},
        "deepseek": {"usage": {**usage, "prompt_cache_hit_tokens": 64, "prompt_cache_miss_tokens": 36}},
        "llama.cpp server": {"usage": usage, "timings": {"cache_n": 64, "prompt_n": 36}},
        "llama.cpp /completion": {"usage": usage, "tokens_cached": 64},
        "sglang native": {"usage": usage, "meta_info": {"cached_tokens": 64}},
    }
    for engine, data in shapes.items():
        assert usage_figures(data) == (100, 64, 5), engine
    assert usage_figures({"usage": usage}) == (100, 0, 5)
