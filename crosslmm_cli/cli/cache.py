"""`crosslmm cache info|clear`: the video feature cache."""

import typer

from crosslmm_cli.cli.help import Group

cache_app = typer.Typer(cls=Group, name="cache", help="The video feature cache (encoded videos, reused across questions).",
                        no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(cache_app, name="cache")


def _cache():  # noqa: ANN202 - FeatureCache
    from crosslmm_cli.cli.common import current_settings, feature_cache_dir
    from crosslmm_cli.engine.feature_cache import FeatureCache

    return FeatureCache(feature_cache_dir(), max_bytes=int(current_settings().cache_max_gb * 1e9))


@cache_app.command("info")
def info() -> None:
    """Where the cache is, how many videos it holds, and its size against the cap (settings: cache_max_gb)."""
    from crosslmm_cli.units import format_bytes

    stats = _cache().info()
    typer.echo(f"path     {stats.path}")
    typer.echo(f"entries  {stats.entries}")
    typer.echo(f"size     {format_bytes(stats.size_bytes)} of {format_bytes(stats.max_bytes)}")


@cache_app.command("clear")
def clear() -> None:
    """Delete every cached entry."""
    from crosslmm_cli.units import format_bytes

    freed = _cache().clear()
    typer.echo(f"freed {format_bytes(freed)}")
