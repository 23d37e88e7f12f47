"""State isolation for CLI tests: every test gets its own config, cache, data and HF cache dirs,
and the Hugging Face Hub is offline (tests never download)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cli_fixtures import save_tiny_checkpoint


@pytest.fixture(autouse=True)
def isolated_state(crosslmm_state):
    return crosslmm_state


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> Path:
    return save_tiny_checkpoint(tmp_path_factory.mktemp("tiny") / "ckpt")
