"""Query analysis: the features of a request, computed once and shared by every strategy.

Cheap by design: heuristics over a bounded sample of the text, no model, no download, no network.
"""

from modelmuxer.analysis.analyzer import analyze
from modelmuxer.analysis.features import QueryFeatures, TaskType
from modelmuxer.analysis.tokens import estimate_request_tokens, estimate_tokens

__all__ = ["QueryFeatures", "TaskType", "analyze", "estimate_request_tokens", "estimate_tokens"]
