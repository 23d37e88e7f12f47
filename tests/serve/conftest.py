"""Fixtures of the server tests: the demo model loaded once, one server for the module, state in tmp dirs."""

from __future__ import annotations

import pytest
from serve_fixtures import EXAMPLES, load_demo_engine, running_server


@pytest.fixture(autouse=True)
def isolated_state(crosslmm_state):
    return crosslmm_state


@pytest.fixture(scope="session")
def engine():
    import torch

    threads = torch.get_num_threads()
    loaded = load_demo_engine()  # the CLI's thread policy: 1 thread for the tiny demo on a CPU
    yield loaded
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def allowed(tmp_path_factory):
    """A directory the servers may read (beside the demo's examples), for files the tests make."""
    return tmp_path_factory.mktemp("allowed")


@pytest.fixture(scope="module")
def server(engine, allowed):
    from crosslmm_cli.serve.serving import ServeSettings

    settings = ServeSettings(allow_paths=(str(EXAMPLES), str(allowed)), max_upload=200_000, max_queue=32)
    with running_server(engine, settings) as running:
        yield running
