"""The training records of each stage, in the trainer's LLaVA format, from a `crosslmm synth` split.

- stage 0b, `language_records`: text only. The world's captions as answers to the describe
  prompts (the LLM learns the grammar it must produce), and questions answered from a caption
  given in context, half of them multiple choice (it learns to read a fact and pick the option
  that says it), and chapter titles from a scene's description.
- stage 1, `caption_records`: each clip with its caption.
- stage 2, `question_records`: every question the world asks about a clip, open or multiple
  choice, packed into conversations; and `tool_records`: the prompts the tool itself sends:
  `describe` (the caption), and a chapter title for every scene, asked about that scene's part of
  the video exactly as `chapterize` asks (frames from that part, the prompt naming it).

Object questions are answered with the world's sentence (`QA.reply`: "The ring is red.", "It is a
cyan diamond."), open or multiple choice, not with the bare word or the option's letter. The
sentence names the object right before the word the answer turns on, so the query that reads the
frames there knows which object to look for. Measured from the same stage-1 checkpoint, 1,500
stage-2 steps: colour 43% and shape 47% with sentences, 25% and 17% (chance) with bare words
after 1,000; where the reply named the right colour, its shape was right in 66 of 66.
A 4-layer LLM of width 128 did not learn to pick the letter of a matching option in the time the
recipe has, not even from text ("The answer is red. ... B. red ..." stayed at chance for 300
steps of 32 examples); `crosslmm eval` scores a reply that says one option's text as that option
(the parser's rule for models that answer with content, `training.answers.parse_choice`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from crosslmm_cli.synthetic import WorldConfig, caption, chapters, clip_questions, make_choices, multiple_choice_prompt, read_clips
from crosslmm_cli.synthetic.captions import capitalise, chapter_title, scene_description
from crosslmm_cli.synthetic.questions import QA, TEMPLATES
from crosslmm_cli.tasks import DESCRIBE_PROMPT, TITLE_PROMPT

#: How a text-only record gives the facts a video would show.
CONTEXT = "Video description: {caption}"
DESCRIBE_PROMPTS = (*TEMPLATES["describe"], DESCRIBE_PROMPT)
VIDEO_MARKER = "<video>"


def conversation(turns: list[tuple[str, str]], *, video: bool) -> list[dict[str, str]]:
    out = []
    for index, (question, answer) in enumerate(turns):
        marker = f"{VIDEO_MARKER}\n" if video and index == 0 else ""
        out += [{"from": "human", "value": marker + question}, {"from": "gpt", "value": answer}]
    return out


def question_turn(qa: QA, rng: np.random.Generator, choice_fraction: float) -> tuple[str, str]:
    """Open, or multiple choice, answered with the world's reply (see the module docstring)."""
    if qa.alternatives and rng.random() < choice_fraction:
        options, _ = make_choices(qa, rng)
        return multiple_choice_prompt(qa.question, options), qa.reply
    return qa.question, qa.reply


def _world(split: Path) -> WorldConfig:
    return WorldConfig.from_dict(json.loads((split / "world.json").read_text(encoding="utf-8")))


def language_records(split: Path, *, seed: int, turns: int = 8, choice_fraction: float = 0.75) -> list[dict[str, Any]]:
    """Stage 0b: per clip, its caption as an answer, one conversation of questions about a caption
    in context, and a title for each scene from its description."""
    config, rng = _world(split), np.random.default_rng(seed)
    records = []
    for _, clip in read_clips(split / "clips.jsonl"):
        text = caption(clip)
        prompt = DESCRIBE_PROMPTS[int(rng.integers(len(DESCRIBE_PROMPTS)))]
        records.append({"id": f"{clip.id}-caption", "conversations": conversation([(prompt, text)], video=False)})
        questions = [qa for qa in clip_questions(clip, config, rng) if qa.task not in ("describe", "chapters")]
        if questions:
            order = rng.permutation(len(questions))[:turns]
            chat = [question_turn(questions[i], rng, choice_fraction) for i in order]
            chat[0] = (CONTEXT.format(caption=text) + "\n" + chat[0][0], chat[0][1])
            records.append({"id": f"{clip.id}-read", "conversations": conversation(chat, video=False)})
        for number, scene in enumerate(clip.scenes):
            described = CONTEXT.format(caption=capitalise(scene_description(scene)))
            records.append({"id": f"{clip.id}-title-{number}",
                            "conversations": conversation([(f"{described}\n{TITLE_PROMPT}", chapter_title(scene))], video=False)})
    return records


def question_records(split: Path, *, seed: int, turns: int = 16, choice_fraction: float = 0.5) -> list[dict[str, Any]]:
    """Stage 2: each clip's questions (the world's describe and chapter questions included) in a
    random order, `turns` to a conversation."""
    config, rng = _world(split), np.random.default_rng(seed)
    records = []
    for video, clip in read_clips(split / "clips.jsonl"):
        questions = clip_questions(clip, config, rng)
        order = [questions[i] for i in rng.permutation(len(questions))]
        for number, start in enumerate(range(0, len(order), turns)):
            chat = [question_turn(qa, rng, choice_fraction) for qa in order[start : start + turns]]
            records.append({"id": f"{clip.id}-questions-{number}", "video": video, "conversations": conversation(chat, video=True)})
    return records


def caption_records(split: Path, *, seed: int) -> list[dict[str, Any]]:
    """Stage 1: every clip and its caption, asked in one of the describe phrasings."""
    rng = np.random.default_rng(seed)
    return [{"id": f"{clip.id}-caption", "video": video,
             "conversations": conversation([(DESCRIBE_PROMPTS[int(rng.integers(len(DESCRIBE_PROMPTS)))], caption(clip))], video=True)}
            for video, clip in read_clips(split / "clips.jsonl")]


def tool_records(split: Path) -> list[dict[str, Any]]:
    """Stage 2's share of the tool's own prompts: describe for every clip, a title for every scene."""
    records = []
    for video, clip in read_clips(split / "clips.jsonl"):
        records.append({"id": f"{clip.id}-describe", "video": video,
                        "conversations": conversation([(DESCRIBE_PROMPT, caption(clip))], video=True)})
        for number, chapter in enumerate(chapters(clip)):
            part = {} if len(clip.scenes) == 1 else {"start": chapter["start"], "end": chapter["end"]}
            records.append({"id": f"{clip.id}-title-{number}", "video": video, **part,
                            "conversations": conversation([(TITLE_PROMPT, str(chapter["title"]))], video=True)})
    return records


def write_jsonl(path: Path, records: list[dict[str, Any]]) -> Path:
    """Records one per line, beside the split's videos (their paths are relative to the file)."""
    path.write_text("".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records), encoding="utf-8")
    return path
