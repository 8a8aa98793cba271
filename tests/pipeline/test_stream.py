"""The tracked-frame stream: which pictures the identity stage and the caller get."""

from __future__ import annotations

import numpy as np
import supervision as sv
from fakes import ShapeDetector
from synth import make_video

from hoopsense.identity.stage import IdentityConfig, IdentityStage
from hoopsense.pipeline.stream import TrackedStream
from hoopsense.tracking.players import TrackerConfig
from hoopsense.video import probe


class Watching(IdentityStage):
    """An identity stage that notes the size of every picture it is shown, at the scale it is told."""

    def __init__(self, config: IdentityConfig) -> None:
        super().__init__(config, fps=25, embedder=None)
        self.shown: set[tuple[int, int, float]] = set()

    def observe(self, frame: int, image: np.ndarray, scale: float, players: sv.Detections) -> sv.Detections:
        self.shown.add((image.shape[1], image.shape[0], scale))
        return super().observe(frame, image, scale, players)


def frames_of(video, *, full: bool, identity: IdentityStage) -> list:
    tracker = TrackerConfig(min_height=0, min_track_frames=2)
    with TrackedStream(probe(video), ShapeDetector(downscale=2), tracker, full=full, identity=identity) as stream:
        return [*stream, *stream.flush()]


def test_the_identity_stage_sees_full_size_frames_even_when_the_caller_keeps_none(tmp_path):
    video = make_video(tmp_path / "v.mp4", n_frames=20, width=320, height=192)
    for full in (True, False):
        looking = Watching(IdentityConfig(reid="colour"))
        frames = frames_of(video, full=full, identity=looking)
        assert frames and looking.shown == {(320, 192, 1.0)}, full
        assert all((f.image is not None) == full for f in frames)  # kept only for a caller who wants them
        assert any(len(f.players) for f in frames)
    # a stage that looks at no pixels (no re-ID, teams or thumbnails) lets the stream decode the small copy only
    blind = Watching(IdentityConfig(reid="off", teams=False, gallery=False))
    assert not blind.wants_full_frames
    frames_of(video, full=False, identity=blind)
    assert blind.shown == {(160, 96, 0.5)}
