"""transformers' own progress bars ("Loading weights: 100%|####|", "Writing model shards"), off
while the tool loads or writes a checkpoint: a command reports its progress itself (or, with
--quiet, not at all), and a bar on stderr in the middle of an answer or a table is noise."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator


@contextlib.contextmanager
def no_transformers_progress() -> Iterator[None]:
    """transformers' progress bars disabled inside the block, restored as they were after it."""
    from transformers.utils import logging as transformers_logging

    was_on = transformers_logging.is_progress_bar_enabled()
    transformers_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_on:
            transformers_logging.enable_progress_bar()
