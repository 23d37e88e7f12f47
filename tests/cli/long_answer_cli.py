"""`crosslmm` with a stub answer generator: every answer is LONG_ANSWER, streamed word by word.

For the pty tests: the model, the video, the prompt and the terminal rendering are the real ones,
only the tokens come from here (a tiny model cannot be made to say 400 known words). Run as
`python long_answer_cli.py ask --model demo clip.mp4 "question"`.
"""

from __future__ import annotations

import sys

#: 400 numbered words in paragraphs, one of them a Markdown list: far taller than a 24-row terminal.
_PARAGRAPHS = [" ".join(f"w{n}" for n in range(k, k + 20)) for k in range(1, 401, 20)]
LONG_ANSWER = "\n\n".join(("- " + text) if i % 5 == 3 else text for i, text in enumerate(_PARAGRAPHS))


def _stub_generate(self):  # Answer._generate: the same contract, fixed text
    for piece in LONG_ANSWER.split(" "):
        chunk = piece + " "
        self.text += chunk
        yield chunk


def main() -> None:
    from crosslmm_cli.cli import app
    from crosslmm_cli.engine.inference import Answer

    Answer._generate = _stub_generate
    sys.argv[0] = "crosslmm"
    app()


if __name__ == "__main__":
    main()
