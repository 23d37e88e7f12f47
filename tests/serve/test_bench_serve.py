"""`crosslmm bench serve` end to end at its smallest (a server process, two levels, one CLI run)."""

from __future__ import annotations

import pytest
from serve_fixtures import CIRCLE

from crosslmm_cli.bench.serve import bench_serve, describe, percentile


def test_percentiles_interpolate_between_ranks():
    assert percentile([3.0, 1.0, 2.0], 50) == 2.0
    assert percentile([1.0, 2.0], 95) == pytest.approx(1.95)
    assert percentile([4.0], 95) == 4.0


@pytest.mark.slow
@pytest.mark.subprocess
def test_bench_serve_measures_each_level_against_serial_answers():
    result = bench_serve("demo", [str(CIRCLE)], ["What shape is the blue object?"], concurrency=(1, 2), requests=4,
                         max_tokens=16, cli_repeats=1, cold_repeats=0)
    assert [row.concurrency for row in result.load] == [1, 2]
    assert all(row.requests == 4 and row.identical == 4 and row.requests_per_s > 0 for row in result.load)
    assert all(row.ttft_p50_ms <= row.latency_p50_ms for row in result.load)
    assert sum(int(size) * count for size, count in result.load[0].batches.items()) == 4
    assert list(result.cli_server_s) == ["What shape is the blue object?"] and result.cli_cold_s == []
    table = describe(result)
    assert "concurrency" in table and "crosslmm ask --server" in table
