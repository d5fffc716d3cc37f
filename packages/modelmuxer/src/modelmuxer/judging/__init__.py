"""Judges score an answer so a cascade knows whether to escalate.

The built-in judge (:mod:`modelmuxer.judging.structural`) is a ``trylast`` implementation of
``modelmuxer_judge``: any plugin judge (an LLM grader, a test runner) registered alongside it
answers first.
"""

from modelmuxer.judging.structural import structural_score

__all__ = ["structural_score"]
