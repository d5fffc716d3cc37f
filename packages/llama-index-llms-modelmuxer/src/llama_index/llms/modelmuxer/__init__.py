"""ModelMuxer as a LlamaIndex LLM: ``Settings.llm = ModelMuxerLLM([...])``.

:class:`ModelMuxerLLM` routes every call to the model that should answer it;
:class:`LlamaIndexModel` makes a LlamaIndex LLM object a candidate (with id, prices, quality).
"""

from llama_index.llms.modelmuxer.backend import LlamaIndexBackend, LlamaIndexModel
from llama_index.llms.modelmuxer.base import Candidate, ModelMuxerLLM
from llama_index.llms.modelmuxer.embeddings import LlamaIndexEmbedder

__all__ = [
    "Candidate",
    "LlamaIndexBackend",
    "LlamaIndexEmbedder",
    "LlamaIndexModel",
    "ModelMuxerLLM",
]
