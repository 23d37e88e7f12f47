"""The demo model travels inside the wheel (pyproject's wheel sources) and loads from there; the
scripts that build it do not travel."""

from __future__ import annotations

import subprocess
import sys
import zipfile

import pytest
from demo_fixtures import DEMO_DIR, REPO


@pytest.mark.slow
@pytest.mark.subprocess
def test_wheel_holds_the_demo_model_and_it_loads_from_the_installed_location(tmp_path):
    # No build isolation: hatchling comes with the test extra, so building needs no network.
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet",
                            "-w", str(tmp_path / "dist"), str(REPO)], capture_output=True, text=True)
    assert build.returncode == 0, build.stderr[-2000:]
    (wheel,) = (tmp_path / "dist").glob("crosslmm-*.whl")
    build_code = {"build.py", "recipe", "research"}  # the demo's build script, recipe and research code: source, not product
    shipped = {p.relative_to(DEMO_DIR).as_posix() for p in DEMO_DIR.rglob("*")
               if p.is_file() and "__pycache__" not in p.parts and p.relative_to(DEMO_DIR).parts[0] not in build_code}
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        assert {f"crosslmm_cli/_models/demo/{name}" for name in shipped} <= names
        models = sorted(name for name in names if name.startswith("crosslmm_cli/_models/"))
        assert not [name for name in models if name.endswith(".py") or "/research/" in name or "/recipe/" in name], models
        assert {"crosslmm_cli/_models/presets/demo.toml", "crosslmm_cli/_models/demo/README.md",
                "crosslmm_cli/_models/demo/examples/circle.mp4"} <= set(models)
        site = tmp_path / "site-packages"
        archive.extractall(site)  # a pure-Python wheel installs by unpacking
    code = (
        "import torch; torch.set_num_threads(1)\n"
        "from crosslmm_cli.checkpoints.store import resolve_model\n"
        "from crosslmm_cli.checkpoints.settings import ModelChoice\n"
        "from crosslmm_cli.checkpoints.loader import load_model\n"
        "location = resolve_model(ModelChoice('demo', 'flag')).location\n"
        "model, processor = load_model(location, device='cpu')\n"
        "print(location); print(sum(p.numel() for p in model.parameters()))\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path,
                         env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert run.returncode == 0, run.stderr[-2000:]
    location, parameters = run.stdout.split()
    assert location == str(site / "crosslmm_cli" / "_models" / "demo")
    assert int(parameters) > 100_000
