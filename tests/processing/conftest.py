"""Fixtures for the processing tests; helpers and data live in processing_reference.py."""

from __future__ import annotations

import pytest
from processing_reference import CORPUS

from crosslmm_cli.modeling.tokenizer import build_tokenizer


@pytest.fixture(scope="session")
def tokenizer():
    """A tiny Qwen2-style tokenizer (built once: training takes a few milliseconds, loading transformers more)."""
    return build_tokenizer(CORPUS, vocab_size=400)
