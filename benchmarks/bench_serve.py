"""Latency of the service's status calls under many concurrent clients.

Starts ``hoopsense serve`` on loopback, queues one real job so that the
status answers carry live progress (four jobs, so one runs throughout), then runs ``--clients`` threads, each
with its own keep-alive connection, calling ``GET /api/jobs/{id}`` (and
every tenth call ``GET /api/jobs``) for ``--seconds``. Prints requests per
second and latency percentiles.

    python benchmarks/bench_serve.py [--clients 50] [--seconds 20]
"""

from __future__ import annotations

import argparse
import http.client
import json
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from _common import ASSETS


def _get(conn: http.client.HTTPConnection, path: str, headers: dict) -> bytes:
    conn.request("GET", path, headers=headers)
    return conn.getresponse().read()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--clients", type=int, default=50)
    p.add_argument("--seconds", type=float, default=20.0)
    args = p.parse_args()
    tmp = Path(tempfile.mkdtemp())
    root = tmp / "root"
    root.mkdir()
    shutil.copy(ASSETS / "footage" / "nba_broadcast_wide_854x480.mp4", root / "game.mp4")
    shutil.copytree(ASSETS / "detector" / "yolov8n_int8_openvino_model", root / "yolov8n_int8_openvino_model")
    proc = subprocess.Popen(
        [sys.executable, "-m", "hoopsense.cli", "serve", "--port", "0", "--root", str(root), "--data", str(tmp / "data")],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        url = None
        while url is None:
            line = proc.stdout.readline()
            if not line:
                raise SystemExit("the service exited")
            m = re.search(r"http://([\d.]+):(\d+)/docs\?token=(\S+)", line)
            if m:
                url = m.groups()
        host, port, token = url[0], int(url[1]), url[2]
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        c = http.client.HTTPConnection(host, port)
        body = {"path": "game.mp4", "options": {"detector": "yolov8n_int8_openvino_model", "no_video": True}}
        for _ in range(4):  # enough work to keep a job running for the whole measurement
            c.request("POST", "/api/jobs", json.dumps(body), headers)
            c.getresponse().read()
        job_ids = [j["id"] for j in json.loads(_get(c, "/api/jobs", headers))["jobs"]]
        latencies: list[list[float]] = [[] for _ in range(args.clients)]
        errors = [0]
        stop = time.monotonic() + args.seconds

        def client(i: int) -> None:
            conn = http.client.HTTPConnection(host, port, timeout=30)
            n = 0
            while time.monotonic() < stop:
                path = "/api/jobs" if n % 10 == 9 else f"/api/jobs/{job_ids[n % len(job_ids)]}"
                t0 = time.perf_counter()
                conn.request("GET", path, headers=headers)
                r = conn.getresponse()
                r.read()
                latencies[i].append(time.perf_counter() - t0)
                if r.status != 200:
                    errors[0] += 1
                n += 1

        threads = [threading.Thread(target=client, args=(i,)) for i in range(args.clients)]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - t0
        all_ms = np.array([x for lat in latencies for x in lat]) * 1000
        c = http.client.HTTPConnection(host, port)  # the first one idled past the keep-alive timeout
        states = [j["state"] for j in json.loads(_get(c, "/api/jobs", headers))["jobs"]]
        print(
            f"{args.clients} clients, {wall:.1f} s, {len(all_ms)} requests ({len(all_ms) / wall:.0f}/s), {errors[0]} errors"
        )
        print(
            f"latency ms: p50 {np.percentile(all_ms, 50):.1f}  p95 {np.percentile(all_ms, 95):.1f}  "
            f"p99 {np.percentile(all_ms, 99):.1f}  max {all_ms.max():.1f}"
        )
        print(f"meanwhile 4 jobs ran on the same cores; at the end they were {states}")
    finally:
        proc.terminate()
        proc.wait(30)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
