"""Model checkpoints on disk: which model `--model` names, getting it there, and loading it.

- `settings`: the user's settings file and the tool's config, cache and data directories;
- `presets`: named models as data files (`models/presets/*.toml`, plus the user's own);
- `store`: resolving `--model`, `models pull|path|rm`, conversions kept under the data directory;
- `convert`: LLaVA-OneVision (llava-hf) to CrossLMM;
- `loader`: the one loader of a CrossLMM checkpoint (safetensors only, never remote code), for
  inference and training alike, with the device, dtype and quantization policy.

Imports nothing of ours but `errors` and `modeling`; torch is imported inside the functions.
"""
