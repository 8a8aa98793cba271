"""The service's job store: one embedded SQLite database (``jobs.sqlite3`` in the service's data folder).

A job is one game to analyse. Its states: ``queued`` -> ``running`` ->
``done`` | ``failed`` | ``cancelled``; a job that was ``running`` when the
service stopped (even by ``kill -9``) is marked ``interrupted`` at the next
start, and ``requeue`` puts it (or a failed or cancelled one) back in the
queue. Every change is one transaction, so a killed server never leaves a
half-written job.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from hoopsense.errors import ConfigError

STORE_FORMAT = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    seq INTEGER NOT NULL,
    state TEXT NOT NULL,
    source TEXT NOT NULL,
    video TEXT NOT NULL,
    name TEXT NOT NULL,
    options TEXT NOT NULL,
    created REAL NOT NULL,
    started REAL,
    finished REAL,
    attempts INTEGER NOT NULL DEFAULT 0,
    error TEXT
);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs (state, seq);
"""


@dataclass(frozen=True)
class Job:
    """One job. ``source``: ``upload`` or ``path``; ``video``: the file analysed (on the server);
    ``options``: the analysis options as given (flag name -> value)."""

    id: str
    seq: int
    state: str
    source: str
    video: str
    name: str
    options: dict[str, Any]
    created: float
    started: float | None = None
    finished: float | None = None
    attempts: int = 0
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class JobStore:
    """Jobs in ``path`` (created when missing). Safe to use from several threads."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        try:
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=30)
            self._db.row_factory = sqlite3.Row
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise ConfigError(f"{self.path} is not a usable job database ({exc})") from None
        self._lock = threading.Lock()
        row = self._db.execute("SELECT value FROM meta WHERE key='format'").fetchone()
        if row is None:
            self._db.execute("INSERT INTO meta VALUES ('format', ?)", (str(STORE_FORMAT),))
        elif int(row["value"]) > STORE_FORMAT:
            raise ConfigError(f"{self.path} was written by a newer hoopsense (format {row['value']}); upgrade")

    def close(self) -> None:
        self._db.close()

    @staticmethod
    def _job(row: sqlite3.Row) -> Job:
        doc = dict(row)
        doc["options"] = json.loads(doc["options"])
        return Job(**doc)

    def add(self, *, source: str, video: str, name: str, options: dict[str, Any], job_id: str | None = None) -> Job:
        """A new ``queued`` job."""
        job_id = job_id or new_job_id()
        with self._lock:
            seq = self._db.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM jobs").fetchone()[0]
            self._db.execute(
                "INSERT INTO jobs (id, seq, state, source, video, name, options, created) VALUES (?,?,?,?,?,?,?,?)",
                (job_id, seq, "queued", source, video, name, json.dumps(options), time.time()),
            )
        return self.get(job_id)  # type: ignore[return-value]

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM jobs WHERE id=?", (job_id,)).fetchone()
        return self._job(row) if row else None

    def jobs(self, state: str | None = None) -> list[Job]:
        with self._lock:
            if state is None:
                rows = self._db.execute("SELECT * FROM jobs ORDER BY seq").fetchall()
            else:
                rows = self._db.execute("SELECT * FROM jobs WHERE state=? ORDER BY seq", (state,)).fetchall()
        return [self._job(r) for r in rows]

    def update(self, job_id: str, *, expect: tuple[str, ...] | None = None, **fields: Any) -> bool:
        """Set ``fields`` of a job (only when its state is one of ``expect``); True when it changed."""
        if not fields:
            return False
        unknown = set(fields) - {"state", "started", "finished", "attempts", "error"}
        if unknown:
            raise ValueError(f"cannot update {sorted(unknown)}")
        sets = ", ".join(f"{k}=?" for k in fields)
        sql, args = f"UPDATE jobs SET {sets} WHERE id=?", [*fields.values(), job_id]
        if expect:
            sql += f" AND state IN ({','.join('?' * len(expect))})"
            args.extend(expect)
        with self._lock:
            return self._db.execute(sql, args).rowcount == 1

    def mark_interrupted(self) -> list[str]:
        """At start-up: jobs left ``running`` by a stopped service become ``interrupted``; returns their ids."""
        with self._lock:
            ids = [r[0] for r in self._db.execute("SELECT id FROM jobs WHERE state='running'").fetchall()]
            self._db.execute(
                "UPDATE jobs SET state='interrupted', finished=?, error='the service stopped while it ran' "
                "WHERE state='running'",
                (time.time(),),
            )
        return ids

    def requeue(self, job_id: str) -> bool:
        """Put a finished, failed, cancelled or interrupted job back in the queue."""
        return self.update(
            job_id, expect=("done", "failed", "cancelled", "interrupted"), state="queued", started=None, finished=None,
            attempts=0, error=None,
        )  # fmt: skip


def new_job_id() -> str:
    return uuid.uuid4().hex[:16]
