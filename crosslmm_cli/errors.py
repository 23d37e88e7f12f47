"""Errors the tool reports to users: `str(error)` is one line that names the input and the cause.

Library code raises these (never `assert` on user input), so programs calling it can tell "your
file is broken" from a bug; the CLI turns any of them into one line on stderr,
`error: <input>: <cause> (hint: ...)`, and exits with the class's `exit_code`.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILED = 1  # some inputs failed
EXIT_USAGE = 2  # bad flags or settings (click uses 2 for its own usage errors too)
EXIT_MODEL = 3  # the model could not be found, downloaded or loaded
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report it


class CrossLMMError(Exception):
    """Base class of every error meant for the user rather than for a traceback: `str()` is the
    cause, `hint` what to try."""

    exit_code = EXIT_FAILED
    hint: str | None = None

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        if hint is not None:
            self.hint = hint

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""


class UsageError(CrossLMMError):
    """Flags, settings or arguments that cannot work together."""

    exit_code = EXIT_USAGE


class SettingsError(UsageError):
    """The settings file is unreadable or has a bad value."""


class ModelLoadError(CrossLMMError):
    """The model could not be found, downloaded, converted or loaded."""

    exit_code = EXIT_MODEL


class ModelNotFoundError(ModelLoadError):
    """No local directory, bundled model, preset on disk or cached hub repository of that name."""


class CheckpointError(ModelLoadError):
    """A checkpoint directory is incomplete, corrupt, or holds weights we refuse to load (pickles)."""


class DownloadError(ModelLoadError):
    """A hub download failed (unknown or gated repo, missing revision, HTTP error)."""


class OfflineError(DownloadError):
    """A download was needed and the Hugging Face Hub cannot be reached."""


class InputError(CrossLMMError):
    """One input (a video, a subtitle file) could not be used; a batch goes on past it."""


class OutOfMemoryError(CrossLMMError):
    """The accelerator ran out of memory for this input; fewer frames may fit."""

    def __init__(self, message: str, *, frames: int | None = None) -> None:
        fewer = max(1, frames // 2) if frames else None
        hint = f"retry with fewer frames, e.g. --frames {fewer}" if fewer else "retry with fewer frames"
        super().__init__(message, hint=hint)
        self.frames = frames


class ServerUnavailableError(CrossLMMError):
    """A `crosslmm serve` the CLI was pointed at (--server, $CROSSLMM_SERVER) cannot be reached or turned the request away."""

    exit_code = EXIT_MODEL


class ClusterError(CrossLMMError):
    """`--engine ray` could not start or reach its Ray cluster, or the cluster lost work it could not redo."""

    exit_code = EXIT_MODEL


#: What each error is called on the wire: the `code` of the server's JSON errors, which the client
#: turns back into the same class (so a command gives the same line and exit code either way).
#: Most specific first.
WIRE_CODES: tuple[tuple[str, type[CrossLMMError]], ...] = (
    ("out_of_memory", OutOfMemoryError),
    ("model_not_found", ModelNotFoundError),
    ("model_error", ModelLoadError),
    ("usage_error", UsageError),
    ("input_error", InputError),
    ("server_unavailable", ServerUnavailableError),
    ("error", CrossLMMError),
)


def wire_code(error: CrossLMMError) -> str:
    """The wire name of `error`'s class (its nearest listed ancestor)."""
    return next(code for code, cls in WIRE_CODES if isinstance(error, cls))


def from_wire(code: str | None, message: str, hint: str | None = None) -> CrossLMMError:
    """The typed error a server's JSON error stands for; an unknown code is a plain CrossLMMError."""
    cls = dict(WIRE_CODES).get(code or "", CrossLMMError)
    error = cls.__new__(cls)
    CrossLMMError.__init__(error, message, hint=hint)
    if isinstance(error, OutOfMemoryError):
        error.frames = None
    return error


def is_out_of_memory(exc: BaseException) -> bool:
    """True for torch's CUDA/MPS out-of-memory errors, without importing torch."""
    if isinstance(exc, OutOfMemoryError):
        return True
    name = type(exc).__name__
    return name == "OutOfMemoryError" or (isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower())


def reraise_out_of_memory(exc: BaseException, frames: int, doing: str) -> None:
    """Raise `exc` as an OutOfMemoryError that knows the frame count (for its hint), if it is one."""
    if is_out_of_memory(exc) and not isinstance(exc, OutOfMemoryError):
        raise OutOfMemoryError(f"out of accelerator memory {doing} {frames} frames", frames=frames) from exc


def as_crosslmm_error(exc: BaseException, *, frames: int | None = None) -> CrossLMMError:
    """Map errors from the libraries below (video, torch, OS) onto the typed errors above.

    Unknown exceptions become a plain `CrossLMMError` carrying their type name, so one bad input
    never stops a batch and the user sees the cause in one line.
    """
    if isinstance(exc, CrossLMMError):
        return exc
    if is_out_of_memory(exc):
        return OutOfMemoryError(f"out of accelerator memory ({first_line(exc)})", frames=frames)
    if type(exc).__name__ == "VideoError" or any(cls.__name__ == "VideoError" for cls in type(exc).__mro__):
        # crosslmm_cli.video's errors already name the file and the cause.
        return InputError(str(exc))
    if isinstance(exc, FileNotFoundError):
        return InputError(f"{exc.filename}: no such file" if exc.filename else first_line(exc))
    if isinstance(exc, IsADirectoryError):
        return InputError(f"{exc.filename}: is a directory")
    if isinstance(exc, PermissionError):
        return InputError(f"{exc.filename}: permission denied" if exc.filename else first_line(exc))
    if isinstance(exc, OSError):
        return InputError(first_line(exc))
    return CrossLMMError(f"{type(exc).__name__}: {first_line(exc)}", hint="rerun with --verbose for the traceback")


def for_input(exc: BaseException, path: str, *, frames: int | None = None) -> CrossLMMError:
    """`exc` as a typed error whose message names `path` (for single-video commands)."""
    err = as_crosslmm_error(exc, frames=frames)
    if path in err.message:
        return err
    named = type(err).__new__(type(err))
    CrossLMMError.__init__(named, f"{path}: {err.message}", hint=err.hint)
    named.__dict__.update({k: v for k, v in err.__dict__.items() if k != "hint"})
    return named


def error_line(exc: BaseException, subject: str | None = None) -> str:
    """The one line shown on stderr: `error: [subject: ]cause[ (hint: ...)]`."""
    err = as_crosslmm_error(exc)
    message = err.message
    if subject and subject not in message:
        message = f"{subject}: {message}"
    line = f"error: {message}"
    if err.hint:
        line += f" (hint: {err.hint})"
    return line


def first_line(exc: BaseException) -> str:
    """An exception's first line of text (its type's name when it has none)."""
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]
