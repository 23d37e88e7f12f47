"""Stage 1a's held-out scores: per-head hit counts that add up over subsets, and the motion that
predicted start and end places imply."""

from __future__ import annotations

from typing import Any

from recipe.grounding import ABSENT, IGNORE, TARGETS


def held_out_hits(read: Any, targets: Any, features: Any, rows: list, batch_size: int = 256) -> dict[str, list[float]]:
    """[right, total] of each head on held-out queries (present objects only; absence separately),
    and [summed error, coordinates] of the place head: counts, so that subsets add up."""
    import torch

    hits: dict[str, list[float]] = {name: [0, 0] for name in (*TARGETS, ABSENT, "place_motion", "place_error")}
    with torch.no_grad():
        for start in range(0, len(rows), batch_size):
            batch = rows[start : start + batch_size]
            out, want = read(features, batch), targets(batch)
            present, naming = want["shape"] > 0, want["shape"] != IGNORE  # count queries name nothing
            for name in TARGETS:
                valid = (present | (name == "count")) & (want[name] != IGNORE)
                hits[name][0] += int((out[name].argmax(-1) == want[name])[valid].sum())
                hits[name][1] += int(valid.sum())
            hits[ABSENT][0] += int(((out["shape"].argmax(-1) == 0) == ~present)[naming].sum())
            hits[ABSENT][1] += int(naming.sum())
            known = ~want["place"].isnan().any(-1)
            hits["place_error"][0] += float((out["place"][known] - want["place"][known]).abs().sum())
            hits["place_error"][1] += int(known.sum()) * 4
            named = (want["motion"] > 0) & known  # a present object, moving or still, with a place target
            hits["place_motion"][0] += int((implied_motion(out["place"]) == want["motion"])[named].sum())
            hits["place_motion"][1] += int(named.sum())
    return hits


def rates(*counted: dict[str, list[float]]) -> dict[str, float]:
    """Accuracies (and the place head's mean error) of the `held_out_hits` of one or more subsets together."""
    return {name: sum(c[name][0] for c in counted) / max(1, sum(c[name][1] for c in counted)) for name in counted[0]}


def implied_motion(place: Any, still_below: float = 0.25) -> Any:
    """The motion class (TARGETS["motion"] index) that predicted start and end centres (B, 4) imply:
    still under `still_below` (half frame widths; a moving object travels about 0.56 between the
    first and last of 8 frames of a 4 s clip), else the larger component's direction."""
    import torch

    dx, dy = place[:, 2] - place[:, 0], place[:, 3] - place[:, 1]
    names = TARGETS["motion"]
    horizontal = torch.where(dx < 0, names.index("left"), names.index("right"))
    vertical = torch.where(dy < 0, names.index("up"), names.index("down"))
    moved = torch.where(dx.abs() >= dy.abs(), horizontal, vertical)
    return torch.where(torch.maximum(dx.abs(), dy.abs()) < still_below, names.index("still"), moved)
