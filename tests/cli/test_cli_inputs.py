import io
import os

from crosslmm_cli.video.discovery import discover_inputs


def touch(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")
    return path


def test_directories_are_walked_recursively_sorted_by_extension(tmp_path):
    for name in ("b.mp4", "a.MKV", "sub/c.webm", "sub/notes.txt", ".hidden/d.mp4", "sub/.e.mp4", "z.mov"):
        touch(tmp_path / "v" / name)
    found = discover_inputs([str(tmp_path / "v")])
    rel = [os.path.relpath(p, tmp_path / "v") for p in found]
    assert rel == ["a.MKV", "b.mp4", "sub/c.webm", "z.mov"]


def test_symlink_loops_end_and_each_file_comes_once(tmp_path):
    touch(tmp_path / "v" / "a.mp4")
    touch(tmp_path / "v" / "sub" / "b.mp4")
    os.symlink(tmp_path / "v", tmp_path / "v" / "sub" / "loop")  # v/sub/loop -> v
    os.symlink(tmp_path / "v" / "a.mp4", tmp_path / "v" / "sub" / "alias.mp4")
    found = discover_inputs([str(tmp_path / "v"), str(tmp_path / "v" / "a.mp4")])
    assert sorted(os.path.realpath(p) for p in found) == sorted(
        [str((tmp_path / "v" / "a.mp4").resolve()), str((tmp_path / "v" / "sub" / "b.mp4").resolve())]
    )
    assert len(found) == 2


def test_stdin_paths_files_as_given_and_missing_paths_kept(tmp_path):
    touch(tmp_path / "clip.dat")  # an explicitly named file counts whatever its extension
    touch(tmp_path / "d" / "x.mp4")
    stdin = io.StringIO(f"{tmp_path / 'clip.dat'}\n\n{tmp_path / 'd'}\r\n{tmp_path / 'missing.mp4'}\n")
    found = discover_inputs(["-"], stdin=stdin)
    assert found == [str(tmp_path / "clip.dat"), str(tmp_path / "d" / "x.mp4"), str(tmp_path / "missing.mp4")]


def test_a_stdin_path_with_leading_spaces_is_named_once_and_the_rule_said(tmp_path, monkeypatch):
    """Issue 14, item 6: `  corpus/vp9.webm` gave `error:   corpus/vp9.webm: corpus/vp9.webm: no such file`."""
    from typer.testing import CliRunner

    from crosslmm_cli.cli import app

    touch(tmp_path / "corpus" / "vp9.webm")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["describe", "-"], input="  corpus/vp9.webm\n")
    assert result.exit_code == 1
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("error: '  corpus/vp9.webm': no such file")
    assert line.count("corpus/vp9.webm") == 2  # the path as given, and the one that exists, in the hint
    assert "'corpus/vp9.webm' exists: paths are taken exactly as written" in line


def test_stdin_lines_lose_only_their_line_ending(tmp_path):
    touch(tmp_path / " lead.mp4")
    stdin = io.StringIO(f"{tmp_path}/ lead.mp4\r\n{tmp_path}/tail.mp4 \n")
    assert discover_inputs(["-"], stdin=stdin) == [f"{tmp_path}/ lead.mp4", f"{tmp_path}/tail.mp4 "]
