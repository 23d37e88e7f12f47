"""Where an answer ends: the tokens that stop generation and the one that pads, decided once.

Chat checkpoints end an assistant turn with `<|im_end|>`; base-model text ends with
`<|endoftext|>`; a tokenizer may name yet another eos token. Generation stops at any of them,
unless the checkpoint's own `generation_config.json` says otherwise. The loader writes this into a
loaded model's generation config, and greedy decoding falls back on the same decision for a model
whose config says nothing (one built in memory), so the two can never disagree.
"""

from __future__ import annotations

from typing import Any

from crosslmm_cli.modeling.tokenizer import ENDOFTEXT_TOKEN, IM_END_TOKEN


def stop_token_ids(tokenizer: Any) -> list[int]:
    """Ids of `<|im_end|>`, the tokenizer's eos and `<|endoftext|>`, those the tokenizer has, once each."""
    stops: list[int] = []
    for token in (IM_END_TOKEN, tokenizer.eos_token, ENDOFTEXT_TOKEN):
        token_id = tokenizer.convert_tokens_to_ids(token) if token else None
        if token_id is not None and token_id != tokenizer.unk_token_id and token_id not in stops:
            stops.append(token_id)
    return stops


def stop_settings(generation_config: Any, tokenizer: Any) -> dict[str, Any]:
    """`eos_token_id` and `pad_token_id` for whichever of the two `generation_config` leaves unset."""
    stops = stop_token_ids(tokenizer)
    settings: dict[str, Any] = {}
    if getattr(generation_config, "eos_token_id", None) is None and stops:
        settings["eos_token_id"] = stops
    if getattr(generation_config, "pad_token_id", None) is None:
        settings["pad_token_id"] = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else stops[0]
    return settings


def set_stop_tokens(generation_config: Any, tokenizer: Any) -> None:
    """Write `stop_settings` into a model's generation config (what `save_pretrained` then keeps)."""
    for name, value in stop_settings(generation_config, tokenizer).items():
        setattr(generation_config, name, value)
