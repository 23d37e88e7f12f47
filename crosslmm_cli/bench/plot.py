"""The paper's Figure 4, drawn for our own measurement (matplotlib, the optional `plot` extra).

(a) peak activation memory, (b) prefill MACs, (c) prefill time, each by frame count for the
baseline and CrossLMM; (d) the average reduction of CrossLMM at 9 tokens per frame (or the
nearest measured) against the baseline, beside the paper's.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from crosslmm_cli.errors import CrossLMMError

from .report import PAPER_FIGURE4_REDUCTION, quantity, ratio

if TYPE_CHECKING:
    from .model import ModelBenchResult

PANELS = (("memory", "(a) Peak activation memory", "MB", 1e-6),
          ("macs", "(b) Prefill compute", "multiply-adds (G)", 1e-9),
          ("time", "(c) Prefill time", "ms", 1.0))


class PlotUnavailable(CrossLMMError):
    """matplotlib is not installed."""


def _pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg")  # files only, never a window
        from matplotlib import pyplot
    except ImportError as error:
        raise PlotUnavailable("--plot needs matplotlib, which is not installed",
                              hint="pip install 'crosslmm[plot]' (or pip install matplotlib)") from error
    return pyplot


def plot_figure4(result: ModelBenchResult, path: str | Path, weights: str | None = None) -> Path:
    """Write the four panels for one weight precision (the run's first by default) to `path` (PNG, SVG, PDF)."""
    pyplot = _pyplot()
    weights = weights or result.options.weights[0]
    rows = [r for r in result.rows if r.weights == weights]
    frames = sorted({r.frames for r in rows})
    methods = list(dict.fromkeys(r.method for r in rows))
    figure, axes = pyplot.subplots(2, 2, figsize=(12, 8.5))
    width = 0.8 / max(1, len(methods))
    for (name, title, unit, scale), axis in zip(PANELS, axes.flat):
        for index, method in enumerate(methods):
            values = []
            for count in frames:
                row = result.row(weights, method, count)
                value = quantity(row, name) if row else None
                values.append(0 if value is None else value * scale)
            positions = [i + (index - (len(methods) - 1) / 2) * width for i in range(len(frames))]
            bars = axis.bar(positions, values, width, label=method)
            axis.bar_label(bars, fmt=_label, fontsize=7, rotation=90, padding=2)
        axis.set_xticks(range(len(frames)), [str(f) for f in frames])
        axis.set_xlabel("frames")
        axis.set_ylabel(unit)
        axis.set_title(title)
        axis.legend(fontsize=8)
    _reduction_panel(result, weights, axes.flat[3])
    figure.suptitle(f"crosslmm bench model: {result.model}, {weights} weights, {result.device}")
    figure.tight_layout()
    path = Path(path)
    figure.savefig(path, dpi=120)
    pyplot.close(figure)
    return path


def _label(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:.3g}"


def _reduction_panel(result: ModelBenchResult, weights: str, axis) -> None:
    """Mean of the per-frame-count reductions, over the paper's frame counts (32-256) where measured."""
    crosslmm = [r for r in result.rows if r.weights == weights and r.method.startswith("crosslmm-")]
    papers = [r for r in crosslmm if r.frames in (32, 64, 128, 256)]
    crosslmm = papers or crosslmm
    counts = sorted({r.frames for r in crosslmm})
    tokens = sorted({r.tokens_per_frame for r in crosslmm}, key=lambda t: abs(t - 9))
    names = ("memory", "macs", "time")
    ours = []
    method = f"crosslmm-{tokens[0]}" if tokens else None
    for name in names:
        ratios = [ratio(result, r, name) for r in crosslmm if r.method == method]
        ratios = [x for x in ratios if x is not None]
        ours.append(100 * (1 - sum(ratios) / len(ratios)) if ratios else 0)
    positions = range(len(names))
    frames = ", ".join(str(c) for c in counts)
    bars = axis.bar([p - 0.2 for p in positions], ours, 0.4, label=f"ours: {method or 'none'} vs baseline ({frames} frames)")
    axis.bar_label(bars, fmt="%.1f%%", fontsize=8)
    paper = axis.bar([p + 0.2 for p in positions], [PAPER_FIGURE4_REDUCTION[n] for n in names], 0.4,
                     label="paper (7B, 8x H800)", hatch="//", alpha=0.6)
    axis.bar_label(paper, fmt="%.1f%%", fontsize=8)
    axis.set_xticks(list(positions), ["memory", "compute", "time"])
    axis.set_ylabel("average reduction (%)")
    axis.set_ylim(0, 115)
    axis.set_title("(d) Average reduction over the frame counts")
    axis.legend(fontsize=8, loc="upper center", ncols=1)
