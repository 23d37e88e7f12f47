"""A small synthetic video world with exact ground truth, for the demo model and the ablations.

Clips of coloured shapes that move, appear, disappear or change colour at known times, tiny
dots as fine detail, and multi-scene clips for chapters; each with a caption, question-answer
pairs and chapter boundaries. See docs/synthetic-world.md.

    from crosslmm_cli.synthetic import write_dataset
    files = write_dataset("data/synth", n=500, seed=0)   # {"train": SplitFiles, "eval": SplitFiles}
"""

from crosslmm_cli.synthetic.captions import caption, chapters, format_chapters, format_time
from crosslmm_cli.synthetic.corpus import text_corpus
from crosslmm_cli.synthetic.dataset import SPLITS, SplitFiles, generate_clip, read_clips, write_dataset, write_split
from crosslmm_cli.synthetic.formats import eval_records, train_records
from crosslmm_cli.synthetic.questions import (
    OBJECT_TASKS,
    QA,
    TASKS,
    clip_questions,
    make_choices,
    multiple_choice_prompt,
)
from crosslmm_cli.synthetic.random_clips import SamplingError, sample_clip
from crosslmm_cli.synthetic.render import frame_times, render_clip
from crosslmm_cli.synthetic.scene import Clip, Event, Scene, Thing
from crosslmm_cli.synthetic.video_writer import VideoWriteError, ffmpeg_executable, write_mp4
from crosslmm_cli.synthetic.world import WorldConfig

__all__ = [
    "OBJECT_TASKS",
    "QA",
    "SPLITS",
    "TASKS",
    "Clip",
    "Event",
    "SamplingError",
    "Scene",
    "SplitFiles",
    "Thing",
    "VideoWriteError",
    "WorldConfig",
    "caption",
    "chapters",
    "clip_questions",
    "eval_records",
    "ffmpeg_executable",
    "format_chapters",
    "format_time",
    "frame_times",
    "generate_clip",
    "make_choices",
    "multiple_choice_prompt",
    "read_clips",
    "render_clip",
    "sample_clip",
    "text_corpus",
    "train_records",
    "write_dataset",
    "write_mp4",
    "write_split",
]
