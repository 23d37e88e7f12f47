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


def test_a_retried_input_ends_as_one_record_its_last_in_its_place(tmp_path):
    """Issue 14, item 4: `--retry-failed` appended a second record for the same input."""
    path = tmp_path / "r.jsonl"
    with ResultsLog.open(path) as log:
        for name, ok in (("a.mp4", True), ("b.mp4", False), ("c.mp4", False)):
            log.append({"path": name, "task": "describe", "ok": ok})
    path.chmod(0o644)
    with ResultsLog.open(path) as log:  # the retry
        log.append({"path": "b.mp4", "task": "describe", "ok": True, "text": "second try"})
        assert log.status(record_key({"path": "b.mp4", "task": "describe"})) is True
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert [(r["path"], r["ok"]) for r in records] == [("a.mp4", True), ("b.mp4", True), ("c.mp4", False)]
    assert records[1]["text"] == "second try"
    assert path.stat().st_mode & 0o777 == 0o644
    assert [p.name for p in tmp_path.iterdir()] == ["r.jsonl"]  # no temporary file left


def test_in_a_file_with_two_records_for_an_input_the_last_counts(tmp_path):
    """A hard kill before the rewrite leaves both; resuming reads the last, and the next close keeps one."""
    path = tmp_path / "r.jsonl"
    path.write_text('{"path": "a.mp4", "task": "describe", "ok": true}\n{"path": "a.mp4", "task": "describe", "ok": false}\n',
                    encoding="utf-8")
    with ResultsLog.open(path) as log:
        assert log.status(record_key({"path": "a.mp4", "task": "describe"})) is False
    assert [json.loads(line)["ok"] for line in path.read_text(encoding="utf-8").splitlines()] == [False]
