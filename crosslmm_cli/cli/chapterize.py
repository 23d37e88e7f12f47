"""`crosslmm chapterize VIDEO`: chapters with titles, as text, YouTube, JSON, WebVTT or ffmetadata."""

import time
from typing import Annotated, Optional

import typer

from crosslmm_cli.cli.batch import MaxChapters, MaxLength, MinLength
from crosslmm_cli.cli.common import OUTPUT, Session, with_run_options
from crosslmm_cli.cli.remote import ServerOption
from crosslmm_cli.engine.options import RunOptions
from crosslmm_cli.errors import UsageError


def register(app: typer.Typer) -> None:
    app.command("chapterize", no_args_is_help=True)(chapterize)


@with_run_options
def chapterize(
    video: Annotated[str, typer.Argument(metavar="VIDEO", help="The video file.", show_default=False)],
    fmt: Annotated[str, typer.Option("--format", "-f", metavar="text|youtube|json|vtt|ffmetadata", rich_help_panel=OUTPUT,
                   help="Output format. youtube follows YouTube's rules (starts at 0:00, >= 3 chapters of >= 10 s); "
                        "ffmetadata muxes in with `ffmpeg -i in.mp4 -i chapters.txt -map_metadata 1 -codec copy out.mp4`.")] = "text",
    output: Annotated[Optional[typer.FileTextWrite], typer.Option("--output", "-o", rich_help_panel=OUTPUT,
                      help="Write the chapters to this file instead of stdout.")] = None,
    min_length: MinLength = 10.0,
    max_length: MaxLength = None,
    max_chapters: MaxChapters = 20,
    server: ServerOption = None,
    *,
    run: RunOptions,
) -> None:
    """Split a video into chapters where its picture changes, and title each from its own frames.

    Frames are sampled across the whole video (one every 2 s, at most 128, unless --frames/--fps
    say otherwise); their vision features give the boundaries and, reused, the titles.
    """
    from crosslmm_cli.tasks import Hooks, chapter_frames, titled_chapters
    from crosslmm_cli.tasks.chapter_formats import FORMATS, check_youtube, format_chapters, youtube_options
    from crosslmm_cli.tasks.chapters import ChapterOptions

    if fmt not in FORMATS:
        raise UsageError(f"--format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    options = ChapterOptions(min_length=min_length, max_length=max_length, max_chapters=max_chapters)
    session = Session.start(run)
    if server:
        from crosslmm_cli.cli import remote

        _write(remote.chapters_text(session, server, video, fmt, options), output)
        return
    if fmt == "youtube":
        options = youtube_options(options)
    started = time.perf_counter()
    pipeline, prepared, encoded = session.open_video(video, chapter_frames(run.frames))

    def check(chapters: list) -> None:
        session.detail(f"{video}: {len(chapters)} chapters from {encoded.num_frames} frames of {encoded.duration:.1f} s")
        if fmt == "youtube":
            check_youtube(chapters, encoded.duration, video)

    on_stats = (lambda stats: session.detail(stats.describe())) if run.verbosity > 0 else None
    chapters = titled_chapters(pipeline, prepared, encoded, options, run.generation, check=check, hooks=Hooks(on_stats=on_stats))
    text = format_chapters(chapters, fmt, duration=encoded.duration, path=video)
    session.detail(f"done in {time.perf_counter() - started:.1f} s")
    _write(text, output)


def _write(text: str, output: Optional[typer.FileTextWrite]) -> None:
    if output is not None:
        output.write(text)
    else:
        typer.echo(text, nl=False)
