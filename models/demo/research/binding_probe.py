"""Does the model know which object a question names where it makes the answer?

Three measurements on a checkpoint, each at the position that predicts the answer's word (in a
sentence answer, "The ring is red.", the token before "red"; in a bare one, its first token):

  attention  per question type and layer, the share of T2V's attention on the named object's
             patches (in every sampled frame) and on any object's: if the first is the second
             divided by the number of objects, T2V looks at objects but not at the named one.
  query      a linear probe (fitted on one split, scored on another) of the named shape from
             the LLM's hidden state after each layer: what T2V's query could know.
  answer     the same probe of the answer itself, per question type and layer: where the read is
             lost (nothing after layer 0: the frames were not read; there, but not after the
             last layer: the LLM dropped it; after the last layer too: the head fails to say it).
  reading    text only, a caption in context and a question about it (stage 0b's reading
             records): the share of replies whose every token is right (teacher-forced), per type.

    PYTHONPATH=models/demo python -m research.binding_probe MODEL --data BUILD/data
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from research.answer_grounding import COVERED, answer_ends, answer_starts, object_masks, recording_t2v_attention

OBJECT_TASKS = ("colour", "shape", "size", "motion")


def _questions(split: Path, config: Any, n: int, tasks: tuple[str, ...] = OBJECT_TASKS):  # noqa: ANN202 - (clip, video, qa)
    from crosslmm_cli.synthetic import read_clips
    from crosslmm_cli.synthetic.questions import scene_questions

    seen = 0
    for number, (video, clip) in enumerate(read_clips(split / "clips.jsonl")):
        if len(clip.scenes) != 1:
            continue
        for qa in scene_questions(clip.scenes[0], config, np.random.default_rng(number)):
            if qa.task in tasks and qa.subject is not None and " at the " not in qa.question:
                yield clip, video, qa
                seen += 1
        if seen >= n:
            return


def visual_measures(model: Any, processor: Any, split: Path, cache_dir: Path, n: int,
                    tasks: tuple[str, ...] = OBJECT_TASKS) -> dict[str, Any]:
    """Attention shares per task and layer, and the hidden states (with the named shape, the task
    and the answer) for the query and answer probes."""
    from crosslmm_cli.engine.options import FrameOptions
    from crosslmm_cli.synthetic import WorldConfig
    from crosslmm_cli.synthetic.world import SHAPES
    from crosslmm_cli.training.frame_cache import FrameLoader
    from crosslmm_cli.training.tokenization import encode_conversation

    config = WorldConfig.from_dict(json.loads((split / "world.json").read_text(encoding="utf-8")))
    frames = processor.num_frames
    loader = FrameLoader(processor.image_processor, FrameOptions(num_frames=frames), cache_dir=cache_dir, exact=True)
    shares: dict[str, list[np.ndarray]] = defaultdict(list)
    states, named, asked, answers = [], [], [], []
    with recording_t2v_attention(model) as weights:
        for clip, video, qa in _questions(split, config, n, tasks):
            sampled = loader.load(split / video)
            times = [float(t) for t in sampled.timestamps]
            encoded = encode_conversation(processor, [(qa.question, qa.reply)], timestamps=times, duration=float(sampled.duration))
            position = answer_starts(encoded.labels)[0] - 1 + words_before_answer(processor, qa)  # predicts the answer word
            text_position = position - frames * model.config.tokens_per_frame  # the frame tokens come first
            weights.clear()
            with torch.no_grad():
                out = model(input_ids=torch.tensor([encoded.input_ids]), pixel_values_videos=loader.pixels(sampled)[None],
                            use_cache=False, output_hidden_states=True)
            target = (object_masks(clip, qa.subject, times, config) > COVERED).reshape(-1)
            objects = [thing for thing in clip.scenes[0].things if not thing.is_dot]
            anywhere = np.clip(sum((object_masks(clip, (o.colour, o.shape), times, config) > COVERED).reshape(-1).astype(np.float32)
                                   for o in objects), 0, 1)
            named_share = [float(w[0, :, text_position][:, torch.from_numpy(target)].sum(-1).mean()) for w in weights]
            any_share = [float((w[0, :, text_position] * torch.from_numpy(anywhere)).sum(-1).mean()) for w in weights]
            shares[qa.task].append(np.array([named_share, any_share, [len(objects)] * len(weights)]))
            states.append(torch.stack([h[0, position] for h in out.hidden_states[1:]]))
            named.append(list(SHAPES).index(qa.subject[1]))
            asked.append(qa.task)
            answers.append(qa.answer)
    return {"shares": {task: np.mean(rows, axis=0) for task, rows in shares.items()},
            "states": torch.stack(states), "named": torch.tensor(named), "tasks": asked, "answers": answers}


def answer_probes(fit: dict[str, Any], held: dict[str, Any]) -> dict[str, list[float]]:
    """Per question type, the linear probe's accuracy on the answer after each layer (`visual_measures`' outputs)."""
    report = {}
    for task in dict.fromkeys(held["tasks"]):
        vocabulary = sorted(set(a for t, a in zip(fit["tasks"], fit["answers"]) if t == task))
        rows = [[i for i, (t, a) in enumerate(zip(m["tasks"], m["answers"])) if t == task and a in vocabulary]
                for m in (fit, held)]
        if len(vocabulary) < 2 or not rows[1]:
            continue
        x_fit, x_held = fit["states"][rows[0]], held["states"][rows[1]]
        y_fit, y_held = (torch.tensor([vocabulary.index(m["answers"][i]) for i in r]) for m, r in zip((fit, held), rows))
        report[task] = [round(probe_accuracy(x_fit[:, layer], y_fit, x_held[:, layer], y_held, classes=len(vocabulary)), 3)
                        for layer in range(x_fit.shape[1])]
    return report


def words_before_answer(processor: Any, qa: Any) -> int:
    """How many of the reply's tokens come before the answer's word ("The ring is" in "The ring is
    red."); byte-level BPE splits before a space, so the prefix's tokens begin the reply's."""
    if not qa.statement:
        return 0
    prefix = qa.reply[: qa.reply.index(f" {qa.answer}")]
    return len(processor.tokenizer(prefix, add_special_tokens=False)["input_ids"])


def probe_accuracy(train_x: torch.Tensor, train_y: torch.Tensor, test_x: torch.Tensor, test_y: torch.Tensor, *,
                   classes: int | None = None, steps: int = 300, lr: float = 1e-2, seed: int = 0) -> float:
    """A linear probe (standardised features, softmax regression, Adam) fitted on the train rows,
    scored on the test rows."""
    mean, std = train_x.mean(0), train_x.std(0) + 1e-5
    torch.manual_seed(seed)
    probe = torch.nn.Linear(train_x.shape[1], classes or int(max(train_y.max(), test_y.max())) + 1)
    optimizer = torch.optim.Adam(probe.parameters(), lr=lr)
    for _ in range(steps):
        loss = torch.nn.functional.cross_entropy(probe((train_x - mean) / std), train_y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        return float((probe((test_x - mean) / std).argmax(-1) == test_y).float().mean())


#: A question's kind, by a phrase of its question line (the world's templates and research.recall_task's).
QUESTION_KINDS = {"colour": "colour", "shape": "shape is", "size": "big", "motion": "move", "count": "How many shapes"}


def text_answer_accuracy(model: Any, processor: Any, records: list[dict[str, Any]]) -> dict[str, float]:
    """Text only: the share of replies whose every token is the model's first choice (teacher-
    forced), per question kind, on records in the trainer's format."""
    from crosslmm_cli.synthetic.questions import LETTERS, MULTIPLE_CHOICE_INSTRUCTION
    from crosslmm_cli.training.tokenization import encode_conversation

    option_marks = {f"{letter}. " for letter in LETTERS}
    hits: dict[str, list[bool]] = defaultdict(list)
    for record in records:
        messages = record["conversations"]
        turns = [(messages[i]["value"], messages[i + 1]["value"]) for i in range(0, len(messages), 2)]
        encoded = encode_conversation(processor, turns, timestamps=None, duration=0.0)
        with torch.no_grad():
            logits = model(input_ids=torch.tensor([encoded.input_ids]), use_cache=False).logits[0]
        labels = encoded.labels
        for (question, _), start, end in zip(turns, answer_starts(labels), answer_ends(labels)):
            asked = next(line for line in reversed(question.split("\n"))
                         if line[:3] not in option_marks and line != MULTIPLE_CHOICE_INSTRUCTION)
            kind = next((name for name, phrase in QUESTION_KINDS.items() if phrase in asked), None)
            if kind is not None:
                predicted = logits[start - 1 : end - 1].argmax(-1).tolist()
                hits[kind].append(predicted == list(labels[start:end]))
    return {kind: round(float(np.mean(v)), 3) for kind, v in hits.items()}


def reading_accuracy(model: Any, processor: Any, split: Path, *, seed: int, n: int = 60) -> dict[str, float]:
    """Stage 0b's caption-in-context questions (the first n clips' reading records), per kind."""
    from recipe.records import language_records

    records = [r for r in language_records(split, seed=seed) if r["id"].endswith("-read")][:n]
    return text_answer_accuracy(model, processor, records)


def main(argv: list[str] | None = None) -> None:
    from crosslmm_cli.checkpoints.loader import load_model

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("--data", type=Path, required=True, help="a build's data folder (train/, monitor/, frame-cache/)")
    parser.add_argument("--questions", type=int, default=150, help="held-out questions (3x as many fit the probe)")
    parser.add_argument("--tasks", default=",".join(OBJECT_TASKS), help=f"question types (default: {','.join(OBJECT_TASKS)})")
    args = parser.parse_args(argv)
    tasks = tuple(args.tasks.split(","))
    torch.manual_seed(0)
    model, processor = load_model(args.model, quantize="none", device="cpu")
    model.eval()
    held = visual_measures(model, processor, args.data / "monitor", args.data / "frame-cache", args.questions, tasks)
    fit = visual_measures(model, processor, args.data / "train", args.data / "frame-cache", 3 * args.questions, tasks)
    report = {"attention": {task: {"named": row[0].round(3).tolist(), "any_object": row[1].round(3).tolist(),
                                   "objects": round(float(row[2][0]), 2)} for task, row in held["shares"].items()},
              "query_named_shape": [round(probe_accuracy(fit["states"][:, layer], fit["named"], held["states"][:, layer],
                                                         held["named"]), 3) for layer in range(fit["states"].shape[1])],
              "answer_after_layer": answer_probes(fit, held),
              "reading": reading_accuracy(model, processor, args.data / "monitor", seed=1)}
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
