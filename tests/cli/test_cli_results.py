import json

from crosslmm_cli.batch.results import ResultsLog, record_key


def test_append_writes_whole_lines_and_resume_knows_status(tmp_path):
    path = tmp_path / "out" / "r.jsonl"
    with ResultsLog.open(path) as log:
        log.append({"path": "a.mp4", "task": "describe", "ok": True, "text": "ünïcode"})
        log.append({"path": "b.mp4", "task": "describe", "ok": False, "error": "bad"})
    lines = path.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["path"] for line in lines] == ["a.mp4", "b.mp4"]
    assert "ünïcode" in lines[0]
    with ResultsLog.open(path) as log:
        assert log.status(record_key({"path": "a.mp4", "task": "describe"})) is True
        assert log.status(record_key({"path": "b.mp4", "task": "describe"})) is False
        assert log.status(record_key({"path": "a.mp4", "task": "ask", "question": "q"})) is None
        log.append({"path": "b.mp4", "task": "describe", "ok": True})
        assert log.status(record_key({"path": "b.mp4", "task": "describe"})) is True


def test_trailing_partial_line_from_a_hard_kill_is_truncated(tmp_path):
    path = tmp_path / "r.jsonl"
    good = json.dumps({"path": "a.mp4", "task": "describe", "ok": True}) + "\n"
    path.write_text(good + '{"path": "b.mp4", "task": "desc', encoding="utf-8")
    with ResultsLog.open(path) as log:
        assert len(log.records) == 1
        log.append({"path": "b.mp4", "task": "describe", "ok": True})
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2
    assert [json.loads(line)["path"] for line in lines] == ["a.mp4", "b.mp4"]


def test_garbage_lines_in_the_middle_are_skipped_not_fatal(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_text('not json\n[1, 2]\n{"path": "a.mp4", "task": "describe", "ok": true}\n', encoding="utf-8")
    log = ResultsLog.open(path)
    assert log.skipped_lines == 2 and len(log.records) == 1
    log.close()


def test_paths_match_by_real_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a.mp4").write_bytes(b"")
    assert record_key({"path": "a.mp4", "task": "t"}) == record_key({"path": str(tmp_path / "a.mp4"), "task": "t"})
