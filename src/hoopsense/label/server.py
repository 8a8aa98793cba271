"""The labelling web app: a FastAPI application over one clip folder's :class:`LabelStore`.

Every request must carry the per-launch token (``?token=`` or the
``X-Token`` header), else it gets 403: other web pages and other local users
can neither read nor change labels. Clip ids from requests are looked up in
the folder's list of clips and never used as paths. The page renders every
label and class name as text (and its Content-Security-Policy allows no
inline script), so a class named ``<img src=x onerror=...>`` stays text.

The page's API (JSON unless said):

* ``GET /api/state``: labels, counts, and every clip as columns (id, player, label, unsure, proposal, guess).
* ``GET /api/changes?since=V&guesses=G``: what changed after version ``V`` (from any page or process),
  and the recognizer's guesses made after the first ``G``.
* ``GET /api/clip?clip=ID``: one clip in detail (frames strip size, source frame and box, top guesses).
* ``GET /api/strip.jpg?clip=ID``, ``GET /api/source.jpg?clip=ID``: its pictures.
* ``PUT /api/label`` ``{clip, label, expect?}``, ``PUT /api/unsure`` ``{clip, unsure}``, ``POST /api/classes`` ``{name}``.
* ``GET /api/labels.csv`` / ``POST /api/labels.csv`` (body: ``clip_id,label`` rows): export and import.
* ``GET /api/order?by=varied|confidence``: the unlabelled clips (indices into the state's clip list) in
  the order to label them (:mod:`hoopsense.label.order`), ``ready`` false while the motion clusters are
  being computed.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from importlib import resources
from typing import TYPE_CHECKING, Any

import numpy as np
from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from hoopsense.errors import HoopsenseError, VideoError
from hoopsense.label.media import Cache, Strip, clip_strip, source_frame
from hoopsense.label.store import ConflictError, LabelStore
from hoopsense.web import given_token, token_matches

if TYPE_CHECKING:
    from hoopsense.label.guesses import Guesser
    from hoopsense.label.order import Coverage

ASSETS = {"label.js": "text/javascript", "label.css": "text/css"}
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' blob:; script-src 'self'; style-src 'self'; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}
MAX_IMPORT_BYTES = 20 * 1024 * 1024


class LabelBody(BaseModel):
    clip: str
    label: int | None
    expect: int | None = None
    check: bool = False  # when True, only change a clip whose label is still ``expect``


class UnsureBody(BaseModel):
    clip: str
    unsure: bool


class ClassBody(BaseModel):
    name: str


def _asset(name: str) -> bytes:
    return (resources.files("hoopsense.label") / "assets" / name).read_bytes()


def create_app(
    store: LabelStore, token: str, guesser: Guesser | None = None, coverage: Coverage | None = None
) -> FastAPI:
    """The app for ``store``; requests need ``token``. ``guesser`` adds a recognizer's guesses,
    ``coverage`` the motion clusters of the "varied first" and "least confident first" orders."""
    app = FastAPI(title="hoopsense label", docs_url=None, redoc_url=None, openapi_url=None)
    strips = Cache(256)
    sources = Cache(64)
    # Source frames (a seek and a decode in the game video) run one at a time, so they never take the
    # cores that the clip strips of the next clips need.
    source_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hoopsense-source")

    @app.middleware("http")
    async def require_token(request: Request, call_next):
        if not token_matches(given_token(request.headers, request.query_params), token):
            return PlainTextResponse(
                "403: this page needs the token of the URL that `hoopsense label` printed",
                status_code=403,
                headers=PAGE_HEADERS,
            )
        response = await call_next(request)
        for k, v in PAGE_HEADERS.items():
            response.headers.setdefault(k, v)
        return response

    @app.exception_handler(HoopsenseError)
    async def one_line(_: Request, exc: HoopsenseError):
        status = 409 if isinstance(exc, ConflictError) else 400
        return JSONResponse({"detail": " ".join(str(exc).split())}, status_code=status)

    def known(clip: str) -> str:
        try:
            return store.check(clip)
        except KeyError:
            raise HTTPException(404, f"no clip {clip[:80]!r} in this folder") from None

    def strip_of(clip: str) -> Strip:
        """The clip's frame strip (decoded once, then cached); 404 for an unknown id, 422 for a broken file."""
        known(clip)
        strip = strips.get(clip)
        if strip is None:
            try:
                strip = clip_strip(store.clip_path(clip))
            except VideoError as exc:
                raise HTTPException(422, f"clip {clip} cannot be shown: {' '.join(str(exc).split())}") from None
            strips.put(clip, strip)
        return strip

    @app.get("/")
    def page() -> Response:
        page = _asset("index.html").replace(b"__TOKEN__", token.encode("ascii"))  # URL-safe characters only
        return Response(page, media_type="text/html; charset=utf-8")

    @app.get("/assets/{name}")
    def asset(name: str) -> Response:
        if name not in ASSETS:
            raise HTTPException(404, "no such asset")
        return Response(_asset(name), media_type=ASSETS[name])

    def guess_columns() -> dict[str, Any] | None:
        if guesser is None:
            return None
        made = guesser.since(0)
        return {
            "labels": list(guesser.labels),
            "name": guesser.name,
            "made": [[c, top, round(p, 4)] for c, top, p in made],
            "position": len(made),
            "total": guesser.total,
        }

    @app.get("/api/state")
    def state() -> dict[str, Any]:
        store.refresh()
        player, label, unsure, proposed = [], [], [], []
        with store.lock:
            for clip in store.clips:
                s = store.sources.get(clip)
                player.append(s.player_id if s else -1)
                value = store.label_of(clip)
                label.append(-1 if value is None else value)
                unsure.append(1 if clip in store.state.unsure else 0)
                p = store.proposal(clip)
                proposed.append(round(p[1], 4) if p else -1)
            version, labels, counts = store.version, list(store.labels), store.counts()
        return {
            "folder": store.folder.name,
            "version": version,
            "labels": labels,
            "counts": counts,
            "clips": {"id": store.clips, "player": player, "label": label, "unsure": unsure, "proposed": proposed},
            "guesses": guess_columns(),
            "coverage": coverage_progress(),
        }

    def coverage_progress() -> dict[str, Any] | None:
        if coverage is None:
            return None
        return {"done": coverage.done, "total": coverage.total, "ready": coverage.ready}

    @app.get("/api/order")
    def order(by: str = Query(pattern="^(varied|confidence)$")) -> dict[str, Any]:
        if coverage is None or not coverage.ready:
            return {"ready": False, "order": []}
        with store.lock:
            labelled = np.array([store.label_of(c) is not None for c in coverage.clips])
            uncertainty = None
            if by == "confidence":
                uncertainty = np.full(len(coverage.clips), np.nan)
                for i, clip in enumerate(coverage.clips):
                    p = guesser.probs(clip) if guesser is not None else None
                    if p is not None:
                        uncertainty[i] = 1.0 - float(p.max())
                    elif (proposal := store.proposal(clip)) is not None:
                        uncertainty[i] = 1.0 - proposal[1]
        ranked = coverage.order(labelled, uncertainty)
        return {"ready": ranked is not None, "order": [] if ranked is None else ranked.tolist()}

    def clip_row(clip: str) -> list:
        value = store.label_of(clip)
        p = store.proposal(clip)
        return [
            clip,
            -1 if value is None else value,
            1 if clip in store.state.unsure else 0,
            round(p[1], 4) if p else -1,
        ]

    @app.get("/api/changes")
    def changes(since: int = 0, guesses: int = 0) -> dict[str, Any]:
        with store.lock:
            changed = store.changes_since(since)
            out: dict[str, Any] = {
                "version": store.version,
                "labels": list(store.labels),
                "counts": store.counts(),
                "reload": changed is None,
                "clips": [clip_row(c) for c in changed or ()],
            }
        if guesser is not None:
            made = guesser.since(guesses)
            out["guesses"] = {"made": [[c, t, round(p, 4)] for c, t, p in made], "position": guesses + len(made)}
        out["coverage"] = coverage_progress()
        return out

    @app.get("/api/clip")
    def clip_detail(clip: str, ahead: str = "") -> dict[str, Any]:
        strip = strip_of(clip)
        if guesser is not None:
            guesser.ask([clip, *[c for c in ahead.split(",") if store.is_clip(c)][:8]])
        source = store.sources.get(clip)
        out: dict[str, Any] = {
            "clip": clip,
            "row": clip_row(clip),
            "strip": {"frames": strip.frames, "width": strip.width, "height": strip.height, "fps": strip.fps},
            "source": None,
            "guesses": guesser.top(clip) if guesser is not None else None,
            "proposal": store.proposal(clip),
        }
        if source is not None:
            out["source"] = {
                "player": source.player_id,
                "start_frame": source.start_frame,
                "end_frame": source.end_frame,
                "start_s": source.start_s,
                "end_s": source.end_s,
                "box": source.box,
                "video": source.source.rsplit("/", 1)[-1],
            }
        return out

    @app.get("/api/strip.jpg")
    def strip_image(clip: str) -> Response:
        strip = strip_of(clip)
        return Response(strip.jpeg, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=3600"})

    @app.get("/api/source.jpg")
    async def source_image(clip: str, request: Request) -> Response:
        known(clip)
        s = store.sources.get(clip)
        video = store.source_video(clip)
        if s is None or video is None:
            raise HTTPException(404, "the source video of this clip is not available")
        key = (str(video), s.start_frame + s.end_frame)  # clips cut at the same moment share their middle frame
        frame = sources.get(key)
        if frame is None:
            if await request.is_disconnected():  # the page moved on before its turn came
                return Response(status_code=204)
            try:
                frame = await asyncio.get_running_loop().run_in_executor(
                    source_pool, source_frame, video, (s.start_s + s.end_s) / 2
                )
            except VideoError as exc:
                raise HTTPException(404, f"source video unavailable: {' '.join(str(exc).split())}") from None
            sources.put(key, frame)
        return Response(
            frame.jpeg,
            media_type="image/jpeg",
            headers={"Cache-Control": "private, max-age=3600", "X-Scale": f"{frame.scale:.6f}"},
        )

    @app.put("/api/label")
    def put_label(body: LabelBody) -> dict[str, Any]:
        known(body.clip)
        version = store.set_label(body.clip, body.label, expect=body.expect if body.check else "any")
        return {"version": version, "row": clip_row(body.clip), "counts": store.counts()}

    @app.put("/api/unsure")
    def put_unsure(body: UnsureBody) -> dict[str, Any]:
        known(body.clip)
        version = store.set_unsure(body.clip, body.unsure)
        return {"version": version, "row": clip_row(body.clip), "counts": store.counts()}

    @app.post("/api/classes")
    def add_class(body: ClassBody) -> dict[str, Any]:
        index = store.add_class(body.name)
        return {"index": index, "labels": store.labels, "counts": store.counts()}

    @app.get("/api/labels.csv")
    def export_csv() -> Response:
        name = f"{store.folder.name}.labels.csv"
        return Response(
            store.export_csv(),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )

    @app.post("/api/labels.csv")
    async def import_csv(request: Request) -> dict[str, Any]:
        data = bytearray()
        async for chunk in request.stream():
            data += chunk
            if len(data) > MAX_IMPORT_BYTES:
                raise HTTPException(413, "a labels CSV can have at most 20 MB")
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise HTTPException(400, "a labels CSV must be UTF-8 text") from None
        result = await run_in_threadpool(store.import_csv, text)
        return {
            "applied": result.applied,
            "unchanged": result.unchanged,
            "unknown": len(result.unknown_ids),
            "unknown_examples": list(result.unknown_ids[:5]),
            "new_classes": list(result.new_classes),
            "labels": store.labels,
            "counts": store.counts(),
        }

    return app
