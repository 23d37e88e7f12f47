"""Test videos, generated once per session with ffmpeg's lavfi sources (nothing is downloaded).

Every "index" video shows its own frame number as a 14-bit binary code: 2 rows x 7 columns of
16x16 blocks, white for 1 (bit b at row b // 7, column b % 7). `frame_number(frame)` reads it
back at any scale, so a test can tell exactly which frame a decoder returned.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import threading
from pathlib import Path

import numpy as np
import pytest

from crosslmm_cli.video import ffmpeg_executable

BITS, COLUMNS, BLOCK = 14, 7, 16
INDEX_SIZE = (COLUMNS * BLOCK, 2 * BLOCK)  # 112 x 32
#: The main fixture's name carries spaces and non-ASCII characters on purpose.
MAIN_NAME = "clip with spaces ñ 日本.mp4"


def code_filter() -> str:
    boxes = []
    for bit in range(BITS):
        row, column = divmod(bit, COLUMNS)
        boxes.append(
            f"drawbox=x={column * BLOCK}:y={row * BLOCK}:w={BLOCK}:h={BLOCK}:color=white:t=fill"
            f":enable='mod(floor(n/{2**bit})\\,2)'"
        )
    return ",".join(boxes)


def frame_number(frame: np.ndarray) -> int:
    """The frame number drawn into `frame` (H, W, 3), at any decoded size."""
    height, width = frame.shape[:2]
    gray = frame.astype(np.float32).mean(axis=-1)
    number = 0
    for bit in range(BITS):
        row, column = divmod(bit, COLUMNS)
        y0, y1 = int((row + 0.3) / 2 * height), max(int((row + 0.7) / 2 * height), int((row + 0.3) / 2 * height) + 1)
        x0, x1 = int((column + 0.3) / COLUMNS * width), max(int((column + 0.7) / COLUMNS * width), int((column + 0.3) / COLUMNS * width) + 1)
        if gray[y0:y1, x0:x1].mean() > 128:
            number |= 1 << bit
    return number


def run_ffmpeg(*args: str) -> None:
    subprocess.run(
        [ffmpeg_executable(), "-nostdin", "-hide_banner", "-loglevel", "error", "-y", *args],
        check=True,
        capture_output=True,
    )


def index_source(rate: float, seconds: float, size: tuple[int, int] = INDEX_SIZE) -> list[str]:
    return ["-f", "lavfi", "-i", f"color=black:size={size[0]}x{size[1]}:rate={rate}:duration={seconds}"]


def has_encoder(name: str) -> bool:
    listing = subprocess.run([ffmpeg_executable(), "-hide_banner", "-encoders"], capture_output=True, text=True).stdout
    return any(line.split()[1:2] == [name] for line in listing.splitlines() if len(line.split()) > 1)


def _vfr_pts(n: int) -> float:
    """Presentation time of frame n of the VFR fixture: 10 fps for 1 s, then 4 fps."""
    return n * 0.1 if n < 10 else 1.0 + (n - 10) * 0.25


class Media:
    """Lazily generated fixture files (each made once per session, on first use)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._lock = threading.RLock()
        self._made: dict[str, Path] = {}

    def __getitem__(self, name: str) -> Path:
        with self._lock:
            if name not in self._made:
                self._made[name] = getattr(self, "_make_" + name)()
            return self._made[name]

    vfr_pts = staticmethod(_vfr_pts)

    # --- index videos: 30 fps, 10 s (300 frames), keyframe every 30 frames, B-frames ---------
    def _index(self, name: str, codec: list[str], seconds: float = 10, rate: float = 30) -> Path:
        path = self.root / name
        run_ffmpeg(*index_source(rate, seconds), "-vf", code_filter(), *codec, "-pix_fmt", "yuv420p", str(path))
        return path

    def _make_h264(self) -> Path:
        return self._index(MAIN_NAME, ["-c:v", "libx264", "-preset", "veryfast", "-g", "30", "-bf", "2"])

    def _make_h264_mkv(self) -> Path:
        return self._index("index h264.mkv", ["-c:v", "libx264", "-preset", "veryfast", "-g", "30"])

    def _make_h264_mov(self) -> Path:
        return self._index("index.mov", ["-c:v", "libx264", "-preset", "veryfast", "-g", "30"])

    def _make_vp9_webm(self) -> Path:
        return self._index("index.webm", ["-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-g", "30"])

    def _make_hevc_closed(self) -> Path:
        params = "log-level=error:open-gop=0"
        return self._index("index hevc closed.mp4", ["-c:v", "libx265", "-preset", "ultrafast", "-x265-params", params, "-g", "30"])

    def _make_hevc_open(self) -> Path:
        # x265's default: open GOPs (CRA keyframes with leading pictures), where decord miscounts.
        return self._index("index hevc open.mkv", ["-c:v", "libx265", "-preset", "ultrafast", "-x265-params", "log-level=error", "-g", "30"])

    def _make_av1(self) -> Path:
        if has_encoder("libaom-av1"):
            codec = ["-c:v", "libaom-av1", "-cpu-used", "8", "-g", "30"]
        elif has_encoder("libsvtav1"):
            codec = ["-c:v", "libsvtav1", "-preset", "12", "-g", "30"]
        else:
            pytest.skip("this ffmpeg has no AV1 encoder")
        return self._index("index av1.mkv", codec, seconds=4)

    def _make_mpeg4_avi(self) -> Path:
        return self._index("index.avi", ["-c:v", "mpeg4", "-q:v", "2", "-g", "30"])

    def _make_mpeg2_ts(self) -> Path:
        return self._index("index.ts", ["-c:v", "mpeg2video", "-q:v", "2", "-g", "30", "-bf", "2"])

    def _make_gif(self) -> Path:
        path = self.root / "index anim.gif"
        run_ffmpeg(*index_source(10, 2), "-vf", code_filter(), str(path))
        return path

    def _make_one_frame(self) -> Path:
        path = self.root / "one frame.mp4"
        run_ffmpeg(*index_source(25, 1), "-vf", code_filter(), "-frames:v", "1", "-c:v", "libx264", "-pix_fmt", "yuv420p", str(path))
        return path

    def _make_two_hours(self) -> Path:
        # 2 h at 1 fps and 112x32: 7,200 frames, a keyframe a minute, ~1 MB, made in about a second.
        return self._index("two hours.mp4", ["-c:v", "libx264", "-preset", "ultrafast", "-g", "60"], seconds=7200, rate=1)

    def _make_vfr(self) -> Path:
        path = self.root / "vfr.mkv"
        expression = "if(lt(N\\,10)\\,N*0.1\\,1+(N-10)*0.25)/TB"
        run_ffmpeg(
            *index_source(10, 3), "-vf", f"{code_filter()},settb=1/1000,setpts='{expression}'",
            "-fps_mode", "passthrough", "-enc_time_base:v", "1:1000",
            "-c:v", "libx264", "-preset", "veryfast", "-g", "8", "-pix_fmt", "yuv420p", str(path),
        )  # fmt: skip
        return path

    def _make_rotated(self) -> Path:
        """A landscape 64x32 frame with a white square top-left, stored with the display matrix
        of a phone held upright (rotate 90 degrees clockwise to view)."""
        plain = self.root / "landscape.mp4"
        run_ffmpeg(
            "-f", "lavfi", "-i", "color=black:size=64x32:rate=10:duration=1",
            "-vf", "drawbox=x=0:y=0:w=16:h=16:color=white:t=fill", "-c:v", "libx264", "-pix_fmt", "yuv420p", str(plain),
        )  # fmt: skip
        path = self.root / "portrait phone.mp4"
        run_ffmpeg("-display_rotation", "-90", "-i", str(plain), "-c", "copy", str(path))
        return path

    def _make_with_audio(self) -> Path:
        path = self.root / "with audio.mp4"
        run_ffmpeg(
            *index_source(30, 3), "-f", "lavfi", "-i", "sine=duration=3", "-vf", code_filter(),
            "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(path),
        )  # fmt: skip
        return path

    def _make_large(self) -> Path:
        """640x360: big enough that decoding at a smaller size matters."""
        path = self.root / "large.mp4"
        run_ffmpeg(
            "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25:duration=4",
            "-c:v", "libx264", "-preset", "veryfast", "-g", "25", "-pix_fmt", "yuv420p", str(path),
        )  # fmt: skip
        return path

    # --- bad inputs -------------------------------------------------------------------------
    def _make_text(self) -> Path:
        path = self.root / "notes.txt"
        path.write_text("These are meeting notes, not a video.\n" * 20, encoding="utf-8")
        return path

    def _make_text_as_mp4(self) -> Path:
        path = self.root / "renamed notes.mp4"
        path.write_text("These are meeting notes, not a video.\n" * 20, encoding="utf-8")
        return path

    def _make_random(self) -> Path:
        path = self.root / "random.mp4"
        path.write_bytes(np.random.default_rng(0).integers(0, 256, 50_000, dtype=np.uint8).tobytes())
        return path

    def _make_audio_only(self) -> Path:
        path = self.root / "voice memo.m4a"
        run_ffmpeg("-f", "lavfi", "-i", "sine=frequency=440:duration=2", "-c:a", "aac", str(path))
        return path

    def _make_empty(self) -> Path:
        path = self.root / "empty.mp4"
        path.write_bytes(b"")
        return path

    def _make_zero_frames(self) -> Path:
        path = self.root / "zero frames.mp4"
        run_ffmpeg(*index_source(25, 1), "-frames:v", "0", "-c:v", "libx264", str(path))
        return path

    def _make_truncated_no_index(self) -> Path:
        """An mp4 cut in half with its index (moov) at the end: nothing is decodable."""
        source = self["large"]
        path = self.root / "cut no index.mp4"
        data = source.read_bytes()
        assert data.find(b"moov") > len(data) // 2, "fixture expects the moov atom at the end"
        path.write_bytes(data[: len(data) // 2])
        return path

    def _make_truncated(self) -> Path:
        """A faststart mp4 (index first) cut in half: the first half decodes."""
        faststart = self.root / "faststart.mp4"
        run_ffmpeg(
            "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=25:duration=8",
            "-c:v", "libx264", "-preset", "veryfast", "-g", "25", "-movflags", "+faststart", str(faststart),
        )  # fmt: skip
        path = self.root / "cut download.mp4"
        data = faststart.read_bytes()
        path.write_bytes(data[: len(data) // 2])
        return path

    def _make_truncated_mkv(self) -> Path:
        source = self.root / "full.mkv"
        run_ffmpeg(
            "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=25:duration=8",
            "-c:v", "libx264", "-preset", "veryfast", "-g", "25", str(source),
        )  # fmt: skip
        path = self.root / "cut recording.mkv"
        data = source.read_bytes()
        path.write_bytes(data[: len(data) // 2])
        return path

    def _make_unknown_codec(self) -> Path:
        """An AVI whose video FourCC is patched to one no decoder knows ("ZZZZ")."""
        source = self.root / "xvid.avi"
        run_ffmpeg(*index_source(10, 1), "-c:v", "mpeg4", "-vtag", "FMP4", str(source))
        data = source.read_bytes()
        assert data.count(b"FMP4") >= 1
        path = self.root / "unknown codec.avi"
        path.write_bytes(data.replace(b"FMP4", b"ZZZZ").replace(b"fmp4", b"ZZZZ"))
        return path

    def _make_huge_y4m(self) -> Path:
        """A YUV4MPEG2 stream whose header claims 100000 x 100000 pixels."""
        path = self.root / "huge.y4m"
        path.write_bytes(b"YUV4MPEG2 W100000 H100000 F25:1 Ip A1:1 C420jpeg\nFRAME\n" + bytes(4096))
        return path

    def _make_wide_y4m(self) -> Path:
        """Valid for ffmpeg (30000 x 8) but absurd for a video model."""
        path = self.root / "wide.y4m"
        frame = bytes(30000 * 8 * 3 // 2)
        path.write_bytes(b"YUV4MPEG2 W30000 H8 F25:1 Ip A1:1 C420jpeg\nFRAME\n" + frame)
        return path

    def _make_png(self) -> Path:
        from PIL import Image

        path = self.root / "photo.png"
        image = np.zeros((40, 60, 3), dtype=np.uint8)
        image[:20, :30] = (255, 0, 0)
        Image.fromarray(image).save(path)
        return path

    def _make_jpeg(self) -> Path:
        from PIL import Image

        path = self.root / "photo.jpg"
        Image.fromarray(np.full((30, 50, 3), 200, dtype=np.uint8)).save(path, quality=95)
        return path


HAVE_DECORD = importlib.util.find_spec("decord") is not None


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "decord: needs decord2 (skipped where it is not installed)")


@pytest.fixture(autouse=True)
def _skip_without_decord(request: pytest.FixtureRequest) -> None:
    """decord2 has no wheel for some platforms: its tests skip there, ffmpeg's still run."""
    if HAVE_DECORD:
        return
    params = getattr(getattr(request.node, "callspec", None), "params", {})
    if params.get("backend") == "decord" or request.node.get_closest_marker("decord"):
        pytest.skip("decord2 is not installed")


@pytest.fixture(scope="session")
def media(tmp_path_factory: pytest.TempPathFactory) -> Media:
    return Media(tmp_path_factory.mktemp("media"))


@pytest.fixture(scope="session")
def read_number():
    return frame_number


@pytest.fixture(autouse=True, scope="session")
def _quiet_worker_env():
    os.environ.pop("CROSSLMM_TEST_WORKER_HANG_ON", None)
    yield
