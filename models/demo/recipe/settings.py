"""What a build makes: the model's shape, each stage's budget, and the ablation's settings.

The shape: a SigLIP-architecture encoder of width 128 (3 layers) on 128x128 frames cut into an
8x8 grid of 16-pixel patches (one patch is one cell of the synthetic world's grid: a dot fills
one), and a Qwen2-architecture LLM of width 128 (4 layers). Cross-attention (V2V and T2V) sits in
every LLM layer: with 4 layers the paper's "every K-th" would leave one, and stage 1a trains the
first. The gates start open (tanh(1) = 0.76): a model trained from scratch has no pretrained
behaviour to protect, and behind a shut gate a block gets almost no gradient (measured: gates at
0 barely moved in stage 1). Frames carry a time embedding in the cross-attention's keys and
values (`kv_time_embedding`), so a word can tell the start of a clip from its end. The K/V are
the encoder's own patch features (`kv_source="vision"`), not the projector's: measured with the
attention fixed on the named object (its rendered coverage), a linear readout told its motion at
94% from the encoder's features and at 69% from the projected ones of the previous demo
(`research/motion_probe.py`), and stage 1a learnt colour and shape in half the steps on them
(0.81 / 0.83 at step 500, against 0.51 / 0.26).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from recipe.grounding import GroundingSettings
from recipe.vision import VisionSettings

IMAGE_SIZE = 128
VISION = {"model_type": "siglip_vision_model", "hidden_size": 128, "intermediate_size": 384, "num_hidden_layers": 3,
          "num_attention_heads": 4, "image_size": IMAGE_SIZE, "patch_size": IMAGE_SIZE // 8, "vision_use_head": False}
TEXT = {"model_type": "qwen2", "hidden_size": 128, "intermediate_size": 384, "num_hidden_layers": 4,
        "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 2048,
        "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0}, "tie_word_embeddings": True}
VOCAB_SIZE = 640  # the world's words, and the tool's prompts as whole tokens (a first prompt of 149 tokens, not 248)


@dataclass(frozen=True)
class BuildSettings:
    seed: int = 0
    n_train: int = 4000
    n_monitor: int = 100  # stage 0a/1a report on these; nothing is selected by them
    n_bars: int = 200  # the bars' clips: a seed no stage reads
    frames: int = 8
    tokens_per_frame: int = 1
    cross_attention: str = "both"  # none | v2v | t2v | both
    gates: float = 1.0
    kv_source: str = "vision"  # the cross-attention reads the encoder's own features (they keep where things are)
    vision: VisionSettings = field(default_factory=VisionSettings)
    language_steps: int = 400  # batches of 16 text records
    grounding: GroundingSettings = field(default_factory=lambda: GroundingSettings(
        steps=2000, place_weight=20.0, head_places=True, replies=True, whole_reply=("shape",)))
    caption_steps: int = 250  # stage 1b, batches of 8 captions
    finetune_steps: int = 5000  # stage 2, batches of 4 conversations
    polish_steps: int = 1500  # stage 2b: stage 2 again from its end, at polish_lr (0: none)
    polish_lr: float = 3e-4

    def __post_init__(self) -> None:
        # Every stage draws from the build's seed, so `--seed 1` is a second draw of the whole recipe
        # (stage 0a and 1a kept seed 0 whatever the build's seed was).
        object.__setattr__(self, "vision", replace(self.vision, seed=self.seed))
        object.__setattr__(self, "grounding", replace(self.grounding, seed=self.seed))

    @property
    def grounded(self) -> bool:
        """Stage 1a runs where there is T2V: it trains the projector, the time embedding and T2V."""
        return self.cross_attention in ("t2v", "both")

    @property
    def grounding_steps(self) -> int:
        return self.grounding.steps if self.grounded else 0

    @property
    def blocks(self) -> list[str]:
        return {"none": [], "both": ["v2v", "t2v"]}.get(self.cross_attention, [self.cross_attention])

    @property
    def stage1_groups(self) -> str:
        """Stage 1b on captions: the projector and V2V (the paper's stage 1), T2V where stage 1a trained it."""
        return ",".join(["projector", *self.blocks])

    @property
    def stage2_groups(self) -> str:
        """Stage 2: everything but the encoder. The projector must go on training: its output is the
        LLM's frame tokens, which stage 1a trained only as far as they shape the words' queries
        (measured with projected K/V: with it frozen after 1a, stage 2 answered every caption with
        one background, i.e. the LLM read nothing from its frame tokens)."""
        return ",".join(["projector", "llm", *self.blocks])


def _ablation(cross_attention: str, tokens_per_frame: int = 1):  # noqa: ANN202
    return lambda seed: replace(BuildSettings(seed=seed), cross_attention=cross_attention, tokens_per_frame=tokens_per_frame)


#: `build.py --setting NAME`: the shipped demo and the Table 2a miniature (docs/ablation.md).
SETTINGS = {
    "demo": lambda seed: BuildSettings(seed=seed),
    "none-1": _ablation("none"),
    "v2v-1": _ablation("v2v"),
    "t2v-1": _ablation("t2v"),
    "both-1": _ablation("both"),
    "none-16": _ablation("none", 16),
    # Every stage for a few steps on a few clips: checks that the build runs, in minutes.
    "smoke": lambda seed: BuildSettings(seed=seed, n_train=24, n_monitor=8, n_bars=8, language_steps=4, caption_steps=4,
                                        finetune_steps=4, polish_steps=2, vision=VisionSettings(steps=4, eval_every=2),
                                        grounding=replace(BuildSettings().grounding, steps=4, eval_every=2)),
}


def tool_texts() -> list[str]:
    """The tool's own prompt texts, for the tokenizer: the system prompt, the time instructions of
    the frame counts and durations the world has, describe and title prompts, the context marker."""
    from crosslmm_cli.modeling.prompting import time_instruction
    from crosslmm_cli.tasks import DESCRIBE_PROMPT, TITLE_PROMPT

    texts = ["You are a helpful assistant.", DESCRIBE_PROMPT, TITLE_PROMPT, "Video description:"]
    for n in (1, 2, 4, 6, 8, 12, 16, 32):
        for duration in (3.0, 3.5, 4.0, 7.0, 10.5, 12.0):
            times = [i * duration / n for i in range(n)]
            texts += [time_instruction(times, duration), time_instruction(times, duration, segment=(duration / 3, 2 * duration / 3))]
    return texts


def init_model(output: Path, settings: BuildSettings) -> None:
    """A fresh model: a BPE tokenizer trained on the world's text and the tool's prompts, random weights from the seed."""
    from crosslmm_cli.modeling.random_checkpoint import random_model, random_processor
    from crosslmm_cli.synthetic import text_corpus

    layers = [] if settings.cross_attention == "none" else list(range(TEXT["num_hidden_layers"]))
    processor = random_processor(settings.tokens_per_frame, IMAGE_SIZE, corpus=text_corpus() + tool_texts() * 10,
                                 vocab_size=VOCAB_SIZE)
    model, processor = random_model(
        "tiny", seed=settings.seed, gates=settings.gates if layers else None, processor=processor, vision_config=VISION,
        text_config=dict(TEXT), tokens_per_frame=settings.tokens_per_frame, cross_attention_layers=layers,
        cross_attention_blocks=settings.blocks or ["v2v", "t2v"], kv_tokens_per_frame=None, vision_chunk_size=64,
        kv_time_embedding=bool(layers), kv_source=settings.kv_source)
    processor.num_frames = settings.frames
    model.save_pretrained(output)
    processor.save_pretrained(output)
    print(f"init: {sum(p.numel() for p in model.parameters()):,} parameters, vocabulary {len(processor.tokenizer)}, "
          f"cross-attention {settings.cross_attention} in layers {layers} -> {output}", flush=True)
