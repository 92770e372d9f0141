"""The one base of every pipeline error: a stage raises a subclass, the CLI catches `PipelineError` in one place
and prints one clear line. It derives from ValueError because bad input (a file, a flag, a data set) is what
almost every stage error reports; `VectorIndexError` adds RuntimeError for a failing Milvus."""

from __future__ import annotations


class PipelineError(ValueError):
    """A stage could not do what it was asked: the message says what, and what to do about it."""
