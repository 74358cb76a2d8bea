"""The LLM layer against a real HTTP server: ledger, response cache, retries, cut-offs, budget."""
import json

import pytest

from kbc.llm import BudgetExceeded, ItemFailed, Prompt, Request, Templates
from kbc.llm.ledger import usage_by_stage
from tests.conftest import make_llm, open_vault

SCHEMA = {"title": "pair", "type": "object", "additionalProperties": False,
          "required": ["a", "b"], "properties": {"a": {"type": "string"}, "b": {"type": "integer"}}}
INSTRUCTIONS = "You answer questions about notes. " * 40


def prompt(item: str, context: str = "Shared context. " * 20) -> Prompt:
    return Prompt(({"role": "system", "content": INSTRUCTIONS},), context, item)


@pytest.fixture
def llm(vault_dir, server):
    vault = open_vault(vault_dir, server)
    return make_llm(vault, server)


def rows(llm):
    return list(llm.db.query("select * from requests order by id"))


def test_each_request_is_a_ledger_row_with_engine_cached_tokens(llm, server):
    llm.complete(Request("ask", prompt("First question?"), SCHEMA))
    llm.complete(Request("ask", prompt("Second question?"), SCHEMA))
    first, second = rows(llm)
    assert first["stage"] == "ask" and first["backend"] == "openai" and first["model"] == "scripted"
    assert first["prompt_tokens"] > 300 and first["completion_tokens"] > 0
    assert first["cached_tokens"] == 0
    # The server's prefix cache saw the shared instructions and context.
    assert second["cached_tokens"] >= 300
    assert first["prefix_hash"] == second["prefix_hash"] and first["prefix_tokens"] > 300
    assert first["request_hash"] != second["request_hash"]
    assert server.requests[0]["prompt_cache_key"] == first["prefix_hash"]
    assert server.requests[0]["response_format"]["json_schema"]["schema"] == SCHEMA


def test_identical_request_is_answered_from_the_response_cache(llm, server):
    a = llm.complete(Request("ask", prompt("Same?"), SCHEMA))
    b = llm.complete(Request("ask", prompt("Same?"), SCHEMA))
    assert len(server.requests) == 1
    assert b.from_cache and b.data == a.data
    cached_row = rows(llm)[1]
    assert cached_row["from_cache"] == 1 and cached_row["prompt_tokens"] == 0
    stats = usage_by_stage(llm.db)["stages"]["ask"]
    assert stats["requests"] == 2 and stats["cache_hits"] == 1


def test_server_error_is_retried(llm, server):
    server.script.append({"status": 500})
    answer = llm.complete(Request("ask", prompt("Retry me"), SCHEMA))
    assert answer.data["b"] == 1
    assert len(server.requests) == 2


def test_cut_off_answer_is_never_used_or_cached(llm, server):
    server.script.append({"content": '{"a": "half', "finish_reason": "length"})
    with pytest.raises(ItemFailed, match="cut off"):
        llm.complete(Request("ask", prompt("Long answer"), SCHEMA, label="note.md"))
    assert rows(llm)[0]["finish_reason"] == "length"
    assert llm.db["responses"].count == 0
    # The next attempt goes to the model again.
    llm.complete(Request("ask", prompt("Long answer"), SCHEMA))
    assert len(server.requests) == 2


def test_invalid_json_is_retried_once_with_the_error(llm, server):
    server.script.append({"content": '{"a": "x"}'})  # misses b
    answer = llm.complete(Request("ask", prompt("Fix it"), SCHEMA))
    assert answer.data == {"a": "answer", "b": 1}
    retry = server.requests[1]["messages"]
    assert "invalid" in retry[-1]["content"] and "'b' is a required property" in retry[-1]["content"]


def test_twice_invalid_answer_fails_the_item(llm, server):
    server.script.extend([{"content": "not json"}, {"content": "still not json"}])
    with pytest.raises(ItemFailed, match="note.md: invalid answer from the model"):
        llm.complete(Request("ask", prompt("Broken"), SCHEMA, label="note.md"))
    assert llm.db["responses"].count == 0


def test_budget_stops_before_it_is_exceeded(vault_dir, server):
    llm = make_llm(open_vault(vault_dir, server), server, budget=1500)
    llm.complete(Request("ask", prompt("one"), SCHEMA, max_tokens=200))
    with pytest.raises(BudgetExceeded, match="rerun with a larger --budget to resume"):
        for n in range(10):
            llm.complete(Request("ask", prompt(f"more {n}"), SCHEMA, max_tokens=200))
    assert llm.totals.tokens <= 1500
    assert len(server.requests) == llm.totals.requests


def test_group_sends_one_request_first_then_the_rest(llm, server):
    requests = [Request("extract", prompt(f"item {n}"), SCHEMA) for n in range(5)]
    results = llm.complete_all(requests)
    assert all(r.data["b"] == 1 for r in results)
    assert server.requests[0]["messages"][-1]["content"].endswith("item 0")
    # All but the first found the shared prefix in the engine's cache.
    assert sum(1 for r in rows(llm) if r["cached_tokens"] > 0) == 4


def test_failed_items_do_not_stop_the_group(llm, server):
    server.script.extend([{"content": "bad"}, {"content": "bad again"}])
    results = llm.complete_all([Request("x", prompt("a"), SCHEMA, label="a.md"),
                                Request("x", prompt("b"), SCHEMA, label="b.md")])
    assert isinstance(results[0], ItemFailed) and results[1].data["b"] == 1


def test_templates_render_identical_bytes_and_version_by_content(tmp_path):
    templates = Templates([])
    one = templates.prompt("prompts/extract.j2", known_concepts=["B", "A"], title="T",
                           numbered_text="1| x", part=0, parts=0, wanted=8, categories=["system"])
    two = templates.prompt("prompts/extract.j2", known_concepts=["B", "A"], title="T",
                           numbered_text="1| x", part=0, parts=0, wanted=8, categories=["system"])
    assert json.dumps(one.messages()) == json.dumps(two.messages())
    assert one.item.endswith("1| x") and "Known concepts" in one.context
    override = tmp_path / "prompts"
    override.mkdir()
    (override / "extract.j2").write_text("{% block system %}Other{% endblock %}{% block item %}{{ title }}{% endblock %}")
    changed = Templates([tmp_path])
    assert changed.version("prompts/extract.j2") != templates.version("prompts/extract.j2")
    assert one.version == templates.version("prompts/extract.j2")


def test_control_tags_leave_no_runs_of_blank_lines_in_a_prompt(tmp_path):
    (tmp_path / "t.j2").write_text("{% block item %}{% for x in xs %}## {{ x }}\n{% if x == 'a' %}Also: b\n"
                                   "{% endif %}\n{% if false %}never{% endif %}\n\n{% endfor %}Sources:\n{% endblock %}")
    item = Templates([tmp_path]).prompt("t.j2", xs=["a", "c"]).item
    assert item == "## a\nAlso: b\n\n## c\n\nSources:"
