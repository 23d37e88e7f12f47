"""Fixtures every test folder may use. Nothing here is autouse: each folder's conftest says what it wants."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def crosslmm_state(tmp_path_factory, monkeypatch) -> Path:
    """The tool's config, cache and data directories and the Hugging Face cache in a fresh temporary
    folder; the Hub offline (tests never download); no model, server or API key from the environment;
    no colour. Returns the folder."""
    root = tmp_path_factory.mktemp("state")
    for name in ("CONFIG", "CACHE", "DATA"):
        monkeypatch.setenv(f"CROSSLMM_{name}_DIR", str(root / name.lower()))
    for name in ("CROSSLMM_MODEL", "CROSSLMM_SERVER", "CROSSLMM_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HF_HOME", str(root / "hf"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("NO_COLOR", "1")
    import huggingface_hub.constants as hub

    monkeypatch.setattr(hub, "HF_HUB_CACHE", str(root / "hf" / "hub"))
    monkeypatch.setattr(hub, "HF_HUB_OFFLINE", True)
    return root
