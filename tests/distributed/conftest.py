"""Fixtures of the `--engine ray` tests: a local Ray (2 CPUs, loopback only) per module,
the clips, and the CLI's state in temporary directories."""

from __future__ import annotations

import pytest
from ray_fixtures import make_clips


@pytest.fixture(autouse=True)
def isolated_state(crosslmm_state):
    return crosslmm_state


@pytest.fixture(scope="module")
def ray_cluster():
    """A local Ray as `--engine ray` starts one (loopback only), with the 2 CPUs of a CI machine; the
    engine finds it running and uses it, so a module pays Ray's start once. Module, not session:
    README's cluster example ends with `ray stop`, which stops every Ray on the machine, and a
    pytest process still attached to a Ray it stops is ended by Ray (exit 1, no report)."""
    from crosslmm_cli.distributed.cluster import ray_cluster

    with ray_cluster(num_cpus=2) as shape:
        yield shape


@pytest.fixture(scope="session")
def clips(tmp_path_factory):
    return make_clips(tmp_path_factory.mktemp("clips") / "clips")
