"""Research code of the demo model: probes of the synthetic world and the Table 2a miniature.

Not part of the product (`crosslmm_cli` never imports it, and the wheel does not carry it):
`models/demo/build.py` imports it as `research` (the script's own folder is on `sys.path` when
it runs), and each module runs from the repository root as
`PYTHONPATH=models/demo python -m research.<module> ...`.
"""
