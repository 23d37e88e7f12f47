"""What `crosslmm bench model` shows: a table per weight precision, the targets, JSON.

Ratios are taken within one run (CrossLMM against the baseline at the same frame count and
weights): absolute times differ between machines, ratios measured side by side do not.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.table import Table

    from .model import ModelBenchResult, ModelBenchRow

#: The paper's Figure 4 (LLaVA-OneVision-7B at 196 tokens per frame vs CrossLMM-7B, 8x H800):
#: CUDA memory (MB), "TFLOPs" (multiply-adds, 10^12) and prefill time (ms) by frame count.
PAPER_FIGURE4 = {
    32: {"baseline": (4858, 57.0, 554.91), "crosslmm": (1753, 13.17, 335)},
    64: {"baseline": (8640, 113.56, 1129), "crosslmm": (1864, 25.92, 578)},
    128: {"baseline": (16206, 226.67, 2504), "crosslmm": (2087, 51.43, 1063)},
    256: {"baseline": (20208, 316.88, 3978.83), "crosslmm": (2531, 102.42, 1975)},
}
#: Figure 4(d): average reductions over 32-256 frames (memory, FLOPs, time), percent.
PAPER_FIGURE4_REDUCTION = {"memory": 79.2, "macs": 74.8, "time": 48.7}

#: Issue 7's targets: (frames, quantity, CrossLMM tokens per frame, largest allowed ratio to the baseline).
TARGETS = (
    (32, "macs", 9, 0.25),
    (32, "memory", 9, 0.40),
    (256, "memory", 9, 0.15),
    (256, "time", 9, 0.50),
)


def format_bytes(n: float | None) -> str:
    if n is None:
        return "-"
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if abs(n) >= size:
            return f"{n / size:,.{1 if abs(n) >= 100 * size else 2}f} {unit}"
    return f"{n:.0f} B"


def format_macs(n: float | None) -> str:
    """Multiply-adds with an SI prefix, compact: '3.47G', '664T'."""
    if n is None:
        return "-"
    if n == 0:
        return "0"
    for unit, size in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= size:
            value = n / size
            return f"{value:,.0f}{unit}" if value >= 100 else f"{value:.3g}{unit}"
    return f"{n:,.0f}"


def format_ms(ms: float | None) -> str:
    return "-" if ms is None else (f"{ms:,.0f}" if ms >= 100 else f"{ms:.1f}")


def quantity(row: ModelBenchRow, name: str) -> float | None:
    """The three compared quantities: prefill MACs, peak activation memory, prefill time."""
    if row.status != "ok":
        return None
    if name == "macs":
        return row.macs.total if row.macs else None
    if name == "memory":
        return row.activation_bytes
    return row.prefill_ms


def baseline_of(result: ModelBenchResult, row: ModelBenchRow) -> ModelBenchRow | None:
    return next((r for r in result.rows if r.method.startswith("baseline-") and (r.weights, r.frames) == (row.weights, row.frames)), None)


def ratio(result: ModelBenchResult, row: ModelBenchRow, name: str) -> float | None:
    base = baseline_of(result, row)
    if base is None or base is row:
        return None
    ours, theirs = quantity(row, name), quantity(base, name)
    return None if ours is None or not theirs else ours / theirs


@dataclass(frozen=True)
class TargetCheck:
    weights: str
    frames: int
    quantity: str
    tokens_per_frame: int
    limit: float
    ratio: float | None

    @property
    def passed(self) -> bool | None:
        return None if self.ratio is None else self.ratio <= self.limit

    def describe(self) -> str:
        what = {"macs": "prefill MACs", "memory": "peak activation memory", "time": "prefill time"}[self.quantity]
        verdict = {True: "met", False: "MISSED", None: "not measured"}[self.passed]
        got = "-" if self.ratio is None else f"{self.ratio:.1%}"
        return (f"{self.weights}, {self.frames} frames: CrossLMM-{self.tokens_per_frame} {what} {got} of the "
                f"baseline's (target <= {self.limit:.0%}): {verdict}")


def check_targets(result: ModelBenchResult) -> list[TargetCheck]:
    checks = []
    for weights in result.options.weights:
        for frames, name, tpf, limit in TARGETS:
            row = result.row(weights, f"crosslmm-{tpf}", frames)
            if row is None:
                continue
            checks.append(TargetCheck(weights, frames, name, tpf, limit, ratio(result, row, name)))
    return checks


def model_table(result: ModelBenchResult, weights: str) -> Table:
    """One rich table for one weight precision: a row per (frames, method), ratios to the baseline."""
    from rich.table import Table

    table = Table(title=f"{result.model} on {result.device}, {weights} weights (x base: ratio to the baseline)",
                  title_justify="left")
    columns = ("frames", "method", "LLM tokens", "MACs", "vision", "proj", "LLM", "xattn", "x base",
               "peak act.", "x base", "xattn K/V", "prefill ms", "x base", "decode tok/s", "status")
    for header in columns:
        table.add_column(header, justify="left" if header in ("method", "status") else "right", no_wrap=header != "status")
    for row in (r for r in result.rows if r.weights == weights):
        macs = row.macs
        split = [format_macs(getattr(macs, c)) if macs else "-" for c in ("vision", "projector", "llm", "cross_attention")]
        table.add_row(
            str(row.frames), row.method, str(row.prompt_tokens), format_macs(macs.total if macs else None), *split,
            _times(ratio(result, row, "macs")), format_bytes(row.activation_bytes), _times(ratio(result, row, "memory")),
            format_bytes(row.cross_attention_kv_bytes) if row.cross_attention_kv_bytes else "-",
            format_ms(row.prefill_ms), _times(ratio(result, row, "time")),
            "-" if row.decode_tokens_per_s is None else f"{row.decode_tokens_per_s:.1f}",
            row.status if not row.note else f"{row.status}: {row.note}",
        )
    return table


def _times(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}"


def to_json(result: ModelBenchResult) -> str:
    data: dict[str, Any] = result.as_dict()
    data["targets"] = [{**check.__dict__, "passed": check.passed} for check in check_targets(result)]
    data["paper_figure4"] = {str(k): v for k, v in PAPER_FIGURE4.items()}
    return json.dumps(data, indent=2)


def e2e_table(result) -> Table:
    """`crosslmm bench e2e`: seconds per stage, the first request apart from the median of the rest."""
    from rich.table import Table

    from .e2e import STAGES

    first = result.requests[0]
    warm = len(result.requests) - 1
    table = Table(title=f"{result.video}: {result.frames} frames, {result.visual_tokens} visual tokens, "
                        f"{result.prompt_tokens} prompt tokens; {result.model} on {result.device}", title_justify="left")
    table.add_column("stage")
    table.add_column("first request (s)", justify="right")
    table.add_column(f"median of {warm} more (s)" if warm else "", justify="right")
    table.add_column("share", justify="right")
    table.add_row("load (once)", f"{result.load_s:.3f}", "", "")
    median_total = result.median("total") or first.total
    for stage in STAGES:
        median = result.median(stage)
        share = f"{median / median_total:.0%}" if warm and median_total else f"{getattr(first, stage) / first.total:.0%}"
        table.add_row(stage.replace("_", " "), f"{getattr(first, stage):.3f}", f"{median:.3f}" if warm else "", share)
    table.add_row("total (without load)", f"{first.total:.3f}", f"{median_total:.3f}" if warm else "", "")
    last = result.requests[-1]
    rate = "-" if last.tokens_per_s is None else f"{last.tokens_per_s:.1f} tokens/s"
    memory = "CUDA peak allocated" if result.device.startswith("cuda") else "peak resident memory of the process"
    table.caption = (f"last request: {last.new_tokens} new tokens, {rate}, first text after {last.first_text:.3f} s; "
                     f"{memory} {format_bytes(last.peak_memory_bytes)}")
    return table
