"""The demo model's training recipe, stage by stage (run by ../build.py; never imported by the product).

settings   the model's shape, each stage's budget, the ablation's settings, the initial model
vision     stage 0a: the encoder learns what covers each patch (dense labels from the synthetic world)
records    the records `crosslmm train` runs on: stage 0b's text (the world's language), stage 1b's
           captions, stage 2's questions and the tool's own prompts
grounding  stage 1a: layer 0's T2V learns to find what a word names
weights    moving parameter groups between checkpoints (the stages train different parts)
"""
