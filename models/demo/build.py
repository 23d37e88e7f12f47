"""Rebuild the bundled `demo` model from a seed: tokenizer, fresh tiny CrossLMM, data, training, eval.

Every step goes through the project's own tools, so the demo doubles as an end-to-end check:
`crosslmm synth` writes the data, `crosslmm train` trains, `crosslmm eval` scores. The same script
runs the miniature Table 2a ablation (docs/ablation.md): `--cross-attention none|v2v|t2v|both`
and `--tokens-per-frame` change the model, nothing else.

    PYTHONPATH=. python models/demo/build.py --work runs/demo --install   # what ships in models/demo/

Steps (each skipped when its output already exists, so an interrupted build resumes):
  1. data:  crosslmm synth --out WORK/data --n N_TRAIN --seed SEED --turns 16 (eval split: N_EVAL clips)
  2. init:  WORK/init, a from-scratch model (random weights from SEED) and its tokenizer
  3. train: crosslmm train --stage 2 ... --output WORK/model (summary in WORK/train.json)
  4. eval:  crosslmm eval on eval.jsonl and eval_novel.jsonl -> WORK/eval.json, WORK/eval_novel.json
            and every prediction in WORK/*-predictions.jsonl
  5. --install: copy the model files (no frame cache, no checkpoints) and the scores (eval.json)
            into models/demo/
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(REPO))  # this checkout's crosslmm_cli, installed or not

from crosslmm_cli.synthetic.questions import OBJECT_TASKS  # noqa: E402
from research.ablation_table import object_accuracy  # noqa: E402  (this script's folder, on sys.path as it runs)

#: The model's shape. The encoder sees 64x64 frames as an 8x8 grid of 8-pixel patches (the grid the
#: synthetic world is drawn for: one patch is 16x16 px of a 128x128 clip, a dot fills one patch).
VISION = {"model_type": "siglip_vision_model", "hidden_size": 128, "intermediate_size": 384,
          "num_hidden_layers": 3, "num_attention_heads": 4, "image_size": 64, "patch_size": 8,
          "vision_use_head": False}
TEXT = {"model_type": "qwen2", "hidden_size": 128, "intermediate_size": 384, "num_hidden_layers": 4,
        "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 1024,
        "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0}, "tie_word_embeddings": True}
#: Cross-attention in every 2nd of the 4 LLM layers (the paper's K=4 would leave only the last).
CROSS_ATTENTION_LAYERS = [1, 3]
VOCAB_SIZE = 512  # the world has 145 words; 512 gives each a token of its own
#: Files that make a checkpoint (what ships); everything else in the run folder stays behind.
MODEL_FILES = ("config.json", "generation_config.json", "model.safetensors", "tokenizer.json",
               "tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja",
               "processor_config.json", "preprocessor_config.json")


def cli(*args: str, log: Path | None = None) -> None:
    """Run `python -m crosslmm_cli ARGS` (this checkout's code) and fail loudly if it fails."""
    command = [sys.executable, "-m", "crosslmm_cli", *args]
    print("$ crosslmm " + " ".join(args), flush=True)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    if log is None:
        result = subprocess.run(command, cwd=REPO, env=env)
    else:
        with open(log, "w", encoding="utf-8") as sink:  # the command's --json summary
            result = subprocess.run(command, cwd=REPO, env=env, stdout=sink)
    if result.returncode:
        raise SystemExit(f"crosslmm {args[0]} failed with exit code {result.returncode}")


def build_init(folder: Path, *, seed: int, tokens_per_frame: int, cross_attention: str, gates: float) -> None:
    """A fresh model: a BPE tokenizer trained on the world's text, random weights from `seed`.

    `gates` is the tanh gates' starting pre-activation. The paper starts them at 0 so that a
    pretrained LLM is undisturbed; a model trained from scratch has nothing to protect, and behind a
    shut gate the block's own weights get no gradient until the gate has moved.
    """
    from crosslmm_cli.modeling.random_checkpoint import random_model, random_processor
    from crosslmm_cli.synthetic import text_corpus

    processor = random_processor(tokens_per_frame, VISION["image_size"], corpus=text_corpus(), vocab_size=VOCAB_SIZE)
    layers = [] if cross_attention == "none" else CROSS_ATTENTION_LAYERS
    blocks = ["v2v", "t2v"] if cross_attention in ("none", "both") else [cross_attention]
    model, processor = random_model(
        "tiny", seed=seed, gates=gates if layers else None, processor=processor, vision_config=VISION,
        text_config=dict(TEXT),
        tokens_per_frame=tokens_per_frame, cross_attention_layers=layers, cross_attention_blocks=blocks,
        kv_tokens_per_frame=None, vision_chunk_size=64,
    )
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    params = sum(p.numel() for p in model.parameters())
    print(f"init: {params:,} parameters, vocabulary {len(processor.tokenizer)}, {tokens_per_frame} token(s) per frame, "
          f"cross-attention {cross_attention} in layers {layers} -> {folder}", flush=True)


#: tests/demo re-runs the first clips of the eval set; their scores are stored apart, so the test
#: compares the same questions (the whole set's accuracy varies by several points between subsets).
TEST_CLIPS = 16


def subset_scores(predictions: Path, clips: int = TEST_CLIPS) -> dict:
    """Bar-task accuracy and caption backgrounds on the eval clips numbered below `clips`."""
    from research.describe_quality import background

    rows = [json.loads(line) for line in predictions.read_text(encoding="utf-8").splitlines() if line.strip()]
    rows = [row for row in rows if int(Path(row["video"]).stem.rsplit("-", 1)[1]) < clips]
    bar = [row for row in rows if row["task"] in OBJECT_TASKS]
    described = [row for row in rows if row["task"] == "describe"]
    right_backgrounds = sum(background(r["prediction"]) == background(r["answer"]) for r in described)
    return {"clips": clips, "bar_n": len(bar), "bar_accuracy": sum(row["correct"] for row in bar) / max(1, len(bar)),
            "describe_n": len(described), "background": right_backgrounds / max(1, len(described))}


def describe_quality(predictions: Path) -> dict:
    """Background and scene count read off the captions (research/describe_quality.py)."""
    from research.describe_quality import describe_quality as measure

    return measure(predictions)


def with_tool_prompts(data: Path, out: Path) -> Path:
    """train.json plus records that ask the prompts `crosslmm describe` and `chapterize` send.

    The world phrases its own questions ("Describe the video."); the tool's commands use theirs:
    DESCRIBE_PROMPT (answer: the clip's caption) and, per chapter, TITLE_PROMPT over that
    chapter's frames alone (answer: the scene's chapter title, so only single-scene clips).
    """
    from crosslmm_cli.synthetic import caption, chapters, read_clips
    from crosslmm_cli.tasks import DESCRIBE_PROMPT, TITLE_PROMPT

    def record(video: str, kind: str, prompt: str, answer: str) -> dict:
        return {"id": f"{Path(video).stem}-{kind}", "video": video, "tasks": [kind],
                "conversations": [{"from": "human", "value": f"<video>\n{prompt}"}, {"from": "gpt", "value": answer}]}

    records = json.loads((data / "train" / "train.json").read_text(encoding="utf-8"))
    extra = []
    for video, clip in read_clips(data / "train" / "clips.jsonl"):
        extra.append(record(video, "describe", DESCRIBE_PROMPT, caption(clip)))
        if len(clip.scenes) == 1:
            extra.append(record(video, "title", TITLE_PROMPT, chapters(clip)[0]["title"]))
    out.write_text(json.dumps(records + extra), encoding="utf-8")
    print(f"{len(extra)} records with the tool's prompts added to {len(records)} -> {out}", flush=True)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work", type=Path, required=True, help="run folder (data, init, model, eval results)")
    parser.add_argument("--data", type=Path, help="reuse this synth folder instead of WORK/data")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n-train", type=int, default=4000, help="training clips")
    parser.add_argument("--n-eval", type=int, default=100, help="standard eval clips (novel: a quarter)")
    parser.add_argument("--tokens-per-frame", type=int, default=1)
    parser.add_argument("--cross-attention", choices=("none", "v2v", "t2v", "both"), default="both")
    parser.add_argument("--gates", type=float, default=1.0, help="initial gate pre-activation (tanh(1) = 0.76)")
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--turns", type=int, default=16, help="question-answer turns per training conversation")
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--vision-lr", type=float, default=2e-3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--eval-limit", type=int, help="score only the first N eval questions")
    parser.add_argument("--init-from", type=Path, help="start from this trained model instead of a fresh one")
    parser.add_argument("--tool-prompts", action="store_true",
                        help="also train on the prompts of `crosslmm describe` and `chapterize` (titles)")
    parser.add_argument("--install", action="store_true", help="copy the trained model into models/demo/")
    args = parser.parse_args(argv)

    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    data = (args.data or work / "data").resolve()
    started = time.monotonic()

    if not (data / "train" / "train.json").exists():
        cli("synth", "--out", str(data), "--n", str(args.n_train), "--seed", str(args.seed), "--split", "train",
            "--turns", str(args.turns))
    if not (data / "eval" / "eval.jsonl").exists():
        cli("synth", "--out", str(data), "--n", str(args.n_eval), "--seed", str(args.seed), "--split", "eval")

    train_file = data / "train" / "train.json"
    if args.tool_prompts:  # written beside train.json, so the video paths stay relative to it
        train_file = with_tool_prompts(data, data / "train" / "train-tool-prompts.json")

    init = args.init_from.resolve() if args.init_from else work / "init"
    if not (init / "model.safetensors").exists():
        build_init(init, seed=args.seed, tokens_per_frame=args.tokens_per_frame, cross_attention=args.cross_attention,
                   gates=args.gates)

    model = work / "model"
    if not (model / "model.safetensors").exists():
        # Stage 2 trains everything; name the groups, since a model without some blocks has none to train.
        blocks = {"none": [], "both": ["v2v", "t2v"]}.get(args.cross_attention, [args.cross_attention])
        groups = ["projector", "llm", "vision", *blocks]
        cli("train", "--stage", "2", "--trainable", ",".join(groups), "--model", str(init), "--data", str(train_file),
            "--output", str(model), "--frames", str(args.frames), "--epochs", "1000", "--max-steps", str(args.steps),
            "--batch-size", str(args.batch_size), "--lr", str(args.lr), "--vision-lr", str(args.vision_lr),
            "--warmup", "0.05", "--seed", str(args.seed), "--threads", str(args.threads), "--workers", "1",
            "--save-every", "500", "--log-every", "10", "--frame-cache", str(data / "frame-cache"), "--quiet", "--json",
            log=work / "train.json")

    summaries = {}
    for name in ("eval", "eval_novel"):
        result = work / f"{name}.json"
        if not result.exists():
            extra = ["--limit", str(args.eval_limit)] if args.eval_limit else []
            cli("eval", "--model", str(model), "--data", str(data / "eval" / f"{name}.jsonl"), "--frames",
                str(args.frames), "--threads", str(args.threads), "--max-new-tokens", "120", "--quiet", "--json",
                "--jsonl", str(work / f"{name}-predictions.jsonl"), *extra, log=result)
        summary = json.loads(result.read_text())
        summaries[name] = {**summary, "bar_accuracy": object_accuracy(summary),
                           "describe_quality": describe_quality(work / f"{name}-predictions.jsonl"),
                           "first_clips": subset_scores(work / f"{name}-predictions.jsonl")}
        tasks = ", ".join(f"{task} {v['accuracy']:.1%}" for task, v in summary["tasks"].items())
        print(f"{name}: {summary['accuracy']:.1%} of {summary['n']} ({tasks})", flush=True)

    if args.install:
        for name in MODEL_FILES:
            if (model / name).exists():
                shutil.copyfile(model / name, HERE / name)  # plain 644 files, not the 600 of atomic writes
        (HERE / "eval.json").write_text(json.dumps(summaries, indent=1) + "\n", encoding="utf-8")
        print(f"installed {model} -> {HERE}", flush=True)
    print(f"done in {time.monotonic() - started:.0f} s", flush=True)


if __name__ == "__main__":
    main()
