"""The semantic cache: near misses never share an answer, paraphrases within the guards do,
partitions and the threshold hold, embedders are plugins."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from _support import OFFLINE_MODELS, MakeMuxer

from modelmuxer import ConfigError, Muxer, PluginError, hookimpl
from modelmuxer.cache import HashedNgramEmbedder, prompt_signature
from modelmuxer.cache.embedders import Embedder
from modelmuxer.config import load_settings
from modelmuxer.testing import NEAR_MISS_PAIRS

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

MINI = OFFLINE_MODELS[0]

#: Prompts that may share an answer: case, punctuation and spacing differ.
PARAPHRASES: list[tuple[str, str]] = [
    ("What is the capital of France?", "what is the capital of France"),
    ("Explain how photosynthesis works.", "Explain how photosynthesis works!"),
    ("How do I reverse a list in Python?", "How do I reverse a list in Python ?"),
]


def _semantic(make_muxer: MakeMuxer, plugins: Sequence[object] = (), **cache: Any) -> Muxer:
    settings = load_settings(cache={"enabled": True, "semantic": True, **cache})
    return make_muxer(OFFLINE_MODELS, settings=settings, plugins=list(plugins))


@pytest.mark.parametrize(("first", "second"), NEAR_MISS_PAIRS)
def test_near_misses_have_different_signatures(first: str, second: str) -> None:
    assert prompt_signature(first) != prompt_signature(second)


@pytest.mark.parametrize(("first", "second"), NEAR_MISS_PAIRS)
async def test_near_misses_never_hit_even_at_a_low_threshold(
    make_muxer: MakeMuxer, first: str, second: str
) -> None:
    muxer = _semantic(make_muxer, semantic_threshold=0.05)
    await muxer.acomplete(first, model=MINI, temperature=0)
    answer = await muxer.acomplete(second, model=MINI, temperature=0)
    assert answer.cache == "miss"


@pytest.mark.parametrize(("first", "second"), PARAPHRASES)
async def test_small_variations_hit(make_muxer: MakeMuxer, first: str, second: str) -> None:
    muxer = _semantic(make_muxer)
    original = await muxer.acomplete(first, model=MINI, temperature=0)
    similar = await muxer.acomplete(second, model=MINI, temperature=0)
    assert similar.cache == "semantic"
    assert similar.text == original.text
    assert similar.cost_usd == 0
    assert similar.saved_usd == pytest.approx(original.cost_usd)


async def test_semantic_is_only_for_deterministic_requests_by_default(
    make_muxer: MakeMuxer,
) -> None:
    first, second = PARAPHRASES[0]
    muxer = _semantic(make_muxer)
    await muxer.acomplete(first, model=MINI, temperature=0.7)
    assert (await muxer.acomplete(second, model=MINI, temperature=0.7)).cache == "miss"
    tool = [{"type": "function", "function": {"name": "lookup"}}]
    await muxer.acomplete(first, model=MINI, temperature=0, tools=tool)
    assert (await muxer.acomplete(second, model=MINI, temperature=0, tools=tool)).cache == "miss"
    sampled = _semantic(make_muxer, semantic_sampled=True)
    await sampled.acomplete(first, model=MINI, temperature=0.7)
    assert (await sampled.acomplete(second, model=MINI, temperature=0.7)).cache == "semantic"


async def test_tenants_and_models_partition_before_similarity(make_muxer: MakeMuxer) -> None:
    first, second = PARAPHRASES[0]
    muxer = _semantic(make_muxer)
    await muxer.acomplete(first, model=MINI, temperature=0, identity={"org": "acme"})
    other_org = await muxer.acomplete(second, model=MINI, temperature=0, identity={"org": "b"})
    other_model = await muxer.acomplete(
        second, model=OFFLINE_MODELS[1], temperature=0, identity={"org": "acme"}
    )
    assert (other_org.cache, other_model.cache) == ("miss", "miss")
    same = await muxer.acomplete(second, model=MINI, temperature=0, identity={"org": "acme"})
    assert same.cache == "semantic"


async def test_a_request_may_raise_the_threshold_but_not_lower_it(make_muxer: MakeMuxer) -> None:
    # about 0.89 similar with the default embedder
    first, second = "What is the capital of France?", "What is the capital city of France?"
    muxer = _semantic(make_muxer, semantic_threshold=0.95)
    await muxer.acomplete(first, model=MINI, temperature=0)
    lowered = {"cache": {"semantic_threshold": 0.1}}
    assert (
        await muxer.acomplete(second, model=MINI, temperature=0, routing=lowered)
    ).cache == "miss"
    relaxed = _semantic(make_muxer, semantic_threshold=0.8)
    await relaxed.acomplete(first, model=MINI, temperature=0)
    raised = {"cache": {"semantic_threshold": 0.95, "no_store": True}}
    assert (
        await relaxed.acomplete(second, model=MINI, temperature=0, routing=raised)
    ).cache == "miss"
    assert (await relaxed.acomplete(second, model=MINI, temperature=0)).cache == "semantic"


async def test_default_embedder_is_stable_and_normalisable() -> None:
    embedder = HashedNgramEmbedder()
    assert isinstance(embedder, Embedder)
    a = await embedder.aembed(["What is the capital of France?", "x"])
    b = await embedder.aembed(["What is the capital of France?"])
    assert a.shape == (2, embedder.dimensions)
    assert (a[0] == b[0]).all()  # crc32, not the per-process salted hash()


class _Constant:
    """An embedder plugin that maps everything to one vector: only the guards separate."""

    name = "constant"

    async def aembed(self, texts: Sequence[str]) -> list[list[float]]:
        return [[1.0, 0.0, 0.0] for _ in texts]

    @hookimpl
    def modelmuxer_register_embedders(self, register: Callable[[Embedder], None]) -> None:
        register(self)


async def test_embedders_are_plugins(make_muxer: MakeMuxer) -> None:
    muxer = _semantic(make_muxer, plugins=[_Constant()], embedder="constant")
    await muxer.acomplete("Tell me a story about a dragon.", model=MINI, temperature=0)
    unrelated = await muxer.acomplete("explain quantum computing", model=MINI, temperature=0)
    assert unrelated.cache == "semantic"  # the plugin's vectors say they are identical
    guarded = await muxer.acomplete("What is 7 times 6?", model=MINI, temperature=0)
    assert guarded.cache == "miss"


def test_an_unknown_embedder_is_a_config_error(make_muxer: MakeMuxer) -> None:
    with pytest.raises(ConfigError, match="hashed-ngrams"):
        _semantic(make_muxer, embedder="nope")


def test_two_embedders_with_one_name_is_a_plugin_error(make_muxer: MakeMuxer) -> None:
    class _Clash(_Constant):
        name = "hashed-ngrams"

    with pytest.raises(PluginError, match="hashed-ngrams"):
        _semantic(make_muxer, plugins=[_Clash()])


def _unit(i: int, dims: int = 8) -> Any:
    import numpy as np

    vector = np.zeros(dims, dtype=np.float32)
    vector[i % dims] = 1.0
    return vector


def test_a_vector_table_holds_its_capacity_and_overwrites_the_oldest() -> None:
    from modelmuxer.cache.vectors import VectorTable

    table = VectorTable(capacity=4)
    for i in range(6):
        table.add(f"k{i}", "sig", 100.0, _unit(i))
    assert len(table) == 4
    assert table.search(_unit(0), "sig", 0.99, now=0.0) is None  # k0 was overwritten by k4...
    assert table.search(_unit(4), "sig", 0.99, now=0.0) == ("k4", 1.0)  # ...same direction
    assert table.search(_unit(2), "sig", 0.99, now=0.0) == ("k2", 1.0)
    assert table.search(_unit(2), "other", 0.0, now=0.0) is None  # signature differs
    assert table.search(_unit(2), "sig", 0.99, now=200.0) is None  # expired


async def test_the_memory_index_holds_its_byte_bound() -> None:
    from modelmuxer.cache.semantic import MemoryVectorIndex

    index = MemoryVectorIndex(capacity=64, max_bytes=64 * 8 * 4 * 3)  # three full partitions
    for p in range(10):
        for i in range(64):
            await index.add(f"partition-{p}", f"k{i}", "sig", _unit(i), 60.0)
        assert index.nbytes <= 64 * 8 * 4 * 3
    assert await index.search("partition-9", _unit(1), "sig", 0.99) == ("k1", 1.0)
    assert await index.search("partition-0", _unit(1), "sig", 0.99) is None  # evicted
