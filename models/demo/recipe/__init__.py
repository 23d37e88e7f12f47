"""The demo model's training recipe, stage by stage (run by ../build.py; never imported by the product).

vision    stage 0a: the encoder learns what covers each patch (dense labels from the synthetic world)
language  stage 0b: the LLM learns the world's language (text-only records for `crosslmm train`)
records   stage 1 and 2: the captions and the mixture `crosslmm train` is run on
weights   moving parameter groups between checkpoints (the stages train different parts)
"""
