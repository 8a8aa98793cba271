"""``hoopsense serve`` as a client meets it: a real server process on loopback, real HTTP, real clips.

Submit by path and by upload, poll to completion, download the timeline; the
token, the upload limit, broken uploads and paths outside the root are
refused; a job running when the server is killed with ``kill -9`` is listed
as interrupted after a restart and completes when re-run (slow: real
detector runs).
"""

from __future__ import annotations

import http.client
import json
import shutil
import time
from pathlib import Path

import pytest
from conftest import ASSETS, FOOTAGE, need_asset
from recognizers import make_checkpoint
from servers import Server

from hoopsense.serve.store import JobStore

pytestmark = pytest.mark.slow


@pytest.fixture
def root(tmp_path) -> Path:
    """The folder clients may name: two real clips, the int8 detector and a small checkpoint."""
    r = tmp_path / "root"
    r.mkdir()
    for clip in ("euroball_pass.mp4", "nba_broadcast_wide_854x480.mp4"):
        shutil.copy(need_asset(FOOTAGE / clip), r / clip)
    shutil.copytree(need_asset(ASSETS / "detector" / "yolov8n_int8_openvino_model"), r / "yolov8n_int8_openvino_model")
    make_checkpoint(r / "model.pt")
    return r


def _serve(root: Path, data: Path) -> Server:
    return Server("serve", "--port", "0", "--root", root, "--data", data, "--max-upload-mb", "0.5", timeout=120)


def _announce_upload(server: Server, length: int) -> int:
    """Status of an upload that announces ``length`` bytes and sends none (a client waiting for the verdict)."""
    host, port = server.base.removeprefix("http://").rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        conn.putrequest("POST", f"/api/jobs/upload?name=big.mp4&token={server.token}")
        conn.putheader("Content-Length", str(length))
        conn.putheader("Content-Type", "application/octet-stream")
        conn.endheaders()
        return conn.getresponse().status
    finally:
        conn.close()


def _wait(server: Server, job_id: str, states=("done", "failed", "cancelled"), timeout=180, check=None) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status, job = server.request("GET", f"/api/jobs/{job_id}")
        assert status == 200, job
        if job["state"] in states or (check is not None and check(job)):
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} still {job['state']} after {timeout} s")


TRACKING = {"detector": "yolov8n_int8_openvino_model", "end": 1, "no_video": True, "no_report": True}
OPTIONS = {**TRACKING, "recognizer": "model.pt", "no_report": False}


def test_service_jobs_by_path_and_upload(root, tmp_path):
    with _serve(root, tmp_path / "data") as server:
        # the token guards everything, the API docs included
        for path in ("/api/jobs", "/openapi.json", "/docs"):
            assert server.request("GET", path, token=None)[0] == 401
            assert server.request("GET", path, token="not-the-token")[0] == 403
        assert server.request("GET", "/openapi.json")[0] == 200
        assert b"swagger" in server.request("GET", "/docs")[1].lower()
        bearer = {"Authorization": f"Bearer {server.token}"}
        assert server.request("GET", "/api/jobs", token=None, headers=bearer) == (200, {"jobs": []})

        # by path inside the root
        status, job = server.request("POST", "/api/jobs", {"path": "euroball_pass.mp4", "options": OPTIONS})
        assert status == 201, job
        job = _wait(server, job["id"])
        assert job["state"] == "done", job
        status, listing = server.request("GET", f"/api/jobs/{job['id']}/files")
        names = {f["name"] for f in listing["files"]}
        assert {"euroball_pass.timeline.csv", "euroball_pass.timeline.json", "euroball_pass.report.html"} <= names
        status, timeline = server.request("GET", f"/api/jobs/{job['id']}/files/euroball_pass.timeline.csv")
        assert status == 200 and timeline.startswith(b"player_id,")
        assert server.request("GET", f"/api/jobs/{job['id']}/files/..%2F..%2Fjobs.sqlite3")[0] == 404

        # paths outside the root (a link inside it that points out included), bad options
        (root / "link.mp4").symlink_to(FOOTAGE / "euroball_pass.mp4")
        for bad in ("link.mp4", "../data/jobs.sqlite3", "/etc/passwd", str(root.parent / "x.mp4")):
            status, body = server.request("POST", "/api/jobs", {"path": bad})
            assert status == 422 and "outside" in body["detail"], (bad, body)
        status, body = server.request(
            "POST", "/api/jobs", {"path": "euroball_pass.mp4", "options": {"recognizer": "/etc/passwd"}}
        )
        assert status == 422 and "outside" in body["detail"]
        status, body = server.request("POST", "/api/jobs", {"path": "euroball_pass.mp4", "options": {"conf": 7}})
        assert status == 422 and "--conf" in body["detail"]
        status, body = server.request("POST", "/api/jobs", {"path": "euroball_pass.mp4", "options": {"rm_rf": True}})
        assert status == 422 and "unknown option" in body["detail"]

        # uploads: a real clip is analysed; too big and broken ones never reach a worker
        clip = (root / "euroball_pass.mp4").read_bytes()
        status, up = server.request(
            "POST", "/api/jobs/upload", clip, params={"name": "Game 1.mp4", "options": json.dumps(OPTIONS)},
            headers={"Content-Type": "application/octet-stream"},
        )  # fmt: skip
        assert status == 201, up
        assert _announce_upload(server, 600_000) == 413  # refused from its Content-Length, before the body
        broken = server.request("POST", "/api/jobs/upload", b"\x00" * 5000, params={"name": "broken.mp4"})
        assert broken[0] == 422, broken
        assert server.request("POST", "/api/jobs/upload", clip, params={"name": "notes.txt"})[0] == 415
        up = _wait(server, up["id"])
        assert up["state"] == "done" and up["source"] == "upload"
        status, timeline = server.request("GET", f"/api/jobs/{up['id']}/files/Game_1.timeline.json")
        assert status == 200 and timeline["labels"] == ["dribble", "shoot", "no_action"]
        status, jobs = server.request("GET", "/api/jobs")
        assert [j["state"] for j in jobs["jobs"]] == ["done", "done"]  # refused uploads left no job
        assert len(list((tmp_path / "data" / "uploads").iterdir())) == 1  # nor a file

        # cancel a queued or running job; a finished one cannot be cancelled
        status, c = server.request(
            "POST", "/api/jobs", {"path": "nba_broadcast_wide_854x480.mp4", "options": {**OPTIONS, "end": 5}}
        )
        assert server.request("POST", f"/api/jobs/{c['id']}/cancel")[1]["state"] == "cancelled"
        assert server.request("POST", f"/api/jobs/{job['id']}/cancel")[0] == 409


def test_kill_9_marks_the_running_job_interrupted_and_rerun_completes(root, tmp_path):
    data = tmp_path / "data"
    server = _serve(root, data)
    try:
        status, first = server.request("POST", "/api/jobs", {"path": "euroball_pass.mp4", "options": TRACKING})
        assert _wait(server, first["id"])["state"] == "done"
        status, job = server.request(
            "POST", "/api/jobs", {"path": "nba_broadcast_wide_854x480.mp4", "options": {**OPTIONS, "end": 5}}
        )
        running = _wait(
            server, job["id"], check=lambda j: j["state"] == "running" and (j["progress"] or {}).get("done", 0) > 3
        )
        assert running["progress"]["total"] > running["progress"]["done"]
    finally:
        server.kill()
    time.sleep(1.0)  # the worker dies with the server (parent-death signal)
    assert not (data / "jobs" / job["id"] / "nba_broadcast_wide_854x480").exists()

    with _serve(root, data) as server:
        status, jobs = server.request("GET", "/api/jobs")
        states = {j["id"]: j["state"] for j in jobs["jobs"]}
        assert states == {first["id"]: "done", job["id"]: "interrupted"}
        assert server.request("GET", f"/api/jobs/{first['id']}/files/euroball_pass.tracks.csv")[0] == 200
        status, again = server.request("POST", f"/api/jobs/{job['id']}/rerun")
        assert status == 200 and again["state"] == "queued"
        assert _wait(server, job["id"])["state"] == "done"
        status, listing = server.request("GET", f"/api/jobs/{job['id']}/files")
        assert "nba_broadcast_wide_854x480.tracks.csv" in {f["name"] for f in listing["files"]}
        assert server.request("POST", f"/api/jobs/{first['id']}/rerun")[1]["state"] == "queued"  # done jobs re-run too
        assert server.request("POST", f"/api/jobs/{first['id']}/cancel")[1]["state"] == "cancelled"
    store = JobStore(data / "jobs.sqlite3")  # the database is readable after a clean stop too
    assert {j.id: j.state for j in store.jobs()} == {first["id"]: "cancelled", job["id"]: "done"}
    store.close()
