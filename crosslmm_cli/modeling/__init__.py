"""CrossLMM model code, in transformers' conventions (config, model, cache, processor).

Importing this package registers the model with transformers' Auto classes, so
`AutoConfig.from_pretrained(dir)` and `AutoModelForImageTextToText.from_pretrained(dir)` load a
CrossLMM checkpoint directory (never with remote code).
"""

from transformers import AutoConfig, AutoModel, AutoModelForImageTextToText

from .cache import CrossLMMCache
from .configuration import CrossLMMConfig, every_kth_layer
from .modeling_crosslmm import (
    CrossLMMCausalLMOutputWithPast,
    CrossLMMForConditionalGeneration,
    CrossLMMModel,
    CrossLMMPreTrainedModel,
)

AutoConfig.register(CrossLMMConfig.model_type, CrossLMMConfig, exist_ok=True)
AutoModel.register(CrossLMMConfig, CrossLMMModel, exist_ok=True)
AutoModelForImageTextToText.register(CrossLMMConfig, CrossLMMForConditionalGeneration, exist_ok=True)

__all__ = [
    "CrossLMMCache",
    "CrossLMMCausalLMOutputWithPast",
    "CrossLMMConfig",
    "CrossLMMForConditionalGeneration",
    "CrossLMMModel",
    "CrossLMMPreTrainedModel",
    "every_kth_layer",
]
