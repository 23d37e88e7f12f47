"""Fixtures of the bench tests: tiny models from shape presets (nothing downloaded), one torch thread."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny models run fastest on one thread: OpenMP's synchronisation costs more than a 32-wide
    matmul, and far more when other processes share the two cores. Restored after each module."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def app():
    """The real `crosslmm` command (bench is one of its groups)."""
    from crosslmm_cli.cli import app

    return app
