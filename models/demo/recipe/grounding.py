"""Stage 1a: teach the first layer's cross-attention to find what a word names.

A question names its object by a word ("the circle", "the red object", "the red dot"). At that
word's position, in the LLM's first layer, T2V reads the frames with the word's hidden state as
its query: the state the model itself has there (the embedding plus the first layer's
self-attention over the prompt, the frame tokens included), computed by running the real prompt
through the model up to that block. Here that read is trained directly: its output must tell,
through linear heads, the named object's colour, shape, size, motion and corner, or that nothing
of that name is there. The scene spec gives every answer; the encoder and the LLM stay frozen,
the encoder's features are computed once. In stage 2 the LLM then only has to pass what the word
found on to the answer, which it learnt to do from text in stage 0b.

The read must also say where the object is at the start and at the end (`place`, the centre in
the first and the last sampled frame, a regression): motion is the difference, and only heads
that read early and late frames apart can give both. Measured on the monitor clips after 750
steps, with the K/V read from the encoder's features: the place error fell from 0.42 (weight 1)
to 0.16 half frame widths (weight 20), the corner head rose from 0.91 to 0.97 and colour from
0.89 to 0.92; the motion head stayed at chance (0.33) either way. One head of four had learnt to
bind the named object (0.81 of its attention on it, the others under 0.07), reading first and
last frames alike. So each head must also give a place on its own (`head_places`: even heads the
start, odd heads the end): at step 500 the motion the places imply rose from 0.34 to 0.56.

Stage 2 makes each answer word in the reply, not at the question's word ("The ring is" -> "red"),
so the read is also trained there (`replies`): at the last word before the answer of each of the
world's own sentence answers, and where the reply begins for count questions. With both, after
1,500 steps: motion 0.64 (0.36 without), colour 0.70 and shape 0.65 (0.94 and 0.90 without); at
the reply's words alone colour 0.56, shape 0.50, motion 0.55.

Shape replies must copy the question's colour ("Which shape is cyan?" -> "It is a cyan ring."),
and the model named a colour of the video instead in 25 of 142. So for shape questions every
word of the reply before the answer reads the named object too (`whole_reply`: "It", "It is",
"It is a"), with its classes but no place: those words do not name the object yet. Measured at
2,000 steps: with such rows for every kind and with places, the places never separated (motion
0.34, the implied motion at chance, 0.25); for shape alone without places, motion 0.67, colour
0.70, shape 0.65, count 0.72, at those early words shape 0.37.

Count stayed the weakest: one softmax read gives proportions, not how many. So each frame token
(the projector's output, what the LLM's self-attention sees) must also tell how many objects its
frame shows (`frame_count_weight`, a linear head on the token; dots are not objects). Measured at
2,000 steps with weight 1, against the same stage 0 without it: that head reads 0.997 of held-out
frames right, the read's count rose from 0.705 to 0.752 and motion from 0.560 to 0.682, colour
0.701 (0.697), shape 0.629 (0.637). On the bar clips after stage 2 it gave count 84.9% and colour
98.7%, but shape 53.5% (shape replies copied the question's colour in 75 of 142) and motion 52.0%,
so the demo leaves it off (models/demo/README.md).

Measured while building the recipe: with the word's bare embedding as the query (what this stage
did first), the heads reached colour 94% and shape 90%, but in stage 2 the model answered every
colour question alike (18% after 500 steps): in the model the query is the state after
self-attention, which the bare embedding is not.

Measured while building the recipe (docs/ablation.md): trained through the LLM alone (stage 2
from a fresh cross-attention), colour questions were still at 41% and motion at chance after
1,600 steps of object questions, where a direct readout learns colour in a hundred steps.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from crosslmm_cli.synthetic.world import COLOURS, CORNERS, MOTIONS, SHAPES, SIZES

ABSENT = "absent"  # the word names nothing in the clip
TARGETS: dict[str, tuple[str, ...]] = {
    "colour": (ABSENT, *COLOURS),
    "shape": (ABSENT, *SHAPES, "dot"),
    "size": (ABSENT, *SIZES, "tiny"),
    "motion": (ABSENT, *MOTIONS),
    "corner": (ABSENT, "none", *CORNERS),  # "none": a legible object, not a dot
    "count": (ABSENT, "zero", "one", "two", "three", "four"),  # read at the last word of a count question
}
IGNORE = -100  # no target (a colour that changes mid-clip has no one answer)
NOWHERE = (math.nan,) * 4  # no place target: the word names nothing


@dataclass(frozen=True)
class GroundingSettings:
    steps: int = 1500
    batch_size: int = 64
    lr: float = 2e-3
    warmup_steps: int = 50
    absent_fraction: float = 0.15  # of queries naming nothing in the clip
    seed: int = 0
    eval_every: int = 250
    layer: int = 0
    time_init_std: float = 0.0  # start the frame-time embedding here instead of at zero
    max_ratio: float = 0.5  # T2V's output norm over the hidden state's, at most (a penalty above it)
    ratio_weight: float = 1.0
    place_weight: float = 0.0  # the named object's centre in the first and in the last sampled frame (a regression)
    head_places: bool = False  # each head alone must also give a place: even heads the start, odd heads the end
    replies: bool = False  # also read where the world's sentence answers make their answer word (`reply_queries`)
    whole_reply: tuple[str, ...] = ()  # ... and, for these question kinds, at every word of the reply before it
    frame_count_weight: float = 0.0  # each frame token must tell how many objects its frame shows (`frame_counts`)


#: Questions that name an object by its shape word, or by its colour word, as the world asks them.
NAMING = {
    "shape": ("What colour is the {word}?", "Which colour is the {word}?", "How big is the {word}?",
              "Which way does the {word} move?", "Where does the {word} go?", "What size is the {word}?"),
    "count": ("How many shapes are there?", "How many shapes can you see?", "Count the shapes."),
    "start": ("How many shapes are there at the start?", "How many shapes can you see at the start?"),
    "end": ("How many shapes are there at the end?", "Count the shapes at the end."),
    "colour": ("Which shape is {word}?", "What shape is the {word} object?", "Where is the {word} dot?",
               "How big is the {word} object?", "Which way does the {word} object move?", "Is there a {word} dot?"),
}


class _Captured(Exception):
    """Raised by the hook once the block's input is caught: the layers above are not needed."""


def queries_of(clip: Any, rng: np.random.Generator, absent_fraction: float,
               span: tuple[float, float] = (0.0, 0.0)) -> list[tuple[str, dict[str, Any]]]:
    """(word, targets) for every colour and shape word that names one thing in the clip's only
    scene, and some that name nothing. `span`: the first and last sampled frames' times, where
    the "place" target gives the named object's centre (x, y in [-1, 1], both frames)."""
    scene = clip.scenes[0]
    changing = scene.event.target if scene.event is not None and scene.event.kind == "change" else None
    out = []
    for index, thing in enumerate(scene.things):
        targets = thing_targets(scene, index, span)
        if index != changing:
            out.append((thing.colour, targets))
        if not thing.is_dot:
            out.append((thing.shape, targets))
    named = {word for word, _ in out} | {thing.colour for thing in scene.things}
    unused = [word for word in (*COLOURS, *SHAPES) if word not in named]
    wanted = round(len(out) * absent_fraction / (1 - absent_fraction))
    for word in rng.permutation(unused)[:wanted]:
        out.append((str(word), {**{name: 0 for name in TARGETS}, "count": IGNORE, "place": NOWHERE}))
    counting = {**{name: IGNORE for name in TARGETS}, "place": NOWHERE}
    if scene.event is not None and scene.event.kind in ("appear", "disappear"):
        out += [(when, {**counting, "count": 1 + scene.count(t)}) for when, t in (("start", 0.0), ("end", scene.duration))]
    else:
        out.append(("shapes", {**counting, "count": 1 + scene.count(0.0)}))
    return out


def thing_targets(scene: Any, index: int, span: tuple[float, float]) -> dict[str, Any]:
    """What a word naming thing `index` must find: its classes, and its centre at `span`'s ends."""
    from crosslmm_cli.synthetic.captions import dot_corner

    thing = scene.things[index]
    changing = scene.event is not None and scene.event.kind == "change" and scene.event.target == index
    return {"colour": IGNORE if changing else TARGETS["colour"].index(thing.colour),
            "shape": TARGETS["shape"].index(thing.shape), "size": TARGETS["size"].index(thing.size),
            "motion": TARGETS["motion"].index(thing.motion),
            "corner": TARGETS["corner"].index(dot_corner(thing) if thing.is_dot else "none"),
            "count": IGNORE, "place": tuple(2 * v - 1 for t in span for v in thing.position(t))}


def reply_queries(clip: Any, config: Any, rng: np.random.Generator, span: tuple[float, float],
                  every_word: tuple[str, ...] = ()) -> list[tuple[str, str, dict[str, Any]]]:
    """(question, reply prefix, targets) for each of the world's own questions about an object of
    the clip's only scene that it answers with a sentence, and each count question: the prefix runs
    up to the word the answer turns on ("The ring is" of "The ring is red."; nothing before a bare
    number), where stage 2 makes the answer word. For the question kinds in `every_word`, also each
    shorter prefix ("It", "It is", "It is a" of "It is a cyan ring."), marked "early", with the
    named object's classes but no place: every word of the reply reads the object the question
    names, and the reply's first words, which do not name it yet, do not pull the places apart."""
    from crosslmm_cli.synthetic.questions import scene_questions

    scene = clip.scenes[0]
    out = []
    for qa in scene_questions(scene, config, rng):
        if qa.kind == "count":
            out.append((qa.question, "", {**{name: IGNORE for name in TARGETS}, "count": TARGETS["count"].index(qa.answer),
                                          "place": NOWHERE}))
            continue
        if not qa.statement or qa.subject is None:
            continue
        index = next(i for i, thing in enumerate(scene.things) if thing.shape == qa.subject[1] and not thing.is_dot)
        words = qa.statement[: qa.statement.rindex(" " + qa.answer)].split(" ")
        targets = thing_targets(scene, index, span)
        early = {**targets, "place": NOWHERE, "early": True}
        out += [(qa.question, " ".join(words[:n]), targets if n == len(words) else early)
                for n in range(1 if qa.kind in every_word else len(words), len(words) + 1)]
    return out


def frame_counts(scene: Any, timestamps: list[float]) -> list[int]:
    """The count head's class (TARGETS["count"] index, as `queries_of` gives it) of each sampled
    frame: the legible objects it shows."""
    return [1 + scene.count(t) for t in timestamps]


def word_ids(tokenizer: Any, words: list[str]) -> dict[str, int]:
    """Each word's token as it stands in a sentence (with its leading space); one token each."""
    ids = {}
    for word in words:
        encoded = tokenizer(" " + word, add_special_tokens=False)["input_ids"]
        if len(encoded) != 1:
            raise ValueError(f"the tokenizer splits {word!r} into {len(encoded)} tokens; the recipe needs one")
        ids[word] = encoded[0]
    return ids


def pretrain_grounding(model_dir: Path, train_split: Path, held_out_split: Path, output: Path,
                       settings: GroundingSettings, *, cache_dir: Path, frames: int, threads: int,
                       log: Any = print) -> dict[str, Any]:
    """Train the projector, the time embedding and layer `settings.layer`'s T2V on word queries
    (`threads` pinned, as in stage 0a: the bits a seed gives depend on it)."""
    import torch
    from torch import nn
    from torch.nn import functional as F

    from crosslmm_cli.checkpoints.loader import load_model
    from crosslmm_cli.engine.options import FrameOptions
    from crosslmm_cli.synthetic import WorldConfig, read_clips
    from crosslmm_cli.training.frame_cache import FrameLoader
    from recipe.grounding_scores import held_out_hits, rates

    started = time.monotonic()
    torch.set_num_threads(threads)
    torch.manual_seed(settings.seed)
    model, processor = load_model(model_dir, quantize="none", device="cpu")
    loader = FrameLoader(processor.image_processor, FrameOptions(num_frames=frames), cache_dir=cache_dir, exact=True)
    ids = word_ids(processor.tokenizer, [*COLOURS, *SHAPES, "shapes", "start", "end"])
    rng = np.random.default_rng(settings.seed)

    def examples(split: Path) -> tuple[Any, list[tuple[int, Any, int, dict[str, int]]], Any]:
        """Encoded clips, per query (clip, prompt ids, the word's position, targets), and per clip
        each sampled frame's object count (the count head's class)."""
        features, rows, counts = [], [], []
        config = WorldConfig.from_dict(json.loads((split / "world.json").read_text(encoding="utf-8")))
        for video, clip in read_clips(split / "clips.jsonl"):
            if len(clip.scenes) != 1:
                continue
            frames = loader.load(split / video)
            with torch.no_grad():
                features.append(model.get_video_features(loader.pixels(frames)[None])[0].half())
            timestamps = [float(t) for t in frames.timestamps]
            counts.append(frame_counts(clip.scenes[0], timestamps))
            for word, targets in queries_of(clip, rng, settings.absent_fraction, (timestamps[0], timestamps[-1])):
                templates = NAMING[word if word in ("start", "end") else "count" if word == "shapes"
                                   else "shape" if word in SHAPES else "colour"]
                question = templates[int(rng.integers(len(templates)))].format(word=word)
                prompt = processor.build_prompt(question, timestamps=timestamps, duration=frames.duration)
                prompt_ids = processor(text=[prompt], num_frames=len(timestamps))["input_ids"][0]
                position = int((prompt_ids == ids[word]).nonzero()[-1])
                rows.append((len(features) - 1, prompt_ids, position, targets))
            if settings.replies:
                for question, prefix, targets in reply_queries(clip, config, rng, (timestamps[0], timestamps[-1]),
                                                                settings.whole_reply):
                    prompt = processor.build_prompt(question, timestamps=timestamps, duration=frames.duration) + prefix
                    prompt_ids = processor(text=[prompt], num_frames=len(timestamps))["input_ids"][0]
                    rows.append((len(features) - 1, prompt_ids, len(prompt_ids) - 1, {**targets, "reply": True}))
        return torch.stack(features), rows, torch.tensor(counts)

    train_features, train_rows, train_counts = examples(train_split)
    held_features, held_rows, held_counts = examples(held_out_split)
    log(f"stage 1a: {len(train_rows)} queries on {len(train_features)} clips, {len(held_rows)} held out "
        f"({time.monotonic() - started:.0f} s to encode)")
    inner = model.model
    block = inner.language_model.layers[settings.layer].cross_attn
    width = model.config.text_config.hidden_size
    heads = nn.ModuleDict({**{name: nn.Linear(width, len(classes)) for name, classes in TARGETS.items()},
                           "place": nn.Linear(width, 4)})
    if settings.frame_count_weight:  # only then: its initial weights would draw from the RNG the others use after it
        heads["frame_count"] = nn.Linear(width, len(TARGETS["count"]))
    t2v = block.t2v
    head_place = nn.ModuleList([nn.Linear(t2v.head_dim, 2) for _ in range(t2v.num_heads)])
    for param in model.parameters():
        param.requires_grad_(False)
    trained = [*inner.multi_modal_projector.parameters(), *block.parameters(), *heads.parameters(),
               *(head_place.parameters() if settings.head_places else ())]
    if inner.kv_time_embedding is not None:
        trained += list(inner.kv_time_embedding.parameters())
        if settings.time_init_std:
            with torch.no_grad():
                inner.kv_time_embedding.weight.normal_(0.0, settings.time_init_std)
    for param in trained:
        param.requires_grad_(True)
    optimizer = torch.optim.AdamW(trained, lr=settings.lr, weight_decay=0.0)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: min(1.0, (s + 1) / settings.warmup_steps)
                                                 * 0.5 * (1 + math.cos(math.pi * min(1.0, s / settings.steps))))

    def read(features: Any, rows: list) -> dict[str, Any]:
        """The model's own layer-`layer` T2V read at each query's word, through the heads."""
        longest = max(len(r[1]) for r in rows)
        input_ids = torch.full((len(rows), longest), processor.tokenizer.pad_token_id or 0, dtype=torch.long)
        mask = torch.zeros((len(rows), longest), dtype=torch.long)
        for i, r in enumerate(rows):  # left-padded, as generation pads
            input_ids[i, longest - len(r[1]):], mask[i, longest - len(r[1]):] = r[1], 1
        positions = torch.tensor([longest - len(r[1]) + r[2] for r in rows])
        caught: dict[str, Any] = {}

        def catch(module: Any, args: tuple) -> None:
            caught["hidden"], caught["context"] = args[0], args[1]
            raise _Captured

        handle = block.register_forward_pre_hook(catch)
        try:
            inner(input_ids=input_ids, attention_mask=mask, position_ids=(mask.cumsum(-1) - 1).clamp(min=0),
                  video_features=features[torch.tensor([r[0] for r in rows])].float(), use_cache=False)
        except _Captured:
            pass
        finally:
            handle.remove()
        hidden = caught["hidden"]  # (B, L, D): every position's query, as in the model
        key, value = caught["context"].t2v_key_values(settings.layer, t2v)
        # o_proj's input is every head's own output, side by side: `head_places` reads each alone.
        handle = t2v.o_proj.register_forward_pre_hook(lambda module, args: caught.update(heads=args[0])) \
            if settings.head_places else None
        try:
            delta = torch.tanh(block.gate_t2v) * t2v.attend_all_frames(block.norm(hidden), key, value)
        finally:
            if handle is not None:
                handle.remove()
        found = delta[torch.arange(len(rows)), positions]
        places = None
        if settings.head_places:
            each = caught["heads"][torch.arange(len(rows)), positions].view(len(rows), t2v.num_heads, t2v.head_dim)
            places = torch.stack([linear(each[:, h]) for h, linear in enumerate(head_place)], dim=1)  # (B, H, 2)
        # What T2V adds must not drown the text it is added to: at every text position its norm is
        # kept under `max_ratio` of the hidden state's (measured: unchecked, it grew to 10-16 times
        # it, and the frozen LLM could no longer read the question).
        text = (mask == 1) & (input_ids != processor.video_token_id)
        ratio = delta.norm(dim=-1) / hidden.norm(dim=-1).clamp(min=1e-6)
        excess = (F.relu(ratio - settings.max_ratio) ** 2)[text].mean()
        return {**{name: head(found) for name, head in heads.items()}, "head_place": places, "excess": excess,
                "ratio": ratio[text].mean()}

    def targets(rows: list) -> dict[str, Any]:
        return {name: torch.tensor([r[3][name] for r in rows]) for name in (*TARGETS, "place")}

    def place_loss(out: dict[str, Any], want: dict[str, Any]) -> Any:
        """Mean squared error of the named object's start and end centres (named objects only)."""
        known = ~want["place"].isnan().any(-1)
        if not bool(known.any()):
            return out["place"].sum() * 0
        loss = F.mse_loss(out["place"][known], want["place"][known])
        if settings.head_places:  # (B, H, 2) against the start (even heads) or the end (odd heads)
            wanted = want["place"].view(-1, 2, 2)[:, torch.arange(out["head_place"].shape[1]) % 2]
            loss = loss + F.mse_loss(out["head_place"][known], wanted[known])
        return loss

    def frame_count_logits(features: Any) -> Any:
        """The count head on each frame's token as the LLM receives it (projector output, 1 token a frame)."""
        tokens, _ = inner.prepare_video_tokens(features.float(), 1, with_key_values=False)
        return heads["frame_count"](tokens[:, : features.shape[1]])  # (B, T, classes); the newline token dropped

    def frame_count_accuracy() -> float:
        with torch.no_grad():
            right = sum(int((frame_count_logits(held_features[i : i + 64]).argmax(-1) == held_counts[i : i + 64]).sum())
                        for i in range(0, len(held_features), 64))
        return right / held_counts.numel()

    question_rows = [r for r in held_rows if not r[3].get("reply")]
    reply_rows = [r for r in held_rows if r[3].get("reply") and not r[3].get("early")]
    early_rows = [r for r in held_rows if r[3].get("early")]  # `whole_reply`: the words before the last
    history = []
    generator = torch.Generator().manual_seed(settings.seed)
    for step in range(1, settings.steps + 1):
        batch = [train_rows[i] for i in torch.randint(0, len(train_rows), (settings.batch_size,), generator=generator)]
        out, want = read(train_features, batch), targets(batch)
        loss = settings.ratio_weight * out["excess"] + sum(
            F.cross_entropy(out[name], want[name], ignore_index=IGNORE)
            for name in TARGETS if bool((want[name] != IGNORE).any()))  # a head with no target here: no term
        if settings.place_weight:
            loss = loss + settings.place_weight * place_loss(out, want)
        if settings.frame_count_weight:
            clips = torch.randint(0, len(train_features), (settings.batch_size,), generator=generator)
            logits = frame_count_logits(train_features[clips])
            loss = loss + settings.frame_count_weight * F.cross_entropy(logits.flatten(0, 1), train_counts[clips].flatten())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trained, 1.0)
        optimizer.step()
        schedule.step()
        if step % settings.eval_every == 0 or step == settings.steps:
            asked = held_out_hits(read, targets, held_features, question_rows)
            scores = rates(asked)
            if reply_rows:  # all queries together, and the reply's words alone
                replied = held_out_hits(read, targets, held_features, reply_rows)
                scores = rates(asked, replied) | {f"reply_{k}": v for k, v in rates(replied).items()
                                                  if k in ("colour", "shape", "size", "motion", "place_error")}
            if early_rows:  # the reply's earlier words (not in the figures above: they stay comparable)
                scores |= {f"early_{k}": v for k, v in rates(held_out_hits(read, targets, held_features, early_rows)).items()
                           if k in ("colour", "shape", "motion")}
            if settings.frame_count_weight:
                scores["frame_count"] = frame_count_accuracy()
            history.append({"step": step, "loss": round(float(loss.detach()), 4), "elapsed_s": round(time.monotonic() - started, 1), **scores})
            scores["ratio"] = round(float(out["ratio"]), 3)
            log(f"stage 1a step {step}: " + ", ".join(f"{k} {v:.3f}" for k, v in scores.items()))
    model.save_pretrained(output)
    processor.save_pretrained(output)
    result = {"settings": asdict(settings), "queries": len(train_rows), "seconds": round(time.monotonic() - started, 1),
              "scores": history[-1], "history": history}
    (output / "stage1a.json").write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    return result
