"""`--engine` and Ray's flags on the CLI without a Ray run: usage errors, Ray missing, and the local
engine never importing Ray."""

import subprocess
import sys

import pytest
from ray_fixtures import EXAMPLES
from typer.testing import CliRunner

from crosslmm_cli.cli import app

runner = CliRunner()
CLIP = str(EXAMPLES / "circle.mp4")


@pytest.mark.parametrize(("args", "message"), [
    (["batch", CLIP, "--workers", "2"], "error: --workers: for --engine ray only"),
    (["batch", CLIP, "--decode-cpus", "2", "--ray-address", "auto"], "error: --ray-address, --decode-cpus: for --engine ray only"),
    (["batch", CLIP, "--engine", "spark"], "error: --engine must be local or ray, not 'spark'"),
    (["batch", CLIP, "--engine", "ray", "--workers", "0"], "Invalid value for '--workers'"),
    (["describe", CLIP, "--engine", "ray", "--server", "http://127.0.0.1:9"], "error: --server and --engine ray exclude each other"),
])
def test_engine_flags_that_cannot_work_are_usage_errors(args, message):
    result = runner.invoke(app, [*args, "--model", "demo"])
    assert result.exit_code == 2, result.output
    assert message in result.stderr


def test_engine_ray_without_ray_installed_says_how_to_install_it(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    result = runner.invoke(app, ["batch", CLIP, "--model", "demo", "-o", str(tmp_path / "r.jsonl"), "--engine", "ray"])
    assert result.exit_code == 2, result.output
    assert "error: --engine ray needs Ray Data (ray is not installed) (hint: pip install 'crosslmm[ray]')" in result.stderr
    assert "Traceback" not in result.output


@pytest.mark.subprocess
def test_the_local_engine_never_imports_ray(tmp_path):
    """A whole local `crosslmm batch` (the demo answering a clip): `ray` is not among the modules it loaded."""
    script = (
        "import sys\n"
        "from crosslmm_cli.cli import app\n"
        "try:\n"
        f"    app(['batch', {CLIP!r}, '--model', 'demo', '--max-new-tokens', '8', '-o', {str(tmp_path / 'r.jsonl')!r}])\n"
        "except SystemExit as done:\n"
        "    assert done.code == 0, done.code\n"
        "print(sorted(name for name in sys.modules if name == 'ray' or name.startswith('ray.')))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
    assert (tmp_path / "r.jsonl").read_text().count("\n") == 1
