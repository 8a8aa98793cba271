"""The analysis service's HTTP API: a FastAPI application over the job store and runner.

Every request, the OpenAPI schema and ``/docs`` included, needs the service's
token: ``Authorization: Bearer TOKEN``, an ``X-Token`` header or ``?token=``
(401 without one, 403 with a wrong one). A client names a video either by a
path inside the allowed root or by uploading it (at most the upload limit;
the file is decoded once before the job is queued, so a broken upload never
reaches a worker). Job outputs are served only from the job's own folder,
by the names that :http:get:`/api/jobs/{id}/files` lists.

* ``POST /api/jobs`` ``{"path": "...", "options": {...}}``: queue a video on the server.
* ``POST /api/jobs/upload?name=game.mp4[&options=JSON]`` (body: the video bytes): upload and queue.
* ``GET /api/jobs``: every job; ``GET /api/jobs/{id}``: one job with its progress.
* ``POST /api/jobs/{id}/cancel``; ``POST /api/jobs/{id}/rerun`` (an interrupted, failed, cancelled or done job).
* ``GET /api/jobs/{id}/files``: its output files; ``GET /api/jobs/{id}/files/{name}``: one of them.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from hoopsense import __version__
from hoopsense.batch.games import VIDEO_SUFFIXES, safe_stem
from hoopsense.errors import HoopsenseError
from hoopsense.serve.options import inside, parse_options
from hoopsense.serve.runner import Runner
from hoopsense.serve.store import Job, JobStore, new_job_id
from hoopsense.web import given_token, token_matches

CHUNK = 1 << 20
HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}


class PathJob(BaseModel):
    path: str = Field(description="the video, relative to the service's root (or absolute inside it)")
    options: dict[str, Any] = Field(default_factory=dict, description='analyze flags, e.g. {"end": 60}')


def _safe_name(name: str) -> str:
    return safe_stem(Path(name).stem) + Path(name).suffix.lower()


def create_app(
    store: JobStore, runner: Runner, *, token: str, root: Path, data: Path, max_upload: int,
    check_video: Callable[[Path], None],
) -> FastAPI:  # fmt: skip
    """The API over ``store`` and ``runner``. ``root``: the folder client paths may name; ``data``: the
    service's own folder (uploads, outputs); ``max_upload``: bytes; ``check_video(path)`` raises a
    :class:`HoopsenseError` for a file that is not a decodable video."""
    app = FastAPI(
        title="hoopsense", version=__version__, docs_url=None, redoc_url=None,
        description="Per-player analysis of basketball video, as a job queue. Every request needs the token.",
    )  # fmt: skip
    uploads = data / "uploads"

    @app.middleware("http")
    async def require_token(request: Request, call_next):
        given = given_token(request.headers, request.query_params)
        if not given:
            return PlainTextResponse("401: this service needs its token (see `hoopsense serve`)", 401, HEADERS)
        if not token_matches(given, token):
            return PlainTextResponse("403: wrong token", 403, HEADERS)
        response = await call_next(request)
        for k, v in HEADERS.items():
            response.headers.setdefault(k, v)
        return response

    @app.exception_handler(HoopsenseError)
    async def one_line(_: Request, exc: HoopsenseError):
        return JSONResponse({"detail": " ".join(str(exc).split())}, status_code=422)

    @app.get("/docs", include_in_schema=False)
    def docs(request: Request):
        return get_swagger_ui_html(
            openapi_url=f"/openapi.json?token={request.query_params.get('token', '')}", title="hoopsense API"
        )

    def view(job: Job) -> dict[str, Any]:
        doc = job.to_json()
        doc["progress"] = runner.progress(job) if job.state == "running" else None
        doc["files"] = f"/api/jobs/{job.id}/files" if job.state == "done" else None
        return doc

    def get(job_id: str) -> Job:
        job = store.get(job_id)
        if job is None:
            raise HTTPException(404, f"no job {job_id[:40]!r}")
        return job

    def queue(video: Path, source: str, options: dict[str, Any], job_id: str | None = None) -> Job:
        parse_options(options, root)  # refuse bad options now, not in a worker
        return store.add(source=source, video=str(video), name=safe_stem(video.stem), options=options, job_id=job_id)

    @app.post("/api/jobs", status_code=201)
    def submit_path(body: PathJob) -> dict[str, Any]:
        """Queue a video that lies inside the service's root."""
        video = inside(root, body.path, "path")
        if not video.is_file():
            raise HTTPException(404, f"{body.path!r} is not a file in the service's folder")
        if video.suffix.lower() not in VIDEO_SUFFIXES:
            raise HTTPException(415, f"{body.path!r} is not a video ({', '.join(sorted(VIDEO_SUFFIXES))})")
        return view(queue(video, "path", body.options))

    @app.post("/api/jobs/upload", status_code=201)
    async def submit_upload(request: Request, name: str, options: str = "{}") -> dict[str, Any]:
        """Upload a video (the request body) and queue it; ``options`` is a JSON object of analyze flags."""
        safe = _safe_name(name)
        if Path(safe).suffix not in VIDEO_SUFFIXES:
            raise HTTPException(415, f"{name!r} is not a video name ({', '.join(sorted(VIDEO_SUFFIXES))})")
        try:
            opts = json.loads(options)
        except ValueError:
            raise HTTPException(422, "options must be a JSON object") from None
        await run_in_threadpool(parse_options, opts, root)
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > max_upload:
            raise HTTPException(413, f"uploads are limited to {max_upload} bytes")
        job_id = new_job_id()
        folder = uploads / job_id
        folder.mkdir(parents=True)
        target = folder / safe
        size = 0
        try:
            with open(target, "wb") as f:
                async for chunk in request.stream():
                    size += len(chunk)
                    if size > max_upload:
                        raise HTTPException(413, f"uploads are limited to {max_upload} bytes")
                    f.write(chunk)
            if size == 0:
                raise HTTPException(422, "the upload is empty")
            await run_in_threadpool(check_video, target)
            return view(await run_in_threadpool(queue, target, "upload", opts, job_id))
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise

    @app.get("/api/jobs")
    def list_jobs(state: str | None = None) -> dict[str, Any]:
        return {"jobs": [view(j) for j in store.jobs(state)]}

    @app.get("/api/jobs/{job_id}")
    def job_status(job_id: str) -> dict[str, Any]:
        return view(get(job_id))

    @app.post("/api/jobs/{job_id}/cancel")
    def cancel(job_id: str) -> dict[str, Any]:
        get(job_id)
        if not runner.cancel(job_id):
            raise HTTPException(409, "the job has ended already")
        return view(get(job_id))

    @app.post("/api/jobs/{job_id}/rerun")
    def rerun(job_id: str) -> dict[str, Any]:
        job = get(job_id)
        if not Path(job.video).is_file():
            raise HTTPException(410, "the job's video is gone")
        if not store.requeue(job_id):
            raise HTTPException(409, f"the job is {job.state}; only ended jobs can be re-run")
        return view(get(job_id))

    def outputs(job: Job) -> dict[str, Path]:
        folder = data / "jobs" / job.id / job.name
        if job.state != "done" or not folder.is_dir():
            raise HTTPException(409, f"the job is {job.state}; its files come when it is done")
        return {p.relative_to(folder).as_posix(): p for p in sorted(folder.rglob("*")) if p.is_file()}

    @app.get("/api/jobs/{job_id}/files")
    def files(job_id: str) -> dict[str, Any]:
        found = outputs(get(job_id))
        return {
            "files": [
                {"name": n, "bytes": p.stat().st_size, "url": f"/api/jobs/{job_id}/files/{n}"} for n, p in found.items()
            ]
        }

    @app.get("/api/jobs/{job_id}/files/{name:path}")
    def download(job_id: str, name: str) -> FileResponse:
        found = outputs(get(job_id))
        if name not in found:  # names are looked up, never joined onto a path
            raise HTTPException(404, f"the job has no file {name[:80]!r}")
        return FileResponse(found[name], filename=Path(name).name)

    return app
