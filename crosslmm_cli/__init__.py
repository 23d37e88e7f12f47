"""crosslmm: answer questions about local video files with CrossLMM.

Importing this package stays cheap (no torch, no transformers) so that the command line
starts instantly; the heavy modules are imported by the commands that need them.
"""

__version__ = "0.1.0"
