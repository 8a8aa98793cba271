"""The report files of a run: ``timeline.csv``, ``timeline.json`` and ``run.json``."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

from hoopsense import __version__
from hoopsense.pipeline.export import (
    timeline_document,
    write_timeline_csv,
    write_timeline_json,
)

if TYPE_CHECKING:
    from hoopsense.pipeline.analyze import (
        AnalysisResult,
        AnalyzeOptions,
        OutputPaths,
        _Actions,
    )
    from hoopsense.tracker.detector import Detector


def write_reports(
    tmp: dict[str, Path],
    result: AnalysisResult,
    paths: OutputPaths,
    options: AnalyzeOptions,
    detector: Detector,
    actions: _Actions | None,
) -> None:
    """Write the timeline files and ``run.json`` (those present in ``tmp``) for a finished or stopped run."""
    info = _recognizer_info(result, options, actions) if actions is not None else None
    result.recognizer = info
    if actions is not None and "timeline_csv" in tmp:
        write_timeline_csv(tmp["timeline_csv"], result.events)
    if actions is not None and "timeline_json" in tmp:
        meta = actions.recognizer.meta
        doc = timeline_document(
            result.events,
            labels=meta.labels,
            background=meta.background,
            fps=result.meta.fps,
            players={pid: (s.first_frame, s.last_frame, s.frames) for pid, s in result.players.items()},
            classified=result.classified,
            video=paths.video.name if paths.video is not None else None,
            recognizer=info or {},
        )
        doc["partial"] = result.partial
        write_timeline_json(tmp["timeline_json"], doc)
    _write_run_json(tmp.get("run_json"), result, paths, options, detector, info)


def _recognizer_info(result: AnalysisResult, options: AnalyzeOptions, actions: _Actions) -> dict:
    rec, tub = actions.recognizer, actions.tubelets
    return {
        "checkpoint": str(rec.path),
        "architecture": rec.meta.architecture,
        "labels": list(rec.meta.labels),
        "background": rec.meta.background,
        "keep_background": options.timeline.keep_background,
        "clip_len": tub.clip_len,
        "checkpoint_clip_len": rec.meta.clip_len,
        "stride": tub.stride,
        "frame_step": tub.frame_step,
        "context": tub.context,
        "crop_size": rec.meta.crop_size,
        "batch_size": rec.batch_size,
        "device": str(rec.device),
        "precision": str(rec.dtype).replace("torch.", ""),
        "smooth_windows": options.timeline.smooth,
        "min_event_s": options.timeline.min_event_s,
        "clips_classified": result.windows,
        "players_classified": len(result.classified),
        "frames_with_provisional_labels": result.provisional_frames,
    }


def _write_run_json(
    path: Path | None,
    result: AnalysisResult,
    paths: OutputPaths,
    options: AnalyzeOptions,
    detector: Detector,
    recognizer: dict | None,
) -> None:
    if path is None:
        return
    meta = result.meta
    doc = {
        "hoopsense_version": __version__,
        "partial": result.partial,
        "input": {
            "path": str(meta.path),
            "width": meta.width,
            "height": meta.height,
            "fps": meta.fps,
            "n_frames": meta.n_frames,
            "duration_s": meta.duration_s,
        },
        "range_s": [options.start_s, options.end_s],
        "detector": {"weights": str(detector.weights_path), **asdict(options.detector)},
        "tracker": asdict(options.tracker),
        "recognizer": recognizer,
        "outputs": {k: (v.name if v is not None else None) for k, v in asdict(paths).items()},
        "frames": result.frames,
        "rows": result.rows,
        "events": len(result.events),
        "fps_achieved": round(result.fps, 2),
        "stage_s": {k: round(v, 3) for k, v in result.stage_s.items()},
        "players": [
            {
                "player_id": tid,
                "first_frame": s.first_frame,
                "last_frame": s.last_frame,
                "frames": s.frames,
                **({"classified": tid in result.classified} if recognizer is not None else {}),
            }
            for tid, s in sorted(result.players.items())
        ],
    }
    path.write_text(json.dumps(doc, indent=2))
