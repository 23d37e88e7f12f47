import subprocess
import sys

import crosslmm_cli


def test_version_is_a_release_string():
    major, minor, patch = crosslmm_cli.__version__.split(".")
    assert all(part.isdigit() for part in (major, minor, patch))


def test_importing_the_cli_does_not_import_torch():
    code = "import sys, crosslmm_cli.cli; print('torch' in sys.modules, 'transformers' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False False"
