"""Errors of training, distillation and evaluation that the CLI reports as one line."""

from __future__ import annotations

from crosslmm_cli.errors import CrossLMMError


class DataFileError(CrossLMMError):
    """A data file (training conversations, eval items, prompts) is missing or unusable as a whole."""


class ResumeError(CrossLMMError):
    """`--resume` found nothing to resume, or the run it would continue was set up differently."""


class TrainingSetupError(CrossLMMError):
    """Options that cannot work together (no trainable parameter, LoRA without peft, ...)."""
