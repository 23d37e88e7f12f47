"""Rebuild the bundled `demo` model from a seed, stage by stage, as real video LLMs are built.

    python models/demo/build.py                      # WORK = runs/demo; add --install to ship it
    python models/demo/build.py --setting t2v-1      # an ablation run (docs/ablation.md)

Stages (each skipped when its output exists, so an interrupted build resumes; WORK/times.json
says how long each took):
  data   `crosslmm synth`: N_TRAIN training clips from SEED; a monitor split (SEED+1) that only
         stage 0a and 1a report on; and the bar split (SEED+2), which no stage ever reads
  init   a tokenizer trained on the world's text and the tool's prompts; random weights from SEED
  0a     vision: the encoder learns what covers each patch (recipe/vision.py)        } in parallel,
  0b     language: `crosslmm train --trainable llm` on the world's text (recipe.records)  } one core each
  merge  the init model with 0a's encoder and 0b's LLM
  1a     grounding: projector, time embedding and layer 0's T2V learn to find what a word names
         and where it is at the start and the end, at the question's word and at the reply's
         (recipe/grounding.py), encoder and LLM frozen
  1b     `crosslmm train --stage 1` on captions: projector + cross-attention, encoder and LLM frozen
  2      `crosslmm train --stage 2` on every question of the world and the tool's own prompts
  2b     the same again from stage 2's end, at a lower learning rate (polish_steps)
  eval   `crosslmm eval` on the bar split (multiple choice and open), caption facts, chapters
  --install copies the model files and WORK/eval.json into models/demo/
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(REPO))  # this checkout's crosslmm_cli, installed or not
sys.path.insert(0, str(HERE))  # recipe/ and research/

from recipe.settings import SETTINGS, BuildSettings, init_model  # noqa: E402

#: Files that make a checkpoint (what ships); everything else in the run folder stays behind.
MODEL_FILES = ("config.json", "generation_config.json", "model.safetensors", "tokenizer.json",
               "tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja",
               "processor_config.json", "preprocessor_config.json")


def machine() -> dict[str, object]:
    """What the weights' bits depend on besides the seed: torch, the CPU kernels it picked, the cores."""
    import platform

    import torch

    return {"torch": torch.__version__, "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "cpus": os.cpu_count(), "processor": platform.processor() or platform.machine()}


def cli(*args: str, log: Path | None = None, threads: int = 1) -> None:
    """Run `python -m crosslmm_cli ARGS` (this checkout's code) and fail loudly if it fails."""
    command = [sys.executable, "-m", "crosslmm_cli", *args]
    print("$ crosslmm " + " ".join(args), flush=True)
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": str(threads)}
    with open(log, "w", encoding="utf-8") if log else open(os.devnull, "w") as sink:  # the command's --json summary
        result = subprocess.run(command, cwd=REPO, env=env, stdout=sink if log else None)
    if result.returncode:
        raise SystemExit(f"crosslmm {args[0]} failed with exit code {result.returncode}")


class Build:
    """One run folder: its stages, what each took, and the settings it was built with."""

    def __init__(self, work: Path, settings: BuildSettings, stage0_from: Path | None = None) -> None:
        self.work, self.settings = work, settings
        self.stage0_from = stage0_from  # another build whose stage 0a/0b (setting-independent parts) this one reuses
        self.data = work / "data"
        self.train, self.monitor, self.bars = self.data / "train", self.data / "monitor", self.data / "bars"
        self.frame_cache = self.data / "frame-cache"
        self.times_path = work / "times.json"
        self.times = json.loads(self.times_path.read_text()) if self.times_path.exists() else {}

    def stage(self, name: str, done: Path, run) -> None:  # noqa: ANN001 - a callable
        if done.exists():
            return
        started = time.monotonic()
        print(f"== stage {name}", flush=True)
        run()
        self.times[name] = round(time.monotonic() - started, 1)
        self.times_path.write_text(json.dumps(self.times, indent=1) + "\n")
        print(f"== stage {name}: {self.times[name]:.0f} s", flush=True)

    def train_cli(self, name: str, model: Path, data: Path, output: Path, *extra: str, threads: int = 1) -> None:
        s = self.settings
        cli("train", "--model", str(model), "--data", str(data), "--output", str(output), "--frames", str(s.frames),
            "--seed", str(s.seed), "--threads", str(threads), "--workers", "1", "--epochs", "1000",
            "--frame-cache", str(self.frame_cache), "--save-every", "250", "--log-every", "10", "--quiet", "--json",
            *extra, log=self.work / f"{name}.json", threads=threads)

    # --- the stages -----------------------------------------------------------------------------

    def make_data(self) -> None:
        s = self.settings
        for split, n, seed, name in ((self.train, s.n_train, s.seed, "train"), (self.monitor, s.n_monitor, s.seed + 1, "eval"),
                                     (self.bars, s.n_bars, s.seed + 2, "eval")):
            if not (split / "clips.jsonl").exists():
                cli("synth", "--out", str(split.parent / f"{split.name}-tmp"), "--n", str(n), "--seed", str(seed), "--split", name,
                    "--turns", "16", "--open-questions", "--workers", "2")
                (split.parent / f"{split.name}-tmp" / name).rename(split)
                shutil.rmtree(split.parent / f"{split.name}-tmp")
        from recipe.records import caption_records, language_records, question_records, tool_records, write_jsonl

        write_jsonl(self.train / "language.jsonl", language_records(self.train, seed=s.seed))
        write_jsonl(self.train / "captions.jsonl", caption_records(self.train, seed=s.seed))
        write_jsonl(self.train / "stage2.jsonl", question_records(self.train, seed=s.seed) + tool_records(self.train))

    def vision(self) -> None:
        from recipe.vision import pretrain_vision

        pretrain_vision(self.work / "init", self.train, self.monitor, self.work / "stage0a", self.settings.vision,
                        cache_dir=self.frame_cache, frames=self.settings.frames, threads=2, log=lambda m: print(m, flush=True))

    def language(self) -> None:
        s = self.settings
        self.train_cli("stage0b", self.work / "init", self.train / "language.jsonl", self.work / "stage0b",
                       "--trainable", "llm", "--max-steps", str(s.language_steps), "--batch-size", "16", "--lr", "2e-3",
                       "--warmup", "0.05")

    def stage0(self) -> None:
        """0a and 0b train disjoint parts on different data: run side by side, a core each."""
        with ThreadPoolExecutor(2) as pool:
            jobs = [pool.submit(self.stage, "0a vision", self.work / "stage0a" / "stage0a.json", self.vision),
                    pool.submit(self.stage, "0b language", self.work / "stage0b" / "model.safetensors", self.language)]
            for job in jobs:
                job.result()

    def merge(self) -> None:
        from recipe.weights import merge_groups

        source = self.stage0_from or self.work
        merge_groups(self.work / "init", self.work / "stage0", {"vision": source / "stage0a", "llm": source / "stage0b"})

    def grounding(self) -> None:
        from recipe.grounding import pretrain_grounding

        pretrain_grounding(self.work / "stage0", self.train, self.monitor, self.work / "stage1a", self.settings.grounding,
                           cache_dir=self.frame_cache, frames=self.settings.frames, threads=2, log=lambda m: print(m, flush=True))

    def captions(self) -> None:
        s = self.settings
        self.train_cli("stage1b", self.work / "stage1a", self.train / "captions.jsonl", self.work / "stage1b", "--stage", "1",
                       "--trainable", s.stage1_groups, "--max-steps", str(s.caption_steps), "--batch-size", "8",
                       "--lr", "1e-3", "--warmup", "0.05", threads=2)

    def finetune(self) -> None:
        s = self.settings
        start = self.work / ("stage1b" if s.caption_steps and s.stage1_groups else "stage1a")
        self.train_cli("stage2", start, self.train / "stage2.jsonl", self.finetuned, "--stage", "2",
                       "--trainable", s.stage2_groups, "--max-steps", str(s.finetune_steps), "--batch-size", "4",
                       "--lr", "1e-3", "--warmup", "0.03", threads=2)

    @property
    def finetuned(self) -> Path:
        return self.work / ("stage2" if self.settings.polish_steps else "model")

    def polish(self) -> None:
        """Stage 2b: the same records again from stage 2's end, at a lower learning rate."""
        s = self.settings
        self.train_cli("stage2b", self.finetuned, self.train / "stage2.jsonl", self.work / "model", "--stage", "2",
                       "--trainable", s.stage2_groups, "--max-steps", str(s.polish_steps), "--batch-size", "4",
                       "--lr", str(s.polish_lr), "--warmup", "0.02", threads=2)

    def evaluate(self) -> None:
        from research.scores import bar_scores, split_eval_file

        model = self.work / "model"
        for name, data in zip(("eval-mc", "eval-open"), split_eval_file(self.bars / "eval.jsonl")):
            cli("eval", "--model", str(model), "--data", str(data), "--threads", "2", "--max-new-tokens", "160", "--quiet",
                "--json", "--jsonl", str(self.work / f"{name}-predictions.jsonl"), log=self.work / f"{name}.json", threads=2)
        chapter_videos = self.bars / "chapter-videos"  # the multi-scene clips, where chapters have boundaries
        chapter_videos.mkdir(exist_ok=True)
        for row in (json.loads(line) for line in (self.bars / "chapters.jsonl").read_text().splitlines() if line.strip()):
            link = chapter_videos / Path(row["video"]).name
            if not link.exists():
                link.symlink_to(self.bars / row["video"])
        (self.work / "chapters.jsonl").unlink(missing_ok=True)
        cli("batch", str(chapter_videos), "--task", "chapterize", "--model", str(model), "--fps", "2", "--min-length", "2",
            "--output", str(self.work / "chapters.jsonl"), "--quiet", "--threads", "2", threads=2)
        scores = bar_scores(self.work, self.bars)
        (self.work / "eval.json").write_text(json.dumps({**scores, "times_s": self.times, "machine": machine()}, indent=1) + "\n")

    def run(self) -> None:
        s = self.settings
        self.work.mkdir(parents=True, exist_ok=True)
        if self.stage0_from is not None and not self.data.exists():
            self.data.symlink_to(self.stage0_from / "data", target_is_directory=True)  # the same clips and frame cache
        self.stage("data", self.train / "stage2.jsonl", self.make_data)
        self.stage("init", self.work / "init" / "model.safetensors", lambda: init_model(self.work / "init", s))
        if self.stage0_from is None:
            self.stage0()
        self.stage("merge", self.work / "stage0" / "model.safetensors", self.merge)
        if s.grounding_steps:
            self.stage("1a grounding", self.work / "stage1a" / "stage1a.json", self.grounding)
        else:
            shutil.copytree(self.work / "stage0", self.work / "stage1a", dirs_exist_ok=True)
        if s.caption_steps and s.stage1_groups:
            self.stage("1b captions", self.work / "stage1b" / "model.safetensors", self.captions)
        self.stage("2 fine-tune", self.finetuned / "model.safetensors", self.finetune)
        if s.polish_steps:
            self.stage("2b polish", self.work / "model" / "model.safetensors", self.polish)
        self.stage("eval", self.work / "eval.json", self.evaluate)


def install(work: Path) -> None:
    for name in MODEL_FILES:
        if (work / "model" / name).exists():
            shutil.copyfile(work / "model" / name, HERE / name)  # plain 644 files, not the 600 of atomic writes
    shutil.copyfile(work / "eval.json", HERE / "eval.json")
    print(f"installed {work / 'model'} -> {HERE}", flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work", type=Path, default=REPO / "runs" / "demo", help="run folder (default: runs/demo)")
    parser.add_argument("--setting", choices=sorted(SETTINGS), default="demo", help="what to build (docs/ablation.md)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--install", action="store_true", help="copy the trained model into models/demo/")
    parser.add_argument("--stage0-from", type=Path, help="reuse this build's stage 0a and 0b (the encoder and the LLM "
                        "do not depend on the setting: the ablation's runs share the demo's)")
    for stage in ("grounding", "caption", "finetune", "polish"):
        parser.add_argument(f"--{stage}-steps", type=int, help=f"override the setting's {stage} steps")
    args = parser.parse_args(argv)
    settings = SETTINGS[args.setting](args.seed)
    if args.grounding_steps is not None:
        settings = replace(settings, grounding=replace(settings.grounding, steps=args.grounding_steps))
    settings = replace(settings, **{f"{stage}_steps": getattr(args, f"{stage}_steps") for stage in ("caption", "finetune", "polish")
                                    if getattr(args, f"{stage}_steps") is not None})
    work = args.work.resolve()
    started = time.monotonic()
    Build(work, settings, args.stage0_from.resolve() if args.stage0_from else None).run()
    if args.install:
        install(work)
    print(f"done in {time.monotonic() - started:.0f} s; scores in {work / 'eval.json'}", flush=True)


if __name__ == "__main__":
    main()
