"""`kbc mcp` in a real session: the SDK's own client spawns `python -m kbc mcp` over stdio,
lists the tools and calls each one against a compiled vault and the scripted model."""
import asyncio
import json
import sys

from mcp import ClientSession, StdioServerParameters, stdio_client

from kbc.compile import compile_vault
from tests.conftest import endpoint_env, make_llm, open_vault, templates

EXPECTED = {"search", "read_page", "context", "ask", "list_concepts", "list_sources", "ingest",
            "compile_status"}


def text(result) -> str:
    return "".join(block.text for block in result.content if getattr(block, "text", None))


async def session_calls(vault_dir, server, note):
    params = StdioServerParameters(command=sys.executable, args=["-m", "kbc", "mcp"],
                                   env={**endpoint_env(server), "KBC_VAULT": str(vault_dir)})
    out = {}
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            out["tools"] = {tool.name: tool for tool in (await session.list_tools()).tools}
            calls = {
                "search": {"query": "paxos majority", "limit": 3},
                "read_page": {"name": "paxos"},
                "context": {"query": "How does Paxos choose a value?", "budget": 2000},
                "ask": {"question": "What is Paxos?"},
                "list_concepts": {},
                "list_sources": {},
                "compile_status": {},
                "ingest": {"source": str(note)},
                "compile_status_after": {},
                "read_page_missing": {"name": "No Such Page Anywhere"},
            }
            for key, arguments in calls.items():
                name = key.removesuffix("_after").removesuffix("_missing")
                out[key] = await session.call_tool(name, arguments)
            answer = text(out["ask"])
            session_id = answer.rsplit("Session: ", 1)[1].split()[0]
            out["follow_up"] = await session.call_tool("ask", {"question": "Who described it?",
                                                               "session": session_id})
    return out


def test_a_real_mcp_client_session_uses_every_tool(sample_vault, server, tmp_path):
    vault = open_vault(sample_vault, server)
    compile_vault(vault, make_llm(vault, server), templates(vault))
    note = tmp_path / "Quorum note.md"
    note.write_text("# Quorums\n\nAny two majorities of a set overlap in at least one member.\n")
    out = asyncio.run(asyncio.wait_for(session_calls(sample_vault, server, note), 120))

    assert EXPECTED <= set(out["tools"])
    assert "query" in out["tools"]["context"].input_schema["properties"]
    for key, result in out.items():
        if key not in ("tools", "read_page_missing"):
            assert not result.is_error, (key, text(result))
    assert json.loads(text(out["search"]))[0]["page"]
    assert "kind: concept" in text(out["read_page"]) and "# Paxos" in text(out["read_page"])
    pack = text(out["context"])
    assert "=== Paxos ===" in pack and "Links:" in pack
    assert "Sources: [[" in text(out["ask"]) and "Session: " in text(out["ask"])
    concepts = json.loads(text(out["list_concepts"]))
    assert "Paxos" in {c["name"] for c in concepts["items"]} and concepts["total"] >= 3
    sources = json.loads(text(out["list_sources"]))
    assert {s["note"] for s in sources["items"]} == {"Leases", "Paxos in brief", "Raft consensus"}
    assert json.loads(text(out["compile_status"]))["up_to_date"] is True
    assert json.loads(text(out["ingest"]))["results"][0]["status"] == "created"
    after = json.loads(text(out["compile_status_after"]))
    assert after["up_to_date"] is False and len(after["new"]) == 1
    assert out["read_page_missing"].is_error and "no page or note" in text(out["read_page_missing"])
    # The follow-up continued the MCP session: its prompt starts with the first exchange.
    first, second = [r["messages"] for r in server.requests if r.get("response_format") is None][-2:]
    assert second[: len(first)] == first and not out["follow_up"].is_error
