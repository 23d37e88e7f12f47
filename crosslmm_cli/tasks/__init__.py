"""What crosslmm does with videos: describe them, answer questions, chapter them.

- `video_tasks`: one task on one prepared video (describe / ask / chapterize), text streamed;
- `chapters`: chapter boundaries from changes in the frames' vision features;
- `chapter_formats`: chapters as text, YouTube, JSON, WebVTT or ffmetadata;
- `many`: a task over many videos (the batch runner driving the task runner), resumable.

Built on the engine (`crosslmm_cli.engine`) and the batch runner (`crosslmm_cli.batch`); the CLI's
commands call these functions.
"""

from crosslmm_cli.tasks.chapters import Chapter, ChapterOptions, detect_chapters
from crosslmm_cli.tasks.many import ManyVideosHooks, run_task_over_videos
from crosslmm_cli.tasks.video_tasks import (
    DESCRIBE_PROMPT,
    TASKS,
    TITLE_PROMPT,
    Hooks,
    TaskRunner,
    ask_video,
    chapter_frames,
    chapterize_video,
    describe_video,
    find_chapters,
    generate_text,
    title_chapters,
    titled_chapters,
    video_fields,
)

__all__ = [
    "DESCRIBE_PROMPT", "TASKS", "TITLE_PROMPT", "Chapter", "ChapterOptions", "Hooks", "ManyVideosHooks", "TaskRunner",
    "ask_video", "chapter_frames", "chapterize_video", "describe_video", "detect_chapters", "find_chapters",
    "generate_text", "run_task_over_videos", "title_chapters", "titled_chapters", "video_fields",
]
