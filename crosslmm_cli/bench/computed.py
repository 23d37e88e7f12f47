"""`crosslmm bench model --computed`: figures for a shape computed, not measured.

For the real 1.5B and 7B shapes on a machine that cannot run them: weights (parameter counts from
the model built on the meta device), prefill MACs (the analytic count, held equal to the counter by
the tests), peak activation memory (`estimate.py`, checked against the tracker on the CPU shape),
the cross-attention K/V for each storage choice, and whether the longest video fits a memory
budget, item by item.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .analytic import prefill_macs
from .estimate import cross_attention_kv_bytes, prefill_memory, weight_bytes

if TYPE_CHECKING:
    from rich.table import Table

    from .model import ModelBenchOptions

#: K/V storage choices compared: (label, kv_tokens_per_frame, cross_attention_kv_dtype).
KV_VARIANTS = (("729 tokens, 16-bit", 729, None), ("196 tokens, 16-bit", 196, None),
               ("729 tokens, float8", 729, "float8_e4m3fn"), ("196 tokens, float8", 196, "float8_e4m3fn"))
#: What torch's allocator statistics do not count on a GPU: the CUDA context and cuBLAS/cuDNN
#: workspaces (about 0.4-0.6 GB with torch 2.x on recent GPUs). An assumption, stated as one.
CUDA_CONTEXT_BYTES = 500 * 10**6
DEFAULT_BUDGET_BYTES = 12 * 10**9


def computed_report(options: ModelBenchOptions) -> dict[str, Any]:
    """Everything as plain data (the tables and --json both come from it)."""
    from .build import shape_config

    base = shape_config(options.model, kv_tokens_per_frame=options.kv_tokens_per_frame,
                        cross_attention_kv_dtype=options.kv_dtype)
    options = options.with_baseline_for(base)
    frames = list(options.frames)
    report: dict[str, Any] = {"model": options.model, "computed": True, "text_tokens": options.text_tokens}
    report["weights"] = {w: _weights(base, w) for w in options.weights}

    report["kv"] = []
    for label, kv_tokens, kv_dtype in KV_VARIANTS:
        config = shape_config(options.model, kv_tokens_per_frame=kv_tokens, cross_attention_kv_dtype=kv_dtype)
        report["kv"].append({"variant": label, **{str(t): cross_attention_kv_bytes(config, t) for t in frames}})

    report["prefill"] = []
    methods = [(t, False) for t in options.tokens_per_frame]
    if options.baseline_tokens_per_frame:
        methods.append((options.baseline_tokens_per_frame, True))
    for count in frames:
        for tokens, baseline in methods:
            macs = prefill_macs(base, count, tokens, options.text_tokens, cross_attention=() if baseline else None)
            memory = prefill_memory(base, count, tokens, options.text_tokens, cross_attention=not baseline)
            report["prefill"].append({
                "frames": count, "method": f"{'baseline' if baseline else 'crosslmm'}-{tokens}",
                "macs": macs.as_dict(), "activation_bytes": memory.peak, "peak_phase": memory.peak_phase,
            })

    budget = options.memory_limit_bytes or DEFAULT_BUDGET_BYTES
    longest = max(frames)
    report["fit"] = {"frames": longest, "budget_bytes": budget, "cuda_context_bytes": CUDA_CONTEXT_BYTES,
                     "tokens_per_frame": 9 if 9 in options.tokens_per_frame else options.tokens_per_frame[0],
                     "weights": options.weights[-1], "variants": []}
    fit = report["fit"]
    for label, kv_tokens, kv_dtype in KV_VARIANTS:
        config = shape_config(options.model, kv_tokens_per_frame=kv_tokens, cross_attention_kv_dtype=kv_dtype)
        # The CLI's way: the video is encoded once and its features kept to answer several questions.
        memory = prefill_memory(config, longest, fit["tokens_per_frame"], options.text_tokens, caller_holds="features")
        items = {"weights": report["weights"][fit["weights"]]["bytes"], **memory.phases[memory.peak_phase]}
        if fit["weights"] == "4bit":
            # bitsandbytes dequantizes a 4-bit layer to 16 bits to multiply a whole prompt by it.
            text = config.text_config
            items["4-bit layer dequantized for the prefill"] = 2 * text.hidden_size * text.intermediate_size
        items["CUDA context (not in allocator statistics)"] = CUDA_CONTEXT_BYTES
        total = sum(items.values())
        fit["variants"].append({"variant": label, "peak_phase": memory.peak_phase, "items": items, "total_bytes": total,
                                "fits": total <= budget})
    return report


def _weights(config, weights: str) -> dict[str, Any]:
    counted = weight_bytes(config, weights)
    return {"quantized_params": counted.quantized_params, "other_params": counted.other_params, "bytes": counted.total}


def computed_tables(report: dict[str, Any]) -> list[Table]:
    from rich.table import Table

    from .report import format_bytes, format_macs

    model = report["model"]
    tables = []
    weights = Table(title=f"{model}: weights (computed, not measured)", title_justify="left")
    for header in ("weights", "4-bit-able params (LLM linears)", "16-bit params (vision, projector, head, embeddings)", "bytes"):
        weights.add_column(header, justify="right")
    for kind, row in report["weights"].items():
        weights.add_row(kind, f"{row['quantized_params'] / 1e9:.3f} B", f"{row['other_params'] / 1e9:.3f} B", format_bytes(row["bytes"]))
    tables.append(weights)

    frames = [key for key in report["kv"][0] if key != "variant"]
    kv = Table(title=f"{model}: cross-attention K/V kept for decoding (computed)", title_justify="left")
    kv.add_column("K/V storage")
    for count in frames:
        kv.add_column(f"{count} frames", justify="right")
    for row in report["kv"]:
        kv.add_row(row["variant"], *(format_bytes(row[c]) for c in frames))
    tables.append(kv)

    prefill = Table(title=f"{model}: prefill, {report['text_tokens']} text tokens (computed, not measured)", title_justify="left")
    for header in ("frames", "method", "MACs", "vision / proj / LLM / xattn", "x base", "peak activations", "x base", "peak phase"):
        prefill.add_column(header, justify="left" if header in ("method", "vision / proj / LLM / xattn", "peak phase") else "right")
    for row in report["prefill"]:
        base = next(r for r in report["prefill"] if r["frames"] == row["frames"] and r["method"].startswith("baseline")) \
            if any(r["method"].startswith("baseline") for r in report["prefill"]) else None
        macs = row["macs"]
        split = " / ".join(format_macs(macs[k]) for k in ("vision", "projector", "llm", "cross_attention"))
        ratio_macs = "" if base is None or base is row else f"{macs['total'] / base['macs']['total']:.3f}"
        ratio_memory = "" if base is None or base is row else f"{row['activation_bytes'] / base['activation_bytes']:.3f}"
        prefill.add_row(str(row["frames"]), row["method"], format_macs(macs["total"]), split, ratio_macs,
                        format_bytes(row["activation_bytes"]), ratio_memory, row["peak_phase"])
    tables.append(prefill)

    fit = report["fit"]
    check = Table(title=f"{model}, {fit['weights']} weights, {fit['frames']} frames at {fit['tokens_per_frame']} tokens/frame: "
                        f"does the prefill fit {format_bytes(fit['budget_bytes'])}? (computed)", title_justify="left")
    check.add_column("item")
    for variant in fit["variants"]:
        check.add_column(variant["variant"], justify="right")
    names = list(dict.fromkeys(name for v in fit["variants"] for name in v["items"]))
    for name in names:
        check.add_row(name, *(format_bytes(v["items"].get(name, 0)) for v in fit["variants"]))
    check.add_row("total", *(format_bytes(v["total_bytes"]) for v in fit["variants"]))
    check.add_row("fits", *("yes" if v["fits"] else "NO" for v in fit["variants"]))
    tables.append(check)
    return tables
