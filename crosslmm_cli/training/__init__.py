"""Training, distilling and evaluating CrossLMM models: the library behind `crosslmm train`,
`crosslmm distill`, `crosslmm eval` and `crosslmm init`.

One concept per module:
- data: `records` (LLaVA-style data files), `tokenization` (chat template, answer-only labels),
  `frame_cache` (decoding and the decoded-frame cache), `dataset` (items, batches, resumable order);
- what trains and how: `groups` (trainable groups, stages), `optim` (AdamW, schedule),
  `model_setup` (precision, LoRA / QLoRA, plain checkpoints), `memory` (computed GPU memory);
- runs: `state` (pickle-free training state), `run_folder` (the output folder: checkpoints, metrics, atomic writes), `progress`,
  `loop` (the shared training loop), `sft` (supervised training), `teacher` and `distill`
  (self-distillation), `init_model` (a new CrossLMM from SigLIP + Qwen2);
- evaluation: `answers` (letter parsing, matching), `evaluate` (eval files, per-task accuracy; the
  answers come from `crosslmm_cli.engine.generation`, as every command's do).

Importing this package is cheap: torch is imported by the modules that need it.
"""
