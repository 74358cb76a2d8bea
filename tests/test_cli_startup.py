"""The CLI starts at once: heavy libraries load only in the commands that use them."""
import json
import subprocess
import sys

HEAVY = ("openai", "trafilatura", "matplotlib", "numpy", "pypdfium2", "llama_cpp", "jsonschema", "mcp")

PROBE = """
import json, sys
from kbc.cli import cli
try:
    cli.main(sys.argv[1:], prog_name="kbc")
except SystemExit:
    pass
print(json.dumps(sorted(m for m in {heavy!r} if m in sys.modules)), file=sys.stderr)
"""


def heavy_imported(*args: str, cwd=None) -> list[str]:
    done = subprocess.run([sys.executable, "-c", PROBE.format(heavy=HEAVY), *args],
                          capture_output=True, text=True, cwd=cwd, timeout=60)
    return json.loads(done.stderr.strip().splitlines()[-1])


def test_help_imports_no_heavy_module():
    assert heavy_imported("--help") == []


def test_every_command_help_imports_no_heavy_module():
    from kbc.cli import cli

    for name in cli.commands:
        assert heavy_imported(name, "--help") == [], name


def test_search_imports_no_heavy_module(tmp_path):
    from kbc.vault import init_vault

    init_vault(tmp_path)
    assert heavy_imported("--vault", str(tmp_path), "search", "raft") == []
