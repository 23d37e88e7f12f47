"""State isolation for CLI tests: every test gets its own config, cache, data and HF cache dirs,
and the Hugging Face Hub is offline (tests never download)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cli_fixtures import save_tiny_checkpoint


@pytest.fixture(autouse=True)
def isolated_state(tmp_path_factory, monkeypatch):
    root = tmp_path_factory.mktemp("state")
    for name in ("CONFIG", "CACHE", "DATA"):
        monkeypatch.setenv(f"CROSSLMM_{name}_DIR", str(root / name.lower()))
    monkeypatch.delenv("CROSSLMM_MODEL", raising=False)
    monkeypatch.setenv("HF_HOME", str(root / "hf"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("NO_COLOR", "1")
    import huggingface_hub.constants as hub

    monkeypatch.setattr(hub, "HF_HUB_CACHE", str(root / "hf" / "hub"))
    monkeypatch.setattr(hub, "HF_HUB_OFFLINE", True)
    return root


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> Path:
    return save_tiny_checkpoint(tmp_path_factory.mktemp("tiny") / "ckpt")
