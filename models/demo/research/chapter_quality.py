"""How well `chapterize` finds the scenes of multi-scene synthetic clips and names their content."""
from __future__ import annotations
import re
from collections.abc import Iterable, Sequence

_PAIR = re.compile(r"\b(red|green|blue|yellow|purple|cyan) (circle|square|triangle|diamond|cross|ring)\b")
_ON = re.compile(r"\bon (black|gray|white|gradient)\b")

def title_facts(title: str) -> set[tuple[str, ...]]:
    facts = {("object", c, s) for c, s in _PAIR.findall(title)}
    bg = _ON.search(title)
    if bg:
        facts.add(("background", bg.group(1)))
    return facts

def match_boundaries(true: Sequence[float], found: Sequence[float], tolerance: float) -> int:
    """How many true boundaries have a found one within `tolerance` (each found one used once)."""
    free = sorted(found); hits = 0
    for t in sorted(true):
        near = [f for f in free if abs(f - t) <= tolerance + 1e-6]
        if near:
            free.remove(min(near, key=lambda f: abs(f - t))); hits += 1
    return hits

def chapter_quality(rows: Iterable[tuple[dict, dict]]) -> dict[str, float]:
    """rows: (record written by `chapterize --jsonl`, truth {"chapters": [{"start", "end", "title"}]})."""
    n_true = n_found = hits = 0; title_right = title_said = title_true = 0
    for record, truth in rows:
        times = record["timestamps"]
        tolerance = max(b - a for a, b in zip(times, times[1:])) if len(times) > 1 else record["duration"]
        true = [c["start"] for c in truth["chapters"][1:]]
        found = [c["start"] for c in record["chapters"][1:]]
        n_true += len(true); n_found += len(found); hits += match_boundaries(true, found, tolerance)
        for chapter in record["chapters"]:
            middle = (chapter["start"] + chapter["end"]) / 2
            scene = next(c for c in truth["chapters"] if c["start"] <= middle < c["end"] or c is truth["chapters"][-1])
            got, want = title_facts(chapter["title"]), title_facts(scene["title"])
            title_right += len(got & want); title_said += len(got); title_true += len(want)
    return {"boundary_recall": hits / n_true if n_true else 0.0,
            "spurious": (n_found - hits) / n_found if n_found else 0.0,
            "title_precision": title_right / title_said if title_said else 0.0,
            "title_recall": title_right / title_true if title_true else 0.0, "boundaries": n_true}
