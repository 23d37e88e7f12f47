"""`crosslmm models list|pull|path|rm` and `crosslmm convert`: getting models onto the disk."""

from pathlib import Path
from typing import Annotated, Optional

import typer

from crosslmm_cli.cli.help import Group
from crosslmm_cli.cli.options import Quiet

models_app = typer.Typer(cls=Group, name="models", help="Model presets: list, download (and convert), locate, remove.",
                         no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(models_app, name="models")
    app.command("convert", no_args_is_help=True)(convert)


Name = Annotated[str, typer.Argument(metavar="NAME", help="Preset name (see `crosslmm models list`).", show_default=False)]


@models_app.command("list")
def list_models(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Also show source, license, location and notes.")] = False,
) -> None:
    """The presets (bundled and your own in <config dir>/presets), and which are on disk."""
    from crosslmm_cli.checkpoints.presets import load_presets, user_presets_dir
    from crosslmm_cli.checkpoints.store import directory_size, local_path
    from crosslmm_cli.units import format_bytes

    presets = load_presets()
    width = max(len(name) for name in presets)
    for name, preset in sorted(presets.items()):
        path = local_path(preset)
        if preset.is_bundled:
            state = "bundled" if path else "missing"
        else:
            state = f"on disk, {format_bytes(directory_size(path))}" if path else f"not pulled ({preset.download_size})"
        typer.echo(f"{name:<{width}}  {state:<24}  {preset.description}")
        if verbose:
            source = preset.path if preset.is_bundled else f"{preset.repo}@{preset.revision or 'main'} (convert: {preset.convert})"
            typer.echo(f"{'':<{width}}  source: {source}; license: {preset.license}; frames: {preset.default_frames}; "
                       f"tokens per frame: {preset.tokens_per_frame or 'from the checkpoint'}")
            if path:
                typer.echo(f"{'':<{width}}  location: {path}")
            for line in preset.notes.split("\n\n"):
                if line.strip():
                    typer.echo(f"{'':<{width}}  {' '.join(line.split())}")
    if verbose:
        typer.echo(f"\nyour own presets go in {user_presets_dir()}")


@models_app.command("pull")
def pull(
    name: Name,
    force: Annotated[bool, typer.Option("--force", help="Convert again even if a converted copy exists.")] = False,
) -> None:
    """Download a preset from the Hugging Face Hub (and convert it to CrossLMM where needed)."""
    from crosslmm_cli.checkpoints.presets import get_preset
    from crosslmm_cli.checkpoints.store import pull as pull_preset
    from crosslmm_cli.cli.terminal import stderr_console

    preset = get_preset(name)
    if not preset.is_bundled:
        stderr_console().print(f"pulling {preset.repo} ({preset.download_size}) ...", markup=False, style="dim")
    path = pull_preset(preset, force=force)
    if preset.notes and preset.convert == "llava_onevision":
        stderr_console().print("note: " + " ".join(preset.notes.split()), markup=False, style="dim")
    typer.echo(str(path))


@models_app.command("path")
def path(name: Name) -> None:
    """Print where a preset's checkpoint is on disk (exit 3 if it is not pulled)."""
    from crosslmm_cli.checkpoints.presets import get_preset
    from crosslmm_cli.checkpoints.store import local_path
    from crosslmm_cli.errors import ModelNotFoundError

    found = local_path(get_preset(name))
    if found is None:
        raise ModelNotFoundError(f"model {name!r} is not on disk", hint=f"run `crosslmm models pull {name}`")
    typer.echo(str(found))


@models_app.command("rm")
def rm(
    name: Name,
    download: Annotated[bool, typer.Option("--download", help="Also delete the original download from the Hugging Face cache.")] = False,
) -> None:
    """Delete a pulled preset's converted checkpoint (and with --download, its hub download)."""
    from crosslmm_cli.checkpoints.presets import get_preset
    from crosslmm_cli.checkpoints.store import remove
    from crosslmm_cli.units import format_bytes

    freed = remove(get_preset(name), download_too=download)
    typer.echo(f"freed {format_bytes(freed)}")


def convert(
    source: Annotated[Path, typer.Argument(metavar="SOURCE", help="A llava-hf LLaVA-OneVision checkpoint directory.", show_default=False,
                                           exists=True, file_okay=False)],
    target: Annotated[Path, typer.Argument(metavar="TARGET", help="Where to write the CrossLMM checkpoint.", show_default=False)],
    tokens_per_frame: Annotated[Optional[int], typer.Option("--tokens-per-frame", min=1,
                                help="Default visual tokens per frame of the converted model.")] = None,
    quiet: Quiet = False,
) -> None:
    """Convert a local LLaVA-OneVision checkpoint to CrossLMM (cross-attention added with closed gates)."""
    from crosslmm_cli.checkpoints.convert import convert_llava_onevision
    from crosslmm_cli.cli.terminal import stderr_console

    kwargs = {} if tokens_per_frame is None else {"tokens_per_frame": tokens_per_frame}
    if not quiet:
        stderr_console().print(f"converting {source} to CrossLMM in {target} ...", markup=False, style="dim")
    convert_llava_onevision(source, target, **kwargs)
    typer.echo(str(target))
