"""Fixtures of the demo-model tests: the shipped model loaded once, a held-out synthetic eval set."""

from __future__ import annotations

import pytest
import torch
from demo_fixtures import DEMO_DIR, N_CLIPS, SEED


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """The demo model is tiny: one thread is fastest (see tests/training/conftest.py)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def demo():
    from crosslmm_cli.checkpoints.loader import load_model

    return load_model(DEMO_DIR, quantize="none", device="cpu")


@pytest.fixture(scope="session")
def held_out(tmp_path_factory):
    """Eval items of N_CLIPS clips the model never trained on (eval split, odd hashes): one
    multiple-choice question per task per clip, and `describe` with the caption as its answer."""
    from crosslmm_cli.synthetic import WorldConfig, write_split
    from crosslmm_cli.training.evaluate import read_eval_items

    files = write_split(tmp_path_factory.mktemp("held-out"), N_CLIPS, SEED, "eval", WorldConfig(), n_novel=0, workers=2,
                        open_questions=True)  # as the build writes the bar split: the same questions
    items, problems = read_eval_items(files.questions)
    assert not problems
    return items
