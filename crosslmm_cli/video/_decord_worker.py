"""Entry point of the decode worker process: `python -m crosslmm_cli.video._decord_worker`.

Reads requests on stdin and answers on the original stdout (see `wire.py`). fd 1 is pointed at
stderr right away, so that nothing a native library prints can corrupt the replies. Exits when
stdin closes.
"""

from __future__ import annotations

import os
import sys
import traceback


def _rss_bytes() -> int:
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):  # pragma: no cover - non-Linux
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def main() -> int:
    replies = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    requests = os.dup(0)

    from crosslmm_cli.video import wire

    try:
        import decord  # noqa: F401  (import cost is paid once, before the first request)

        from crosslmm_cli.video import decord_backend
        from crosslmm_cli.video.options import SamplingOptions
    except Exception as exc:  # decord missing or broken: say so and stop
        wire.write_message(replies, {"ready": False, "error": f"{type(exc).__name__}: {exc}"})
        return 1
    wire.write_message(replies, {"ready": True, "pid": os.getpid()})

    while True:
        try:
            request, _ = wire.read_message(requests)
        except wire.WireClosed:
            return 0
        hang_on = os.environ.get("CROSSLMM_TEST_WORKER_HANG_ON")
        if hang_on and hang_on in request.get("path", ""):  # test hook: a decode that never returns
            import time

            time.sleep(3600)
        try:
            options = SamplingOptions(**_options(request["options"]))
            result = decord_backend.sample(
                request["path"], request["width"], request["height"], options,
                keyframes_only=bool(request.get("keyframes_only")),
            )  # fmt: skip
            names = ("array", "timestamps", "indices", "pending", "index_pts", "index_keyframe")
            arrays = {name: result.pop(name) for name in names if name in result}
            wire.write_message(replies, {"ok": True, "rss": _rss_bytes(), **result}, arrays)
        except Exception as exc:
            wire.write_message(
                replies,
                {
                    "ok": False,
                    "error": type(exc).__name__,
                    "message": str(exc).strip().splitlines()[-1][:500] if str(exc).strip() else "",
                    "trace": traceback.format_exc(limit=4)[-2000:],
                    "rss": _rss_bytes(),
                },
            )


def _options(raw: dict) -> dict:
    """SamplingOptions fields from JSON (lists back to tuples)."""
    return {name: tuple(value) if isinstance(value, list) else value for name, value in raw.items()}


if __name__ == "__main__":
    sys.exit(main())
