"""A real engine over HTTP: llama.cpp's OpenAI-compatible server (`python -m llama_cpp.server`,
the llama-cpp-python built for the embedded model) with the SmolLM2 GGUF, on 127.0.0.1.
Slow: run alone with -m slow."""
import re
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from kbc.llm.backends import default_local_model
from kbc.vault import Vault

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory):
    pytest.importorskip("llama_cpp.server.app", reason="the llama-cpp-python server extra is not installed")
    port, log = free_port(), tmp_path_factory.mktemp("llama") / "server.log"
    with open(log, "w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "llama_cpp.server", "--model", str(default_local_model()),
             "--model_alias", "smollm2", "--host", "127.0.0.1", "--port", str(port),
             "--n_ctx", "8192", "--n_threads", "2", "--verbose", "true"],
            stdout=out, stderr=subprocess.STDOUT)
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        for _ in range(240):
            try:
                urllib.request.urlopen(base_url + "/models", timeout=1)
                break
            except OSError:
                if process.poll() is not None:
                    pytest.fail(f"llama_cpp.server exited: {log.read_text()[-2000:]}")
                time.sleep(0.5)
        yield base_url, log
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_compile_against_llama_cpp_server_reuses_the_shared_prefix(sample_vault, llama_server):
    base_url, log = llama_server
    (sample_vault / "kbc.toml").write_text(
        (sample_vault / "kbc.toml").read_text().replace("context_window = 0", "context_window = 8192"))
    env = {"KBC_BASE_URL": base_url, "KBC_MODEL": "smollm2", "PATH": "/usr/bin:/bin"}
    run = subprocess.run([sys.executable, "-m", "kbc", "--vault", str(sample_vault), "compile"],
                         env=env, capture_output=True, text=True, timeout=1800)
    assert run.returncode in (0, 1), run.stderr  # 1: a small model's invalid answer for one item
    assert len(list((sample_vault / "wiki" / "sources").glob("*.md"))) >= 1, run.stderr
    rows = list(Vault(sample_vault, env={}).db.query("select * from requests where error = ''"))
    assert rows and all(r["backend"] == "openai" and r["prompt_tokens"] > 0 for r in rows)
    # llama-cpp-python's server reports its prefix-cache reuse in its log (its answers carry no
    # cached-token field): requests after the first reuse the shared system prompt's tokens.
    hits = [int(n) for n in re.findall(r"Llama.generate: (\d+) prefix-match hit", log.read_text())]
    assert hits and max(hits) > 50, log.read_text()[-2000:]
