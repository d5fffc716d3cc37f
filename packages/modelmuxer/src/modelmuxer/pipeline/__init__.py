"""The request pipeline: inputs -> routing -> execution (one call, a cascade, or a stream)."""

from modelmuxer.pipeline.executor import Executor
from modelmuxer.pipeline.inputs import MessagesLike, build_request
from modelmuxer.pipeline.router import Router
from modelmuxer.pipeline.streaming import StreamRunner
from modelmuxer.pipeline.sync import SyncBridge

__all__ = ["Executor", "MessagesLike", "Router", "StreamRunner", "SyncBridge", "build_request"]
