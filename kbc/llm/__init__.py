"""The LLM layer: one call interface for every stage, knowing nothing of the stages."""
from kbc.llm.backends import (BackendError, EndpointUnavailable, LlamaCppBackend, OpenAIBackend,
                              estimate_tokens, make_backend)
from kbc.llm.client import LLM, BudgetExceeded, Completion, ItemFailed, Request, RunTotals
from kbc.llm.prompts import Prompt, Templates, stable_json

__all__ = [
    "LLM", "BackendError", "BudgetExceeded", "EndpointUnavailable", "Completion", "ItemFailed", "LlamaCppBackend",
    "OpenAIBackend", "Prompt", "Request", "RunTotals", "Templates", "estimate_tokens",
    "make_backend", "stable_json",
]
