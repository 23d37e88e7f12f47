"""research/spread.py: the bars of several builds, their mean and range; research/scores.py: the bars."""

from __future__ import annotations

import copy
import json

from demo_fixtures import DEMO_DIR
from research.scores import bar_figures, bars_met
from research.spread import spread_table


def test_the_spread_table_gives_each_build_its_row_and_the_mean_and_range_of_each_bar():
    shipped = json.loads((DEMO_DIR / "eval.json").read_text())
    other = copy.deepcopy(shipped)
    other["multiple_choice"]["colour"]["accuracy"] = 0.5
    other["describe"]["recall"] = 0.9
    table = spread_table({"shipped": shipped, "other": other}).splitlines()
    assert table[0] == ("| build | colour (multiple choice) | shape (multiple choice) | count (multiple choice) | motion (multiple "
                        "choice) | describe precision | describe recall | chapter boundaries | spurious chapters |")
    rows = {line.split(" | ")[0].lstrip("| "): line.strip("| ").split(" | ")[1:] for line in table[2:]}
    assert list(rows) == ["shipped", "other", "mean", "range", "bar"]
    colour = shipped["multiple_choice"]["colour"]["accuracy"]
    assert rows["shipped"][0] == f"{100 * colour:.1f}" and rows["other"][0] == "50.0"
    assert rows["mean"][0] == f"{100 * (colour + 0.5) / 2:.1f}"
    assert rows["range"][0] == f"50.0-{100 * colour:.1f}"
    assert rows["range"][5] == f"{100 * shipped['describe']['recall']:.1f}-90.0"
    assert rows["mean"][1] == rows["shipped"][1]  # shape, equal in both
    assert rows["bar"][0] == ">= 90" and rows["bar"][-1] == "<= 10"


def test_bar_figures_read_the_bars_of_an_eval_file():
    shipped = json.loads((DEMO_DIR / "eval.json").read_text())
    figures = bar_figures(shipped)
    assert figures["shape (multiple choice)"] == shipped["multiple_choice"]["shape"]["accuracy"]
    assert figures["spurious chapters"] == shipped["chapterize"]["spurious"]
    assert len(figures) == 8


def test_bars_met_agrees_with_the_shipped_eval_file_and_turns_with_a_figure():
    """`bars_met` is what `bar_scores` writes; the shipped eval.json was written by it."""
    shipped = json.loads((DEMO_DIR / "eval.json").read_text())
    assert bars_met(shipped) == shipped["bars_met"]
    worse = copy.deepcopy(shipped)
    worse["chapterize"]["spurious"] = 0.11
    worse["multiple_choice"]["shape"]["accuracy"] = 0.9
    met = bars_met(worse)
    assert not met["spurious chapters"] and met["shape (multiple choice)"]  # at most 10%; at least 90%
    del worse["chapterize"]
    assert "chapter boundaries" not in bars_met(worse)
