"""`crosslmm distill`: teach the few-token model's cross-attention to match the many-token teacher."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from crosslmm_cli.checkpoints.devices import set_threads
from crosslmm_cli.cli.options import Device, Quiet, Threads, checkpoint_for, placement
from crosslmm_cli.cli.reporting import fail, reported_errors, usage_errors
from crosslmm_cli.cli.training_options import DATA, MODEL, OUTPUT, TRAINING, check_data_path, print_json, warn

TEACHER = "Teacher"


def read_prompts(path: Path) -> tuple[str, ...]:
    """One prompt per line; blank lines and lines starting with # are skipped."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise fail(f"{path}: cannot read ({error})", 1) from None
    prompts = tuple(line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#"))
    if not prompts:
        raise fail(f"{path}: no prompts", 1)
    return prompts


def distill_command(
    model: Annotated[str, typer.Option("--model", "-m", help="CrossLMM model, the teacher and the student's start: preset name, checkpoint directory or hub id.",
                                       rich_help_panel=MODEL)],
    videos: Annotated[Path, typer.Option("--videos", help="Folder of videos (searched recursively).",
                                         rich_help_panel=DATA)],
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder for checkpoints, metrics and the student.",
                                         rich_help_panel=OUTPUT)],
    prompts: Annotated[Optional[Path], typer.Option("--prompts", help="Text file, one generic prompt per line "
                                                    "(default: describe / what happens / who / where / when).",
                                                    rich_help_panel=DATA)] = None,
    frames: Annotated[Optional[int], typer.Option("--frames", "-n", min=1, help="Frames sampled evenly from each video (default: the checkpoint's own, as `crosslmm ask`).",
                                        rich_help_panel=DATA)] = None,
    holdout: Annotated[int, typer.Option("--holdout", help="Last N videos only measure the KL, before and after.",
                                         rich_help_panel=DATA)] = 0,
    tokens_per_frame: Annotated[Optional[int], typer.Option("--tokens-per-frame", help="The student's tokens per frame "
                                                            "(default: the checkpoint's).", rich_help_panel=MODEL)] = None,
    teacher_tokens_per_frame: Annotated[Optional[int], typer.Option(
        "--teacher-tokens-per-frame", help="Teacher's tokens per frame (default: LLaVA-OneVision's, 196 for SigLIP-384).",
        rich_help_panel=TEACHER)] = None,
    teacher_pooling: Annotated[str, typer.Option("--teacher-pooling", help="area or bilinear (LLaVA-OneVision's).",
                                                 rich_help_panel=TEACHER)] = "bilinear",
    max_answer_tokens: Annotated[int, typer.Option("--max-answer-tokens", help="Longest teacher answer.",
                                                   rich_help_panel=TEACHER)] = 64,
    top_k: Annotated[int, typer.Option("--top-k", help="Teacher log-probs kept per answer token.",
                                       rich_help_panel=TEACHER)] = 32,
    teacher_cache: Annotated[Optional[Path], typer.Option("--teacher-cache", help="Where teacher answers are kept "
                                                          "(default: OUTPUT/teacher-cache).", rich_help_panel=TEACHER)] = None,
    trainable: Annotated[str, typer.Option("--trainable", metavar="GROUPS", help="Groups the student trains "
                                           "(add 'projector' to train it too).", rich_help_panel=TRAINING)] = "v2v,t2v",
    epochs: Annotated[int, typer.Option("--epochs", rich_help_panel=TRAINING)] = 1,
    max_steps: Annotated[Optional[int], typer.Option("--max-steps", rich_help_panel=TRAINING)] = None,
    lr: Annotated[float, typer.Option("--lr", rich_help_panel=TRAINING)] = 1e-4,
    warmup: Annotated[float, typer.Option("--warmup", rich_help_panel=TRAINING)] = 0.03,
    batch_size: Annotated[int, typer.Option("--batch-size", rich_help_panel=TRAINING)] = 1,
    grad_accum: Annotated[int, typer.Option("--grad-accum", rich_help_panel=TRAINING)] = 1,
    seed: Annotated[int, typer.Option("--seed", rich_help_panel=TRAINING)] = 0,
    gradient_checkpointing: Annotated[bool, typer.Option("--gradient-checkpointing", rich_help_panel=TRAINING)] = False,
    qlora: Annotated[bool, typer.Option("--qlora", help="Keep the LLM in 4 bits (frozen) to save memory.",
                                        rich_help_panel=TRAINING)] = False,
    workers: Annotated[Optional[int], typer.Option("--workers", rich_help_panel=DATA)] = None,
    frame_cache: Annotated[Optional[Path], typer.Option("--frame-cache", rich_help_panel=DATA)] = None,
    device: Device = None,
    threads: Threads = None,
    save_every: Annotated[Optional[int], typer.Option("--save-every", rich_help_panel=OUTPUT)] = None,
    keep_checkpoints: Annotated[int, typer.Option("--keep-checkpoints", rich_help_panel=OUTPUT)] = 2,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the run in OUTPUT.", rich_help_panel=OUTPUT)] = False,
    quiet: Quiet = False,
    json_output: Annotated[bool, typer.Option("--json", help="Print a JSON summary on stdout.",
                                              rich_help_panel=OUTPUT)] = False,
) -> None:
    """Distil a model into its few-token self: no labels needed, only videos."""
    with reported_errors(resume_hint=f"crosslmm distill ... --output {output} --resume"):
        _, device = placement(None, device)
        check_data_path(videos, folder=True)
        from crosslmm_cli.training.distill import DEFAULT_PROMPTS, DistillSettings, distill
        from crosslmm_cli.training.loop import LoopSettings
        from crosslmm_cli.training.model_setup import ModelSettings
        from crosslmm_cli.training.optim import OptimizerSettings
        from crosslmm_cli.training.sft import default_workers

        model, own_frames = checkpoint_for(model)
        frames = frames or own_frames
        set_threads(threads, model, device)
        with usage_errors():
            settings = DistillSettings(
                model=model, videos=videos, output=output, prompts=read_prompts(prompts) if prompts else DEFAULT_PROMPTS,
                frames=frames, tokens_per_frame=tokens_per_frame, teacher_tokens_per_frame=teacher_tokens_per_frame,
                teacher_pooling=teacher_pooling, max_answer_tokens=max_answer_tokens, top_k=top_k, trainable=trainable,
                holdout=holdout, teacher_cache=teacher_cache, frame_cache=frame_cache, resume=resume, progress=not quiet,
                loop=LoopSettings(epochs=epochs, max_steps=max_steps, batch_size=batch_size, grad_accum=grad_accum,
                                  warmup=warmup, save_every=save_every, keep_checkpoints=keep_checkpoints, seed=seed,
                                  workers=default_workers() if workers is None else workers),
                optimizer=OptimizerSettings(lr=lr),
                model_settings=ModelSettings(device=device, qlora=qlora, gradient_checkpointing=gradient_checkpointing),
            )
        result = distill(settings, warn=warn)
    if not quiet:
        kl = ("" if result.heldout_kl_after is None else
              f"; held-out KL {result.heldout_kl_before:.4f} -> {result.heldout_kl_after:.4f}")
        typer.echo(f"teacher answered {result.teacher_runs} new clips; student trained {result.loop.steps} steps "
                   f"on {result.train_items} answers{kl}; model in {output}", err=True)
    if json_output:
        print_json({"output": str(output), "steps": result.loop.steps, "final_loss": result.loop.final_loss,
                    "heldout_kl_before": result.heldout_kl_before, "heldout_kl_after": result.heldout_kl_after,
                    "train_answers": result.train_items, "teacher_runs": result.teacher_runs,
                    "seconds": round(result.loop.seconds, 3)})


def register(app: typer.Typer) -> None:
    app.command("distill", no_args_is_help=True)(distill_command)
