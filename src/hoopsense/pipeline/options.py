"""What ``analyze`` is asked to do: :class:`AnalyzeOptions` (plain data, validated in field names)."""

from __future__ import annotations

from dataclasses import dataclass, field

from hoopsense.detection.base import DetectorConfig
from hoopsense.errors import ConfigError, check_range, field_name
from hoopsense.identity.stage import IdentityConfig
from hoopsense.pipeline.stream import check_time_range
from hoopsense.pipeline.timeline import TimelineConfig
from hoopsense.recognizer.config import RecognizerConfig
from hoopsense.tracking.players import TrackerConfig


@dataclass(frozen=True)
class AnalyzeOptions:
    """What to analyse and how. ``start_s``/``end_s`` bound the part of the video (seconds).

    ``identity`` links tracker fragments into one identity per person and
    gives teams. ``recognizer`` None makes a tracking-only run. ``clip_len`` (default: the
    checkpoint's) and ``stride`` (default: one clip span, every frame in one clip) set the clip windows.
    ``crf`` is the H.264 quality of the annotated video (0-51, lower is better). ``draw_pose`` draws
    each player's skeleton on the video (with a pose model as the detector).
    """

    detector: DetectorConfig = field(default_factory=DetectorConfig)
    tracker: TrackerConfig = field(default_factory=TrackerConfig)
    identity: IdentityConfig = field(default_factory=IdentityConfig)
    recognizer: RecognizerConfig | None = None
    clip_len: int | None = None
    stride: int | None = None
    timeline: TimelineConfig = field(default_factory=TimelineConfig)
    start_s: float = 0.0
    end_s: float | None = None
    crf: int = 23
    preset: str = "veryfast"
    draw_pose: bool = False

    def __post_init__(self) -> None:
        check_time_range(self)
        check_range(self, "crf", 0, 51)
        if self.clip_len is not None:
            check_range(self, "clip_len", 1, 256)
        if self.stride is not None:
            check_range(self, "stride", 1, 1024)
        if self.recognizer is None:
            given = [n for n in ("clip_len", "stride") if getattr(self, n) is not None]
            if self.timeline.keep_background:
                given.append("keep_background")
            if given:
                raise ConfigError(f"{given[0]} needs a recognizer", field=field_name(self, given[0]))
