"""`crosslmm init`: a new CrossLMM from a SigLIP/SigLIP2 vision checkpoint and a Qwen2-family LLM."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from crosslmm_cli.cli.reporting import reported_errors
from crosslmm_cli.cli.training_options import print_json


def init_command(
    output: Annotated[Path, typer.Argument(help="Folder for the new checkpoint.")],
    vision: Annotated[str, typer.Option("--vision", metavar="DIR|HUB_ID",
                                        help="SigLIP / SigLIP2 checkpoint (example below).")],
    llm: Annotated[str, typer.Option("--llm", metavar="DIR|HUB_ID", help="Qwen2-family LLM (example below).")],
    tokens_per_frame: Annotated[int, typer.Option("--tokens-per-frame", min=1, metavar="N", help="Pooled tokens per frame "
                                                  "(a square: 1, 4, 9, 16, ...).")] = 9,
    cross_attention_every: Annotated[int, typer.Option("--cross-attention-every", min=1, metavar="K", help="A cross-attention "
                                                       "block in every K-th LLM layer (paper: 4).")] = 4,
    pooling: Annotated[str, typer.Option("--pooling", help="area (the paper's) or bilinear.")] = "area",
    init_cross_attention: Annotated[str, typer.Option("--init-cross-attention", metavar="MODE",
                                                      help="zero: q/k/v/o random (gates are 0 either way); "
                                                      "from_self_attention: copied from the layer's self-attention.")] = "zero",
    seed: Annotated[int, typer.Option("--seed", help="Seed of the new weights.")] = 0,
    dtype: Annotated[Optional[str], typer.Option("--dtype", metavar="DTYPE",
                                                 help="Weights' dtype: bfloat16, float16 or float32 (default: the LLM's).")] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print a JSON summary on stdout.")] = False,
) -> None:
    """Build a new CrossLMM (fresh projector, zero-gated cross-attention), ready for stage-1 training.

    Example: crosslmm init --vision google/siglip2-so400m-patch14-384 --llm Qwen/Qwen2.5-1.5B-Instruct crosslmm-2b-init
    """
    if dtype not in (None, "bfloat16", "float16", "float32"):
        raise typer.BadParameter("choose bfloat16, float16 or float32", param_hint="--dtype")
    with reported_errors():
        from crosslmm_cli.training.init_model import init_crosslmm

        init_crosslmm(vision, llm, output, tokens_per_frame=tokens_per_frame, cross_attention_period=cross_attention_every,
                      pooling=pooling, init_cross_attention=init_cross_attention, seed=seed, dtype=dtype)
    typer.echo(f"new CrossLMM in {output}; next: crosslmm train --stage 1 --model {output} ...", err=True)
    if json_output:
        print_json({"output": str(output), "vision": vision, "llm": llm, "tokens_per_frame": tokens_per_frame})


def register(app: typer.Typer) -> None:
    app.command("init", no_args_is_help=True)(init_command)
