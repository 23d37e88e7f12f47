"""What `--engine ray` reports when a worker fails: the worker's own one-line error, never Ray's
traceback; an input a worker cannot see names the shared filesystem (no Ray needed)."""

import pickle

from crosslmm_cli.batch import run_one
from crosslmm_cli.distributed.run import _cluster_failure
from crosslmm_cli.distributed.stages import SHARED_FS_HINT, Decoded, decode_row, portable_error
from crosslmm_cli.errors import EXIT_MODEL, ClusterError, InputError, OutOfMemoryError
from crosslmm_cli.video.errors import NotAVideoError

# What Ray 2.60 hands the driver when a model worker's __init__ raised (ActorDiedError keeps only text).
ACTOR_DIED = """The actor died because of an error raised in its creation task, ray::MapWorker(MapBatches(AnswerVideos)).__init__() (pid=1, ip=127.0.0.1)
  File "/site-packages/crosslmm_cli/checkpoints/loader.py", line 144, in check_checkpoint_dir
    raise CheckpointError(...)
crosslmm_cli.modeling.checkpoint_files.CheckpointFileError: /models/x/tokenizer.json: not valid JSON (line 1)"""


def test_a_worker_that_cannot_load_the_model_reports_the_loaders_line():
    error = _cluster_failure(RuntimeError(ACTOR_DIED))
    assert str(error) == "/models/x/tokenizer.json: not valid JSON (line 1)"
    assert error.exit_code == EXIT_MODEL


def test_rays_own_failures_are_one_line():
    error = _cluster_failure(RuntimeError("The actor died unexpectedly before finishing this task.\n\tpid: 7"))
    assert isinstance(error, ClusterError) and "\n" not in str(error)
    assert str(error) == "the Ray pipeline failed: RuntimeError: The actor died unexpectedly before finishing this task."


def test_an_input_the_driver_saw_but_a_worker_cannot_names_the_shared_filesystem(tmp_path):
    missing = str(tmp_path / "only-on-the-driver.mp4")
    row = decode_row({"index": 3, "path": missing, "seen_by_driver": True}, decoder=None)
    decoded = pickle.loads(row["decoded"])
    assert row["index"] == 3 and decoded.prepared is None
    assert isinstance(decoded.error, InputError) and str(decoded.error) == f"{missing}: no such file"
    assert decoded.error.hint.startswith(SHARED_FS_HINT)


def test_a_decoding_error_that_travelled_from_a_worker_makes_the_local_engines_record():
    for raised in (NotAVideoError("a.mp4", "it is a text file"), OutOfMemoryError("out of memory", frames=8),
                   FileNotFoundError(2, "No such file", "a.mp4"), ValueError("odd")):
        travelled = pickle.loads(pickle.dumps(Decoded(None, portable_error(raised), 0.1))).error
        here, _ = run_one("a.mp4", None, task="describe", process=None, error=raised, seconds=0.1)
        there, _ = run_one("a.mp4", None, task="describe", process=None, error=travelled, seconds=0.1)
        assert there == here and not here["ok"] and "\n" not in here["error"]


def test_loopback_addresses_are_told_apart():
    from crosslmm_cli.distributed.cluster import is_loopback

    assert all(map(is_loopback, ["127.0.0.1:6379", "localhost:6379", "[::1]:6379", "127.0.1.1:10001"]))
    assert not any(map(is_loopback, ["auto", "10.0.0.5:6379", "head.example:6379", "ray://10.0.0.5:10001"]))
