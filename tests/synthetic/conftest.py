"""Fixtures of the synthetic-world tests: the default world and a small dataset on disk."""

from __future__ import annotations

import pytest
from synth_frames import N_CLIPS, SEED

from crosslmm_cli.synthetic import WorldConfig, write_dataset


@pytest.fixture(scope="session")
def config() -> WorldConfig:
    return WorldConfig()


@pytest.fixture(scope="session")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("synth")
    return write_dataset(out, N_CLIPS, seed=SEED, split="both")
