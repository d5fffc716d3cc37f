"""LangChain's standard chat model suites, run on the offline backend.

Skipped there, and why: PDF, audio and video inputs (no candidate reads them), image inputs (the
suite downloads its images from the web; image parts themselves are tested in
test_lc_convert.py), Anthropic-style inputs (Anthropic-specific content blocks), VCR tests (no
recorded HTTP: nothing goes over the network), init from env (no API key: keys belong to the
providers behind the muxer), serialization (the candidates may be live objects).
"""

from __future__ import annotations

from typing import Any

from langchain_tests.integration_tests import ChatModelIntegrationTests
from langchain_tests.unit_tests import ChatModelUnitTests

from langchain_modelmuxer import ChatModelMuxer

_PARAMS: dict[str, Any] = {
    "models": ["offline/openai/gpt-4o-mini", "offline/openai/gpt-4o"],
    "load_entrypoints": False,
}


class _Common:
    @property
    def chat_model_class(self) -> type[ChatModelMuxer]:
        return ChatModelMuxer

    @property
    def chat_model_params(self) -> dict[str, Any]:
        return dict(_PARAMS)

    @property
    def has_tool_calling(self) -> bool:
        return True

    @property
    def has_tool_choice(self) -> bool:
        return True

    @property
    def has_structured_output(self) -> bool:
        return True

    @property
    def supports_json_mode(self) -> bool:
        return True

    @property
    def returns_usage_metadata(self) -> bool:
        return True

    @property
    def model_override_value(self) -> str:
        return "offline/openai/gpt-4o"


class TestChatModelMuxerUnit(_Common, ChatModelUnitTests):
    @property
    def standard_chat_model_params(self) -> dict[str, Any]:
        # The suite adds api_key="test": a muxer has no key of its own (each provider's key is
        # read from its environment variable), and unknown arguments are errors here.
        params = super().standard_chat_model_params
        params.pop("api_key", None)
        return params


class TestChatModelMuxerIntegration(_Common, ChatModelIntegrationTests):
    """LangChain's integration suite, run against the offline backend."""
