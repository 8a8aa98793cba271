"""The service's job store (SQLite) and its reading of a job's JSON options, without a server."""

from __future__ import annotations

import sqlite3

import pytest

from hoopsense.errors import ConfigError
from hoopsense.serve.options import parse_options
from hoopsense.serve.store import JobStore


def test_jobs_survive_a_reopen_and_running_ones_become_interrupted(tmp_path):
    db = tmp_path / "jobs.sqlite3"
    store = JobStore(db)
    a = store.add(source="path", video="/v/a.mp4", name="a", options={"end": 5})
    b = store.add(source="upload", video="/v/b.mp4", name="b", options={})
    c = store.add(source="path", video="/v/c.mp4", name="c", options={})
    assert [j.seq for j in store.jobs()] == [1, 2, 3]
    assert store.update(a.id, expect=("queued",), state="running", started=1.0, attempts=1)
    assert not store.update(a.id, expect=("queued",), state="done")  # it is running, not queued
    assert store.update(b.id, expect=("queued",), state="running", attempts=1)
    assert store.update(b.id, expect=("running",), state="done", finished=2.0)
    store.close()  # as if the server was killed while a ran

    store = JobStore(db)
    assert store.mark_interrupted() == [a.id]
    jobs = {j.id: j for j in store.jobs()}
    assert {k: j.state for k, j in jobs.items()} == {a.id: "interrupted", b.id: "done", c.id: "queued"}
    assert jobs[a.id].options == {"end": 5} and jobs[a.id].error
    assert store.jobs("queued") == [jobs[c.id]]
    assert store.requeue(a.id) and store.get(a.id).state == "queued" and store.get(a.id).error is None
    assert not store.requeue(c.id)  # queued already
    assert store.get("nope") is None
    with pytest.raises(ValueError, match="cannot update"):
        store.update(a.id, video="/etc/passwd")
    store.close()


def test_a_newer_or_broken_database_is_refused(tmp_path):
    db = tmp_path / "jobs.sqlite3"
    JobStore(db).close()
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE meta SET value='99' WHERE key='format'")
    with pytest.raises(ConfigError, match="newer hoopsense"):
        JobStore(db)
    junk = tmp_path / "junk.sqlite3"
    junk.write_bytes(b"this is not a database" * 100)
    with pytest.raises(ConfigError, match="not a usable job database"):
        JobStore(junk)


def test_options_read_like_analyze_flags_and_stay_inside_the_root(tmp_path):
    root = tmp_path / "root"
    (root / "models").mkdir(parents=True)
    (root / "models" / "team.pt").write_bytes(b"x")
    (tmp_path / "outside.pt").write_bytes(b"x")
    options, render, report = parse_options(
        {"tracker": "botsort", "end": 60, "recognizer": "models/team.pt", "no-video": True, "keep_referees": False},
        root,
    )
    assert options.tracker.kind == "botsort" and options.end_s == 60
    assert options.recognizer.checkpoint == str((root / "models" / "team.pt").resolve())
    assert options.identity.keep_referees is False
    assert (render, report) == (False, True)
    assert parse_options({}, root)[0].recognizer is None
    # an on/off option given as a JSON boolean means on or off, not "left at its default"
    switched = parse_options({"swap_repair": False, "teams": "off"}, root)[0].identity
    assert switched.swap_repair is False and switched.teams is False
    assert parse_options({"swap-repair": True, "teams": False}, root)[0].identity.teams is False
    assert parse_options({"swap_repair": "off"}, root)[0].identity.swap_repair is False
    assert parse_options({}, root)[0].identity.swap_repair is True
    assert parse_options({"drop_doubled": True}, root)[0].tracker.drop_doubled is True
    assert parse_options({"drop-doubled": "off"}, root)[0].tracker.drop_doubled is False
    assert parse_options({}, root)[0].tracker.drop_doubled is False
    assert parse_options({"reclaim": False}, root)[0].identity.reclaim is False
    assert parse_options({}, root)[0].identity.reclaim is True
    assert parse_options({"cuts": False}, root)[0].tracker.cuts is False
    assert parse_options({}, root)[0].tracker.cuts is True
    assert parse_options({"reid": "colour", "detector": "yolo11n.pt"}, root)[0].detector.weights == "yolo11n.pt"
    for bad, message in [
        ({"recognizer": "../outside.pt"}, "outside"),
        ({"recognizer": str(tmp_path / "outside.pt")}, "outside"),
        ({"detector": "models/missing.pt"}, "not found"),
        ({"conf": 5}, "--conf"),
        ({"tracker": "sort"}, "invalid choice"),
        ({"end": "soon"}, "--end"),
        ({"batch_size": 4}, "--batch-size needs --recognizer"),
        ({"out": "/etc/x"}, "unknown option"),
        ({"end": [1, 2]}, "must be a string"),
    ]:
        with pytest.raises(ConfigError, match=message):
            parse_options(bad, root)
    with pytest.raises(ConfigError, match="JSON object"):
        parse_options(["--end", "5"], root)  # type: ignore[arg-type]
