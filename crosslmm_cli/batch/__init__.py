"""Many inputs, resumably: the batch runner and its results log. Knows no model.

`run_batch(inputs, prepare=..., process=...)` runs `process(prepare(path))` for every input not
yet done, the next input prepared in a background thread while this one is processed; every input
ends as one whole record appended to a `ResultsLog`, so an interrupted run resumes where it stopped.
`prepare` and `process` are plain callables: the local task runner (`crosslmm_cli.tasks`) passes
its own; `run_one` is the per-input step (one record, failures and the out-of-memory retry included)
that the Ray engine's model actors run too, so both engines write the same records.

Imports nothing of ours but `errors`.
"""

from crosslmm_cli.batch.results import JsonlWriter, ResultsLog, latest_records, record_key, record_line, task_record
from crosslmm_cli.batch.runner import BatchProgress, BatchSummary, plan_batch, run_batch, run_one

__all__ = ["BatchProgress", "BatchSummary", "JsonlWriter", "ResultsLog", "latest_records", "plan_batch", "record_key",
           "record_line", "run_batch", "run_one", "task_record"]
