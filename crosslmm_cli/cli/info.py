"""`crosslmm info VIDEO`: what the video input layer sees in a file (its probe), and its subtitles."""

import json
from dataclasses import asdict
from typing import Annotated

import typer

from crosslmm_cli.errors import for_input


def register(app: typer.Typer) -> None:
    app.command("info", no_args_is_help=True)(info)


def info(
    video: Annotated[str, typer.Argument(metavar="VIDEO", help="The video file.", show_default=False)],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Print a video's duration, frames, frame rate, size, rotation, codec and container (no model needed).

    For a truncated or damaged file, the duration and frames are those of the part that decodes
    (what `describe` and `ask` will see), `partial` is true, and a warning says how much was read.
    """
    from crosslmm_cli import video as video_input
    from crosslmm_cli.cli.reporting import print_warning
    from crosslmm_cli.video.subtitles import load_subtitles

    try:
        probe, truncated = video_input.probe_readable(video)
        subtitles = load_subtitles(video, "auto", ffmpeg=video_input.ffmpeg_executable())
    except Exception as exc:
        raise for_input(exc, video) from exc
    if truncated:
        print_warning(truncated)
    fields = {k: (str(v) if k == "path" else v) for k, v in asdict(probe).items()}
    fields["partial"] = truncated is not None
    fields["subtitles"] = None if subtitles is None else {"source": subtitles.source, "cues": len(subtitles.cues)}
    if as_json:
        typer.echo(json.dumps(fields, ensure_ascii=False))
        return
    width = max(len(k) for k in fields)
    for key, value in fields.items():
        if key == "subtitles":
            value = "none" if value is None else f"{value['source']} ({value['cues']} cues)"
        elif isinstance(value, float):
            value = f"{value:.3f}".rstrip("0").rstrip(".")
        typer.echo(f"{key:<{width}}  {value}")
