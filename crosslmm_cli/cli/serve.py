"""`crosslmm serve`: load the model once and answer over HTTP (OpenAI-compatible, plus the tool's tasks).

The bind is checked before the model loads (a non-loopback --host needs an API key), the socket is
bound next (a port in use fails at once), then the model loads and the server runs in the
foreground until Ctrl-C or SIGTERM. Stdout gets one line, the `export CROSSLMM_SERVER=...` that
points `crosslmm ask/describe/chapterize/chat` at it; stderr gets notes and one line per request.
"""

from typing import Annotated, Optional

import typer

from crosslmm_cli.cli.common import RUN_OPTIONS
from crosslmm_cli.cli.options import Quiet

SERVER = "Server"


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)


def serve(
    model: RUN_OPTIONS["model"][0] = None,
    tokens_per_frame: RUN_OPTIONS["tokens_per_frame"][0] = None,
    quantize: RUN_OPTIONS["quantize"][0] = None,
    device: RUN_OPTIONS["device"][0] = None,
    threads: RUN_OPTIONS["threads"][0] = None,
    host: Annotated[str, typer.Option("--host", rich_help_panel=SERVER,
                    help="Address to listen on. Anything but loopback needs --api-key.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=0, max=65535, rich_help_panel=SERVER,
                    help="Port to listen on (0: any free port).")] = 8765,
    api_key: Annotated[Optional[str], typer.Option("--api-key", envvar="CROSSLMM_API_KEY", rich_help_panel=SERVER,
                       show_envvar=True, help="Require `Authorization: Bearer KEY` on every request.")] = None,
    allow_path: Annotated[Optional[list[str]], typer.Option("--allow-path", metavar="DIR", rich_help_panel=SERVER,
                          help="A directory whose files file:// URLs may name (repeatable; default: the current directory).")] = None,
    max_upload: Annotated[str, typer.Option("--max-upload", metavar="SIZE", rich_help_panel=SERVER,
                          help="Largest uploaded video (data: URL), e.g. 100MB.")] = "100MB",
    max_queue: Annotated[int, typer.Option("--max-queue", min=1, rich_help_panel=SERVER,
                         help="Most requests held at once (waiting or served); more get 503 with Retry-After.")] = 64,
    max_batch: Annotated[int, typer.Option("--max-batch", min=1, rich_help_panel=SERVER,
                         help="Most greedy answers generated together in one batch (1: no batching).")] = 8,
    memory_cache: Annotated[str, typer.Option("--memory-cache", metavar="SIZE", rich_help_panel=SERVER,
                            help="Encoded videos kept in memory, in front of the disk feature cache (0: none).")] = "1GB",
    no_cache: Annotated[bool, typer.Option("--no-cache", rich_help_panel=SERVER,
                        help="Neither read nor write the disk feature cache.")] = False,
    quiet: Quiet = False,  # the shared --quiet: for a server, the per-request lines are its notes
) -> None:
    """Keep a model loaded and answer over HTTP: OpenAI's /v1/chat/completions (video_url parts) and /v1/models,
    and /v1/describe, /v1/ask, /v1/chapterize returning the records --jsonl writes."""
    import os
    import sys

    from crosslmm_cli.cli.common import Session, build_run_options, current_settings, feature_cache_dir
    from crosslmm_cli.engine.feature_cache import FeatureCache
    from crosslmm_cli.cli.reporting import usage_errors
    from crosslmm_cli.serve.server import bind, check_bind
    from crosslmm_cli.serve.serving import ServeSettings
    from crosslmm_cli.units import parse_size

    check_bind(host, api_key)
    values = {name: default for name, (_, default) in RUN_OPTIONS.items()}
    values.update(model=model, tokens_per_frame=tokens_per_frame, quantize=quantize, device=device, threads=threads)
    session = Session.start(build_run_options(values))
    with usage_errors():
        settings = ServeSettings(
            allow_paths=tuple(allow_path or [os.getcwd()]), max_upload=parse_size(max_upload, "--max-upload"),
            max_queue=max_queue, max_batch=max_batch, memory_cache_bytes=parse_size(memory_cache, "--memory-cache"),
            api_key=api_key or None,
        )
    missing = [d for d in settings.allow_paths if not os.path.isdir(d)]
    if missing:
        from crosslmm_cli.errors import UsageError

        raise UsageError(f"--allow-path {missing[0]}: not a directory")
    sock = bind(host, port)
    try:
        engine = session.load_engine()
        disk = None if no_cache else FeatureCache(feature_cache_dir(), max_bytes=int(current_settings().cache_max_gb * 1e9))
        _run(session, engine, settings, disk, sock, quiet=quiet)
    finally:
        sock.close()
    session.note("stopped")
    sys.stdout.flush()


def _run(session, engine, settings, disk, sock, *, quiet: bool) -> None:  # noqa: ANN001 - heavy types, imported late
    from crosslmm_cli.cli.terminal import write_line
    from crosslmm_cli.serve.app import create_app
    from crosslmm_cli.serve.server import serve, url_of
    from crosslmm_cli.serve.serving import Serving

    url = url_of(sock)
    serving = Serving(engine, settings, disk_cache=disk)
    app = create_app(serving, log=(lambda line: None) if quiet else None)

    def ready() -> None:
        roots = ", ".join(settings.allow_paths)
        session.note(f"serving {engine.name} on {url} (file:// URLs under {roots}; Ctrl-C stops)")
        write_line(f"export CROSSLMM_SERVER={url}")

    serve(app, sock, on_ready=ready)

