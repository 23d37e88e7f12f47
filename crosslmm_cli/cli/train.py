"""`crosslmm train`: supervised training on LLaVA-style conversations about videos."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from crosslmm_cli.checkpoints.devices import set_threads
from crosslmm_cli.cli.options import Device, Quiet, Threads, checkpoint_for, placement
from crosslmm_cli.cli.reporting import reported_errors, usage_errors
from crosslmm_cli.cli.training_options import DATA, MODEL, OUTPUT, TRAINING, check_data_path, print_json, warn


def train_command(
    data: Annotated[Path, typer.Option("--data", help="Training conversations: LLaVA-style JSON list or JSONL.",
                                       rich_help_panel=DATA)],
    model: Annotated[str, typer.Option("--model", "-m", help="CrossLMM model to start from: preset name, checkpoint directory or hub id.",
                                       rich_help_panel=MODEL)],
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder for checkpoints, metrics and the final model.",
                                         rich_help_panel=OUTPUT)],
    stage: Annotated[Optional[int], typer.Option("--stage", min=1, max=2, metavar="1|2", help="1: projector + V2V, encoder and LLM frozen, T2V off. "
                                                 "2: end to end.", rich_help_panel=TRAINING)] = None,
    trainable: Annotated[Optional[str], typer.Option("--trainable", metavar="GROUPS",
                                                     help="Comma list of groups to train: projector, v2v, t2v, gates, "
                                                     "llm, vision, lora (overrides the stage's).",
                                                     rich_help_panel=TRAINING)] = None,
    epochs: Annotated[int, typer.Option("--epochs", help="Passes over the data.", rich_help_panel=TRAINING)] = 1,
    max_steps: Annotated[Optional[int], typer.Option("--max-steps", help="Stop after this many optimizer steps.",
                                                     rich_help_panel=TRAINING)] = None,
    lr: Annotated[float, typer.Option("--lr", help="Learning rate (all but the vision encoder).",
                                      rich_help_panel=TRAINING)] = 1e-5,
    vision_lr: Annotated[Optional[float], typer.Option("--vision-lr", help="Vision encoder's learning rate "
                                                       "(default: --lr / 5, the paper's ratio).",
                                                       rich_help_panel=TRAINING)] = None,
    weight_decay: Annotated[float, typer.Option("--weight-decay", rich_help_panel=TRAINING)] = 0.0,
    warmup: Annotated[float, typer.Option("--warmup", help="Warm-up: a fraction of the steps (< 1) or a number of steps.",
                                          rich_help_panel=TRAINING)] = 0.03,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Clips per forward pass.", rich_help_panel=TRAINING)] = 1,
    grad_accum: Annotated[int, typer.Option("--grad-accum", help="Forward passes per optimizer step.",
                                            rich_help_panel=TRAINING)] = 1,
    max_grad_norm: Annotated[float, typer.Option("--max-grad-norm", help="Clip gradients to this norm (0: off).",
                                                 rich_help_panel=TRAINING)] = 1.0,
    seed: Annotated[int, typer.Option("--seed", help="Seed of data order and initialisation.",
                                      rich_help_panel=TRAINING)] = 0,
    gradient_checkpointing: Annotated[bool, typer.Option("--gradient-checkpointing", help="Recompute activations in "
                                                         "the backward pass (less memory, ~30% slower).",
                                                         rich_help_panel=TRAINING)] = False,
    lora: Annotated[bool, typer.Option("--lora", help="Train LoRA adapters on the LLM instead of its weights.",
                                       rich_help_panel=TRAINING)] = False,
    qlora: Annotated[bool, typer.Option("--qlora", help="LoRA on a 4-bit frozen LLM (bitsandbytes).",
                                        rich_help_panel=TRAINING)] = False,
    lora_rank: Annotated[int, typer.Option("--lora-rank", rich_help_panel=TRAINING)] = 16,
    lora_alpha: Annotated[float, typer.Option("--lora-alpha", rich_help_panel=TRAINING)] = 32.0,
    lora_dropout: Annotated[float, typer.Option("--lora-dropout", rich_help_panel=TRAINING)] = 0.05,
    frames: Annotated[Optional[int], typer.Option("--frames", "-n", min=1, help="Frames sampled evenly from each clip (default: the checkpoint's own, as `crosslmm ask`).",
                                        rich_help_panel=DATA)] = None,
    max_length: Annotated[Optional[int], typer.Option("--max-length", help="Cut sequences to this many tokens.",
                                                      rich_help_panel=DATA)] = None,
    workers: Annotated[Optional[int], typer.Option("--workers", help="Processes decoding clips (default: cores - 1, "
                                                   "at most 4).", rich_help_panel=DATA)] = None,
    frame_cache: Annotated[Optional[Path], typer.Option("--frame-cache", help="Where decoded frames are kept "
                                                        "(default: OUTPUT/frame-cache).", rich_help_panel=DATA)] = None,
    device: Device = None,
    threads: Threads = None,
    save_every: Annotated[Optional[int], typer.Option("--save-every", help="Checkpoint every N steps (and at the end).",
                                                      rich_help_panel=OUTPUT)] = None,
    keep_checkpoints: Annotated[int, typer.Option("--keep-checkpoints", help="Newest checkpoints kept.",
                                                  rich_help_panel=OUTPUT)] = 2,
    log_every: Annotated[int, typer.Option("--log-every", help="Write metrics every N steps.",
                                           rich_help_panel=OUTPUT)] = 1,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the run in OUTPUT from its last checkpoint.",
                                         rich_help_panel=OUTPUT)] = False,
    quiet: Quiet = False,
    json_output: Annotated[bool, typer.Option("--json", help="Print a JSON summary on stdout.",
                                              rich_help_panel=OUTPUT)] = False,
) -> None:
    """Train a CrossLMM on conversations about videos (loss on the answers only)."""
    with reported_errors(resume_hint=f"crosslmm train ... --output {output} --resume"):
        _, device = placement(None, device)
        check_data_path(data)
        from crosslmm_cli.training.loop import LoopSettings
        from crosslmm_cli.training.model_setup import ModelSettings
        from crosslmm_cli.training.optim import OptimizerSettings
        from crosslmm_cli.training.sft import TrainSettings, default_workers, train

        model, own_frames = checkpoint_for(model)
        frames = frames or own_frames
        set_threads(threads, model, device)
        with usage_errors():
            settings = TrainSettings(
                data=data, model=model, output=output, stage=stage, trainable=trainable, frames=frames,
                max_length=max_length, frame_cache=frame_cache, resume=resume, progress=not quiet,
                loop=LoopSettings(epochs=epochs, max_steps=max_steps, batch_size=batch_size, grad_accum=grad_accum,
                                  max_grad_norm=max_grad_norm or None, warmup=warmup, save_every=save_every,
                                  keep_checkpoints=keep_checkpoints, log_every=log_every, seed=seed,
                                  workers=default_workers() if workers is None else workers),
                optimizer=OptimizerSettings(lr=lr, vision_lr=vision_lr, weight_decay=weight_decay),
                model_settings=ModelSettings(device=device, lora=lora, qlora=qlora, lora_rank=lora_rank, lora_alpha=lora_alpha,
                                             lora_dropout=lora_dropout, gradient_checkpointing=gradient_checkpointing),
            )
        result = train(settings, warn=warn)
    loop = result.loop
    loss = f"{loop.final_loss:.4f}" if loop.final_loss is not None else "n/a"
    if not quiet:
        typer.echo(f"{result.plan.describe()}; {sum(result.trainable_counts.values()):,} trainable parameters", err=True)
        typer.echo(f"trained {loop.steps} steps in {loop.seconds:.1f} s, final loss {loss}; model in {output}", err=True)
    if json_output:
        print_json({"output": str(output), "steps": loop.steps, "final_loss": loop.final_loss,
                    "seconds": round(loop.seconds, 3), "trainable": result.trainable_counts,
                    "skipped_items": loop.skipped_items, "records_left_out": len(result.problems)})


def register(app: typer.Typer) -> None:
    app.command("train", no_args_is_help=True)(train_command)
