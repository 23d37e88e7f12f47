"""Counting the multiply-adds of a forward pass, split by part of the model.

The paper counts multiply-adds (its "TFLOPs" are MACs), so we report MACs: torch's
`FlopCounterMode` counts 2 FLOPs per multiply-add, and we halve its totals.

Two things torch's counter does not do for us, fixed here:
- On CPU, `scaled_dot_product_attention` runs `aten._scaled_dot_product_flash_attention_for_cpu`,
  which the counter does not know: attention counted as 0. We register a formula for it (and for
  the CUDA kernels, replacing theirs, so both devices count alike).
- The counter ignores `is_causal`. The fused kernels skip fully masked blocks, so a causal
  prefill of S tokens does S(S+1)/2 query-key products, not S^2; we count what causal attention
  requires. An explicit mask is counted in full (the kernel cannot skip it).
bitsandbytes' 4-bit matmuls are counted too (same MACs as the 16-bit layer they replace).

The split (vision encoder / projector / LLM / cross-attention) comes from forward hooks on the
model's own modules, by identity, not from parsing module names.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from torch import nn

CATEGORIES = ("vision", "projector", "llm", "cross_attention")


@dataclass(frozen=True)
class MacCounts:
    """Multiply-adds of one forward pass, by part of the model."""

    vision: int = 0
    projector: int = 0
    llm: int = 0
    cross_attention: int = 0

    @property
    def total(self) -> int:
        return self.vision + self.projector + self.llm + self.cross_attention

    def __add__(self, other: MacCounts) -> MacCounts:
        return MacCounts(*(getattr(self, c) + getattr(other, c) for c in CATEGORIES))

    def as_dict(self) -> dict[str, int]:
        return {**asdict(self), "total": self.total}


def causal_pairs(q_len: int, k_len: int) -> int:
    """Query-key pairs under SDPA's causal mask (top-left aligned: query i sees keys 0..i)."""
    if q_len <= k_len:
        return q_len * (q_len + 1) // 2
    return k_len * (k_len + 1) // 2 + (q_len - k_len) * k_len


def attention_macs(q_shape, k_shape, v_shape, is_causal: bool = False) -> int:
    """MACs of softmax(Q K^T) V for q (B, H_q, S_q, d), k (B, H_kv, S_k, d), v (B, H_kv, S_k, d_v).

    Grouped-query attention broadcasts K/V heads, so every query head does the full work.
    Leading dimensions beyond 4 (none here, but SDPA allows them) fold into the batch.
    """
    *lead, heads, q_len, qk_dim = q_shape
    k_len, v_dim = k_shape[-2], v_shape[-1]
    pairs = causal_pairs(q_len, k_len) if is_causal else q_len * k_len
    return math.prod(lead) * heads * pairs * (qk_dim + v_dim)


# Formulas in FlopCounterMode's convention: tensors arrive as shapes, the result is in FLOPs (2 per MAC).
# Each mirrors its op's schema up to `is_causal`.
def _cpu_flash_flops(query, key, value, dropout_p=0.0, is_causal=False, *args, out_shape=None, **kwargs) -> int:
    return 2 * attention_macs(query, key, value, bool(is_causal))


def _cuda_flash_flops(query, key, value, dropout_p=0.0, is_causal=False, *args, out_shape=None, **kwargs) -> int:
    return 2 * attention_macs(query, key, value, bool(is_causal))


def _efficient_flops(query, key, value, attn_bias=None, compute_log_sumexp=False, dropout_p=0.0, is_causal=False,
                     *args, out_shape=None, **kwargs) -> int:
    return 2 * attention_macs(query, key, value, bool(is_causal))


def _cudnn_flops(query, key, value, attn_bias=None, compute_log_sumexp=False, dropout_p=0.0, is_causal=False,
                 *args, out_shape=None, **kwargs) -> int:
    return 2 * attention_macs(query, key, value, bool(is_causal))


def _overrideable_flops(query, key, value, attn_bias=None, dropout_p=0.0, is_causal=False,
                        *args, out_shape=None, **kwargs) -> int:
    return 2 * attention_macs(query, key, value, bool(is_causal))


def _matmul_4bit_flops(a_shape, *args, out_shape=None, **kwargs) -> int:
    """bitsandbytes gemm_4bit / gemv_4bit: out (..., N) from A (..., K): N*K MACs per row."""
    return 2 * math.prod(out_shape) * a_shape[-1]


def custom_formulas() -> dict[Any, Any]:
    """FlopCounterMode `custom_mapping`: attention kernels (causal-aware) and 4-bit matmuls."""
    import torch

    aten = torch.ops.aten
    mapping: dict[Any, Any] = {}
    for name, formula in (
        ("_scaled_dot_product_flash_attention_for_cpu", _cpu_flash_flops),
        ("_scaled_dot_product_flash_attention", _cuda_flash_flops),
        ("_scaled_dot_product_efficient_attention", _efficient_flops),
        ("_scaled_dot_product_cudnn_attention", _cudnn_flops),
        ("_scaled_dot_product_fused_attention_overrideable", _overrideable_flops),
    ):
        if hasattr(aten, name):
            mapping[getattr(aten, name)] = formula
    bnb_ops = getattr(torch.ops, "bitsandbytes", None)
    for name in ("gemm_4bit", "gemv_4bit"):
        try:
            mapping[getattr(bnb_ops, name)] = _matmul_4bit_flops
        except (AttributeError, RuntimeError):  # bitsandbytes not imported or an older build without the op
            pass
    return mapping


def category_modules(model: nn.Module) -> dict[str, list[nn.Module]]:
    """The modules whose forward passes belong to each counted part (everything else is "llm")."""
    inner = model.model if hasattr(model, "model") else model
    cross = [layer.cross_attn for layer in inner.language_model.layers if layer.cross_attn is not None]
    return {
        # The frame encoder calls the tower's embeddings and layers directly, never the tower itself.
        "vision": list(inner.vision_tower.modules()),
        "projector": [inner.multi_modal_projector],
        "cross_attention": cross,
    }


class MacCounter:
    """Context manager: `with MacCounter(model) as counter: model(...)`, then `counter.counts`.

    FlopCounterMode counts every op; forward hooks on the model's modules note which part was
    running (the outermost counted module wins), and the counter's running total is split at
    their boundaries.
    """

    def __init__(self, model: nn.Module):
        self.model = model
        self._totals = dict.fromkeys(CATEGORIES, 0)
        self._active: str | None = None
        self._depth = 0
        self._start = 0
        self._handles: list[Any] = []
        self._mode = None

    def _flops_so_far(self) -> int:
        return self._mode.get_total_flops()

    def _enter(self, category: str) -> None:
        if self._depth == 0:
            self._active, self._start = category, self._flops_so_far()
        self._depth += 1

    def _exit(self) -> None:
        self._depth -= 1
        if self._depth == 0:
            self._totals[self._active] += self._flops_so_far() - self._start
            self._active = None

    def __enter__(self) -> MacCounter:
        from torch.utils.flop_counter import FlopCounterMode

        for category, modules in category_modules(self.model).items():
            for module in modules:
                self._handles.append(module.register_forward_pre_hook(lambda *_, c=category: self._enter(c)))
                self._handles.append(module.register_forward_hook(lambda *_: self._exit(), always_call=True))
        self._mode = FlopCounterMode(display=False, custom_mapping=custom_formulas())
        self._mode.__enter__()
        return self

    def __exit__(self, *exc_info) -> None:
        try:
            self._mode.__exit__(*exc_info)
        finally:
            for handle in self._handles:
                handle.remove()
            self._handles.clear()
        total = self._mode.get_total_flops()
        self._totals["llm"] = total - sum(v for c, v in self._totals.items() if c != "llm")

    @property
    def counts(self) -> MacCounts:
        """MACs by part (FLOPs / 2)."""
        return MacCounts(**{c: v // 2 for c, v in self._totals.items()})
