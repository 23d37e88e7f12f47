"""`crosslmm bench batch` end to end at its smallest: both engines over two clips, and the driver's ceiling."""

import json

import pytest
from ray_fixtures import EXAMPLES
from typer.testing import CliRunner

from crosslmm_cli.cli import app

pytestmark = pytest.mark.slow


def test_bench_batch_times_both_engines_and_finds_their_records_equal(ray_cluster, tmp_path):
    folder = tmp_path / "clips"
    folder.mkdir()
    for name in ("circle.mp4", "three-scenes.mp4"):
        (folder / name).write_bytes((EXAMPLES / name).read_bytes())
    result = CliRunner().invoke(app, ["bench", "batch", str(folder), "--model", "demo", "--device", "cpu", "--workers", "1",
                                      "--max-new-tokens", "16", "--ceiling-blocks", "2", "--json"])
    assert result.exit_code == 0, result.output
    found = json.loads(result.stdout)
    assert found["records_equal"] is True
    assert found["local"]["videos"] == found["ray"]["videos"] == 2
    assert found["ray"]["wall_s"] >= found["ray"]["first_record_s"] > 0 and found["local"]["load_s"] > 0
    assert found["decode_s"] > 0 and found["model_s"] > 0 and found["transfer_bytes"] > 10_000
    assert [row["per_block"] for row in found["ceiling"]] == [1, 4, 16]
    assert all(row["records_per_s"] > 0 and row["driver_cpu_per_record_s"] > 0 for row in found["ceiling"])
    assert "1 model worker" in found["placement"]
