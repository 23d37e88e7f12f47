"""How `--engine ray` sizes its stages, and the configurations it refuses (no Ray needed)."""

import pytest

from crosslmm_cli.distributed.resources import ClusterShape, RayOptions, place
from crosslmm_cli.errors import UsageError

LAPTOP = ClusterShape(cpus=2, gpus=0, largest_node_cpus=2)
GPU_NODES = ClusterShape(cpus=64, gpus=8, largest_node_cpus=32)  # two nodes of 32 CPUs and 4 GPUs


def test_two_workers_on_two_cpus_leave_a_whole_cpu_to_the_decoding():
    """The configuration that hung on ray 2.60 (two actors of a whole CPU each on num_cpus=2)."""
    placement = place(RayOptions(workers=2), LAPTOP)
    assert (placement.workers, placement.worker_cpus, placement.worker_gpus, placement.decode_cpus) == (2, 0.5, 0, 1)
    assert placement.device == "cpu"
    assert placement.workers * placement.worker_cpus + placement.decode_cpus <= LAPTOP.cpus


@pytest.mark.parametrize("workers", [1, 2, 3, 5, 9])
@pytest.mark.parametrize("decode_cpus", [0.25, 0.5, 1.0, 2.0])
def test_every_accepted_configuration_leaves_room_for_one_decode_task(workers, decode_cpus):
    try:
        placement = place(RayOptions(workers=workers, decode_cpus=decode_cpus), LAPTOP)
    except UsageError:
        return
    assert placement.workers * placement.worker_cpus + placement.decode_cpus <= LAPTOP.cpus + 1e-9
    assert 0.1 <= placement.worker_cpus <= 1


def test_a_gpu_cluster_gets_one_worker_per_gpu_with_a_cpu_each():
    placement = place(RayOptions(), GPU_NODES)
    assert (placement.workers, placement.worker_cpus, placement.worker_gpus, placement.device) == (8, 1.0, 1.0, "cuda")
    halves = place(RayOptions(gpus_per_worker=0.5), GPU_NODES)
    assert (halves.workers, halves.worker_gpus) == (16, 0.5)


@pytest.mark.parametrize(("options", "cluster", "device", "message"), [
    (RayOptions(workers=2, decode_cpus=2), LAPTOP, "auto", "--workers 2 with --decode-cpus 2 does not fit 2 CPUs"),
    (RayOptions(workers=30), LAPTOP, "auto", "each model worker would get 0.033 CPU"),
    (RayOptions(decode_cpus=4), LAPTOP, "auto", "--decode-cpus 4: no Ray node has that many CPUs"),
    (RayOptions(decode_cpus=40), GPU_NODES, "auto", "the largest has 32"),
    (RayOptions(workers=9), GPU_NODES, "auto", "--workers 9 x --gpus-per-worker 1 needs 9 GPUs; the Ray cluster has 8"),
    (RayOptions(gpus_per_worker=1), LAPTOP, "auto", "--gpus-per-worker 1: the Ray cluster has no GPUs"),
    (RayOptions(), LAPTOP, "cuda", "--device cuda on Ray needs --gpus-per-worker"),
    (RayOptions(gpus_per_worker=1), GPU_NODES, "cpu", "--device cpu and --gpus-per-worker exclude each other"),
    (RayOptions(), GPU_NODES, "cuda:1", "on Ray each worker sees only the GPUs Ray gives it"),
])
def test_configurations_that_would_stall_or_never_start_are_refused(options, cluster, device, message):
    with pytest.raises(UsageError, match=message.replace("(", r"\(")) as refused:
        place(options, cluster, device)
    assert "\n" not in str(refused.value)


def test_too_many_workers_are_refused_with_how_many_fit():
    with pytest.raises(UsageError) as refused:
        place(RayOptions(workers=30), LAPTOP)
    assert refused.value.hint == "use at most --workers 10"


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"workers": 0}, "--workers must be >= 1"),
    ({"gpus_per_worker": -1}, "--gpus-per-worker must be >= 0"),
    ({"decode_cpus": 0}, "--decode-cpus must be > 0"),
    ({"address": " "}, "--ray-address must be auto or HOST:PORT"),
])
def test_bad_flag_values_are_usage_errors(kwargs, message):
    with pytest.raises(UsageError, match=message):
        RayOptions(**kwargs)


def test_blocks_keep_every_slot_busy_and_hold_few_inputs():
    laptop = place(RayOptions(workers=2), LAPTOP)  # 2 workers + 1 decode task at a time
    assert laptop.decode_slots == 1
    assert [laptop.inputs_per_block(n) for n in (1, 5, 12, 13, 48, 10_000)] == [1, 1, 1, 2, 4, 16]
    cluster = place(RayOptions(), GPU_NODES)  # 8 GPU workers of 1 CPU, 56 CPUs left for decoding
    assert cluster.decode_slots == 56
    assert [cluster.inputs_per_block(n) for n in (256, 257, 1000, 100_000)] == [1, 2, 4, 16]
