"""The data ModelMuxer passes around (pydantic v2 models, immutable)."""

from modelmuxer.types.cards import Capabilities, Deployment, LatencyProfile, ModelCard
from modelmuxer.types.completion import (
    Attempt,
    Completion,
    FinishReason,
    StreamChunk,
    ToolCallDelta,
)
from modelmuxer.types.decision import CandidateEstimate, Decision
from modelmuxer.types.messages import (
    ContentPart,
    FunctionCall,
    FunctionSpec,
    ImagePart,
    ImageURL,
    Message,
    Role,
    TextPart,
    ToolCall,
    ToolSpec,
)
from modelmuxer.types.records import CacheStatus, CallOutcome, CallRecord
from modelmuxer.types.request import (
    CacheOptions,
    GenerationParams,
    Identity,
    Request,
    RoutingOptions,
    ToolChoice,
)
from modelmuxer.types.usage import Usage

__all__ = [
    "Attempt",
    "CacheOptions",
    "CacheStatus",
    "CallOutcome",
    "CallRecord",
    "CandidateEstimate",
    "Capabilities",
    "Completion",
    "ContentPart",
    "Decision",
    "Deployment",
    "FinishReason",
    "FunctionCall",
    "FunctionSpec",
    "GenerationParams",
    "Identity",
    "ImagePart",
    "ImageURL",
    "LatencyProfile",
    "Message",
    "ModelCard",
    "Request",
    "Role",
    "RoutingOptions",
    "StreamChunk",
    "TextPart",
    "ToolCall",
    "ToolCallDelta",
    "ToolChoice",
    "ToolSpec",
    "Usage",
]
