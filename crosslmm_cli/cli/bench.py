"""`crosslmm bench`: measure CrossLMM against the full-token baseline, frame sampling, and a request end to end;
and the tool's own parts (feature cache, preprocessing, a training step, training memory).

Thin commands over `crosslmm_cli.bench`; torch is imported inside the commands only. Progress goes
to stderr, results (a table, or JSON with --json; JSON lines for the tool's parts) to stdout.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from crosslmm_cli.cli.help import Group
from crosslmm_cli.cli.options import Device, Quantize, Quiet, Threads, placement
from crosslmm_cli.cli.reporting import exit_for, fail

bench_app = typer.Typer(
    cls=Group,
    name="bench",
    help="Benchmarks: CrossLMM vs the full-token baseline (model), frame sampling (video), one request (e2e), "
         "and the tool's parts (cache, preprocess, train-step, train-memory).",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    app.add_typer(bench_app, name="bench")


def parse_size(text: str) -> int:
    """'12GB', '11.5 GiB', '800MB', '1e9' -> bytes."""
    from crosslmm_cli.units import parse_size as parse

    return parse(text, "--memory-limit")


def parse_ints(text: str, option: str) -> tuple[int, ...]:
    try:
        values = tuple(int(part) for part in text.replace(" ", "").split(",") if part)
    except ValueError:
        raise ValueError(f"{option}: expected comma-separated integers, got {text!r}") from None
    if not values:
        raise ValueError(f"{option}: expected at least one integer")
    return values


@bench_app.command("model")
def model_command(
    model: Annotated[str, typer.Option("--model", "-m", help="A shape preset (random weights: cpu-small, qwen2.5-1.5b, qwen2.5-7b, ...) or a checkpoint: model preset name, directory or hub id. Default: cpu-small on CPU, qwen2.5-7b on a GPU.")] = "auto",
    frames: Annotated[str | None, typer.Option(help="Frame counts, comma-separated. Default: 8,32,64,128,256 (32,256,512 with --computed).")] = None,
    tokens_per_frame: Annotated[str, typer.Option("--tokens-per-frame", help="CrossLMM tokens per frame, comma-separated.")] = "1,9,16",
    baseline: Annotated[int | None, typer.Option("--baseline-tokens-per-frame", metavar="N", show_default=False, help="Tokens per frame of the full-token baseline (cross-attention shut, bilinear pooling; default: LLaVA-OneVision's for the model's encoder, 196 for SigLIP's); 0 = no baseline.")] = None,
    weights: Annotated[str, typer.Option(help="Weight precisions: 16bit (bfloat16), 4bit (bitsandbytes NF4), 32bit.")] = "16bit,4bit",
    device: Device = None,
    repeats: Annotated[int, typer.Option(help="Timed prefills per configuration at most (median reported).")] = 3,
    min_time: Annotated[float, typer.Option("--min-time", help="Stop repeating once the timed prefills took this many seconds.")] = 2.0,
    decode_tokens: Annotated[int, typer.Option("--decode-tokens", help="Greedy tokens decoded to measure tokens/s (0: skip).")] = 16,
    text_tokens: Annotated[int, typer.Option("--text-tokens", help="Prompt tokens besides the video.")] = 64,
    memory_limit: Annotated[str | None, typer.Option("--memory-limit", help="Mark configurations needing more (weights + inputs + prefill) as out of memory, e.g. 12GB.")] = None,
    kv_tokens_per_frame: Annotated[int | None, typer.Option("--kv-tokens-per-frame", help="Shape presets: cross-attention K/V tokens per frame (default: the preset's, 196; 729 reads every encoder token).")] = None,
    kv_dtype: Annotated[str | None, typer.Option("--kv-dtype", help="Shape presets: storage dtype of the cached cross-attention K/V (e.g. float8_e4m3fn).")] = None,
    threads: Threads = None,
    computed: Annotated[bool, typer.Option("--computed", help="Run nothing: print MACs and memory computed from the shape (for shapes too large for this machine).")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
    save: Annotated[str | None, typer.Option("--save", help="Also write the JSON to FILE.")] = None,
    from_json: Annotated[str | None, typer.Option("--from-json", help="Run nothing: show (and --plot) a run saved with --save.")] = None,
    plot: Annotated[str | None, typer.Option(help="Also draw the paper's Figure 4 panels for this run to FILE (.png, .svg, .pdf; needs matplotlib).")] = None,
    quiet: Quiet = False,
) -> None:
    """Prefill compute, peak memory, prefill time and decoding speed: CrossLMM at a few tokens per frame vs the full-token baseline."""
    from crosslmm_cli.errors import CrossLMMError

    try:
        frame_counts = parse_ints(frames or ("32,256,512" if computed else "8,32,64,128,256"), "--frames")
        tokens = parse_ints(tokens_per_frame, "--tokens-per-frame")
        weight_kinds = tuple(w.strip() for w in weights.split(",") if w.strip())
        limit = parse_size(memory_limit) if memory_limit else None
    except ValueError as error:
        raise fail(str(error), 2) from None
    try:
        _, device = placement(None, device)
    except CrossLMMError as error:
        raise exit_for(error) from None
    if plot:  # fail before a long run, not after it
        from crosslmm_cli.bench.plot import PlotUnavailable, _pyplot

        try:
            _pyplot()
        except PlotUnavailable as error:
            raise fail(str(error), 2, error.hint) from None

    import torch

    from crosslmm_cli.bench.model import BASELINE_FROM_MODEL, ModelBenchOptions

    from crosslmm_cli.bench.build import is_shape_name

    if model == "auto":
        model = "qwen2.5-7b" if device != "cpu" and torch.cuda.is_available() else "cpu-small"
    elif not is_shape_name(model):  # a checkpoint: a model preset name, a directory or a hub id, as everywhere
        from crosslmm_cli.cli.options import checkpoint_for

        try:
            model, _ = checkpoint_for(model)
        except CrossLMMError as error:
            raise exit_for(error) from None
    torch.set_num_threads(threads or _default_threads(model, device))
    options = ModelBenchOptions(
        model=model, frames=frame_counts, tokens_per_frame=tokens, baseline_tokens_per_frame=BASELINE_FROM_MODEL if baseline is None else (baseline or None),
        weights=weight_kinds, device=device, text_tokens=text_tokens, repeats=repeats, min_repeat_time_s=min_time,
        decode_tokens=decode_tokens, memory_limit_bytes=limit, kv_tokens_per_frame=kv_tokens_per_frame, kv_dtype=kv_dtype,
    )
    if computed:
        _computed(options, as_json)
        return
    try:
        result = _load(from_json) if from_json else _run(options, quiet=quiet)
    except CrossLMMError as error:
        raise exit_for(error) from None
    except ValueError as error:
        raise fail(_line(error), 2) from None
    _show(result, as_json)
    if save:
        from pathlib import Path

        from crosslmm_cli.bench.report import to_json

        Path(save).write_text(to_json(result) + "\n", encoding="utf-8")
        typer.echo(f"wrote {save}", err=True)
    if plot:
        from crosslmm_cli.bench.plot import plot_figure4

        written = plot_figure4(result, plot)
        typer.echo(f"wrote {written}", err=True)


def _default_threads(model: str, device: str) -> int:
    """The tool's CPU policy: one thread for a small model (OpenMP's synchronisation costs more than
    its narrow matmuls, far more on a busy machine), torch's own choice otherwise."""
    import torch

    from crosslmm_cli.bench.build import is_shape_name, shape_config
    from crosslmm_cli.checkpoints.devices import default_threads, model_width

    try:
        width = shape_config(model).text_config.hidden_size if is_shape_name(model) else model_width(model)
    except ValueError:
        width = None
    return default_threads(width, device) or torch.get_num_threads()


def _load(path: str):
    import json
    from pathlib import Path

    from crosslmm_cli.bench.model import ModelBenchResult

    try:
        return ModelBenchResult.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))
    except OSError as error:
        raise ValueError(f"{path}: cannot be read ({error.strerror or error})") from None
    except (json.JSONDecodeError, KeyError, TypeError) as error:
        raise ValueError(f"{path}: not a run saved by `crosslmm bench model --save` ({type(error).__name__}: {error})") from None


def _line(error: ValueError) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


def _run(options, *, quiet: bool = False):
    """The benchmark, with our progress (a spinner naming the step on a terminal) unless --quiet."""
    from crosslmm_cli.bench.model import run_model_benchmark
    from crosslmm_cli.cli.terminal import stderr_console

    if quiet:
        return run_model_benchmark(options)
    with stderr_console().status("starting", spinner="dots") as status:
        return run_model_benchmark(options, progress=lambda message: status.update(message))


def _show(result, as_json: bool) -> None:
    from crosslmm_cli.bench.report import check_targets, model_table, to_json

    if as_json:
        typer.echo(to_json(result))
        return
    console = _console()
    env = result.environment
    console.print(f"machine: {env['cpu']}, {env['cpu_cores']} cores, {env['ram_bytes'] / 1e9:.0f} GB RAM"
                  + (f", {env['gpu']}" if "gpu" in env else "") + f"; torch threads {env['torch_threads']}; "
                  + ", ".join(f"{k} {v}" for k, v in env["versions"].items()))
    console.print(f"load average at start / end: {env['load_average_start']} / {env['load_average_end']}; "
                  f"run took {result.seconds:.0f} s")
    for weights in result.options.weights:
        console.print(model_table(result, weights))
    for check in check_targets(result):
        console.print(("  " if check.passed else "! ") + check.describe(), markup=False)


def _console():
    """stdout; wide enough for the tables when it is not a terminal (a file, a pipe, a test)."""
    from crosslmm_cli.cli.terminal import make_console

    console = make_console()
    return console if console.is_terminal else make_console(width=200)


def _computed(options, as_json: bool) -> None:
    from crosslmm_cli.bench.build import is_shape_name
    from crosslmm_cli.bench.computed import computed_report, computed_tables

    if not is_shape_name(options.model):
        raise fail(f"--computed needs a shape preset, not {options.model!r}", 2)
    try:
        report = computed_report(options)
    except ValueError as error:
        raise fail(_line(error), 2) from None
    if as_json:
        import json

        typer.echo(json.dumps(report, indent=2))
        return
    console = _console()
    for table in computed_tables(report):
        console.print(table)


@bench_app.command("video")
def video_command(
    frames: Annotated[str, typer.Option(help="Frame counts, comma-separated.")] = "8,32,64",
    cache_dir: Annotated[str | None, typer.Option("--cache-dir", help="Where the generated test videos are kept.")] = None,
    naive_slice: Annotated[float, typer.Option("--naive-slice", help="Seconds decoded for the decode-everything baseline.")] = 60.0,
    repeats: Annotated[int, typer.Option(help="Runs per row; the fastest is reported.")] = 3,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Frame sampling: how long sampling N frames from a 1-hour video takes, by backend, and its memory."""
    try:
        frame_counts = parse_ints(frames, "--frames")
    except ValueError as error:
        raise fail(str(error), 2) from None
    from crosslmm_cli.bench import video as video_bench

    rows = video_bench.run_video_benchmark(
        cache_dir=cache_dir, frame_counts=frame_counts, naive_slice_s=naive_slice, repeats=repeats,
        progress=lambda message: print(f"... {message}", file=sys.stderr),
    )
    if as_json:
        import json

        typer.echo(json.dumps(rows, indent=2))
        return
    typer.echo(video_bench.machine_description())
    typer.echo(video_bench.format_table(rows))


@bench_app.command("e2e", no_args_is_help=True)
def e2e_command(
    video: Annotated[str, typer.Argument(metavar="VIDEO", help="The video file.", show_default=False)],
    question: Annotated[str, typer.Argument(metavar="QUESTION", help="What to ask.")] = "Describe what happens in this video.",
    model: Annotated[str | None, typer.Option("--model", "-m", help="Preset name, checkpoint directory or hub id (default: as `crosslmm ask`).")] = None,
    frames: Annotated[int | None, typer.Option("--frames", "-n", min=1, help="Frames to sample (default: the model's).")] = None,
    tokens_per_frame: Annotated[int | None, typer.Option("--tokens-per-frame", min=1, help="Visual tokens per frame (default: the model's).")] = None,
    quantize: Quantize = None,
    device: Device = None,
    threads: Threads = None,
    max_new_tokens: Annotated[int, typer.Option("--max-new-tokens", min=1, help="Longest answer, in tokens.")] = 64,
    repeats: Annotated[int, typer.Option(min=1, help="Requests after loading; the first is reported apart, the rest as a median.")] = 3,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """The time a user waits for an answer: load, decode, encode, prompt, first token, full answer."""
    from crosslmm_cli.cli.common import Session
    from crosslmm_cli.engine.options import FrameOptions, GenerationOptions, ModelOptions, RunOptions
    from crosslmm_cli.bench.e2e import run_e2e_benchmark
    from crosslmm_cli.errors import ModelLoadError, UsageError, for_input

    try:
        quantize, device = placement(quantize, device)
        run = RunOptions(
            model=ModelOptions(ref=model, quantize=quantize, device=device, tokens_per_frame=tokens_per_frame, threads=threads),
            frames=FrameOptions(num_frames=frames), generation=GenerationOptions(max_new_tokens=max_new_tokens),
            use_cache=False,  # decode and encode every time: they are stages we measure
        )
        from crosslmm_cli import video as video_input

        video_input.probe(video)  # a bad path fails now, not after loading the model
        session = Session.start(run)
        result = run_e2e_benchmark(session.load_engine, session.pipeline, video, question, run.generation,
                                   repeats=repeats, progress=lambda message: session.note(f"... {message}"))
    except (ModelLoadError, UsageError) as error:
        raise exit_for(error) from None
    except Exception as error:  # noqa: BLE001 - the video's and anything else's: one line naming the video
        raise exit_for(for_input(error, video)) from None
    if as_json:
        import json

        typer.echo(json.dumps(result.as_dict(), indent=2))
        return
    from crosslmm_cli.bench.report import e2e_table

    console = _console()
    console.print(e2e_table(result))
    console.print(f"answer: {result.answer!r}", markup=False, soft_wrap=True)


@bench_app.command("serve")
def serve_command(
    video: Annotated[list[str] | None, typer.Argument(metavar="[VIDEO...]", show_default=False,
                     help="Videos to ask about (default: the demo model's example clips).")] = None,
    model: Annotated[str, typer.Option("--model", "-m", help="The model the server loads.")] = "demo",
    question: Annotated[list[str] | None, typer.Option("--question", "-q", help="A question (repeatable; default: Describe the video.).")] = None,
    concurrency: Annotated[str, typer.Option(help="Concurrent clients, comma-separated.")] = "1,4,8",
    requests: Annotated[int, typer.Option(min=1, help="Requests at each concurrency.")] = 48,
    max_tokens: Annotated[int, typer.Option("--max-tokens", min=1, help="Longest answer, in tokens.")] = 64,
    cli_question: Annotated[list[str] | None, typer.Option("--cli-question", help="A question `crosslmm ask --server` is timed on (repeatable; default: the first --question).")] = None,
    cli_runs: Annotated[int, typer.Option("--cli-runs", min=0, help="Runs of `crosslmm ask --server` timed per question (and half as many cold, at least 1).")] = 5,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """A warm `crosslmm serve` under load: requests/s, time to first token and latency (p50/p95) at each
    concurrency, answers against serial greedy ones, and `crosslmm ask` through the server vs cold."""
    import json

    from crosslmm_cli.bench.serve import bench_serve, describe

    try:
        levels = parse_ints(concurrency, "--concurrency")
    except ValueError as error:
        raise fail(str(error), 2) from None
    videos = video or [str(p) for p in _demo_examples()]
    result = bench_serve(model, videos, question or ["Describe the video."], concurrency=levels, requests=requests,
                         max_tokens=max_tokens, cli_questions=cli_question or (), cli_repeats=cli_runs,
                         cold_repeats=max(1, cli_runs // 2) if cli_runs else 0,
                         progress=lambda text: print(text, file=sys.stderr, flush=True))
    print(json.dumps(result.as_dict(), indent=2) if as_json else describe(result))


def _demo_examples() -> list:
    """The bundled demo model's example clips (where an installed wheel keeps them too)."""
    from pathlib import Path

    from crosslmm_cli.checkpoints.settings import DEMO_MODEL, ModelChoice
    from crosslmm_cli.checkpoints.store import resolve_model

    location = resolve_model(ModelChoice(DEMO_MODEL, "flag")).location
    return sorted((Path(location) / "examples").glob("*.mp4"))


@bench_app.command("cache")
def cache_command(
    frames: Annotated[int, typer.Option(min=1, help="Frames of the video whose features are cached.")] = 32,
    videos: Annotated[int, typer.Option(min=1, help="Videos in the describe batch.")] = 6,
    batch_frames: Annotated[int, typer.Option("--batch-frames", min=1, help="Frames per video in the batch.")] = 8,
    repeats: Annotated[int, typer.Option(min=1, help="Runs per measurement (median reported).")] = 3,
    shape: Annotated[str, typer.Option(help="Shape preset of the random model.")] = "cpu-small",
    only: Annotated[str | None, typer.Option(metavar="cache|batch", help="Run one of the two measurements.")] = None,
    threads: Annotated[int | None, typer.Option(min=1, help="CPU threads for torch (default: torch's choice).")] = None,
) -> None:
    """What the feature cache saves (a question about a cached video) and what decoding the next video during model work saves."""
    import json

    from crosslmm_cli.bench.cache_prefetch import CacheBenchOptions, run_cache_benchmark

    if only not in (None, "cache", "batch"):
        raise fail(f"--only must be cache or batch, not {only!r}", 2)
    if threads is not None:
        import torch

        torch.set_num_threads(threads)
    options = CacheBenchOptions(frames=frames, videos=videos, batch_frames=batch_frames, repeats=repeats, shape=shape,
                                only=only)
    for measurement in run_cache_benchmark(options):
        typer.echo(json.dumps(measurement))


@bench_app.command("preprocess")
def preprocess_command(
    frames: Annotated[int, typer.Option(min=1, help="Frames of the random video.")] = 256,
    height: Annotated[int, typer.Option(min=2)] = 1080,
    width: Annotated[int, typer.Option(min=2)] = 1920,
    size: Annotated[int, typer.Option(min=2, help="The encoder's input size (square).")] = 384,
) -> None:
    """Frame preprocessing (resize, normalise) of a long full-HD video: time and peak memory, by kernel."""
    import json

    from crosslmm_cli.bench.preprocess import run_preprocess_benchmark

    for result in run_preprocess_benchmark(frames, height, width, size):
        typer.echo(json.dumps(result))


@bench_app.command("train-step")
def train_step_command(
    shape: Annotated[str, typer.Option(help="Shape preset of the random model.")] = "tiny",
    frames: Annotated[int, typer.Option(min=1)] = 4,
    batch: Annotated[int, typer.Option(min=1)] = 4,
    steps: Annotated[int, typer.Option(min=1, help="Timed steps (after 3 warm-up steps).")] = 20,
) -> None:
    """One training step of a small CrossLMM on CPU by thread count, and the frame cache against decoding."""
    from crosslmm_cli.bench.training_step import run_training_step_benchmark

    for line in run_training_step_benchmark(shape, frames, batch, steps):
        typer.echo(line)


@bench_app.command("train-memory")
def train_memory_command() -> None:
    """GPU memory of the README's training recipes, computed (not measured) from the real model shapes."""
    from crosslmm_cli.bench.training_memory import training_memory_report

    typer.echo(training_memory_report())
