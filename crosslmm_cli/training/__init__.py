"""Training, distilling and evaluating CrossLMM models: the library behind `crosslmm train`,
`crosslmm distill`, `crosslmm eval` and `crosslmm init`.

One concept per module: `records` (LLaVA-style data files), `tokenization` (chat template and the
answer-only label mask), `frames` (decoded-frame cache), `dataset` (items, batches, data order),
`groups` (trainable parameter groups and stages), `optim` (AdamW and the schedule), `state`
(resumable training state without pickles), `checkpoints`, `loop` (the training loop),
`model_setup` (loading for training, LoRA / QLoRA), `sft` (supervised training), `teacher` and
`distill` (self-distillation), `answers` and `evaluate` (benchmarks), `init_model`, `memory`.

Importing this package is cheap: torch is imported by the modules that need it.
"""
