import errno
import logging
import os
import random
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from synth import make_video, shapes_frame

from hoopsense.errors import VideoError
from hoopsense.video import VideoReader, VideoWriter, probe, upright


@pytest.mark.parametrize(
    ("name", "codec", "fmt", "size", "fps"),
    [
        ("a.mp4", "libx264", None, (160, 96), 25),
        ("b.mkv", "mpeg4", None, (320, 180), Fraction(30000, 1001)),
        ("c.avi", "mjpeg", None, (64, 48), 10),
        ("d.mov", "libx264", None, (162, 98), 24),
    ],
)
def test_probe_and_read_codecs_and_sizes(tmp_path, name, codec, fmt, size, fps):
    path = make_video(tmp_path / name, n_frames=20, width=size[0], height=size[1], fps=fps, codec=codec)
    meta = probe(path)
    assert (meta.width, meta.height) == size
    assert meta.fps == pytest.approx(float(fps), rel=1e-4)
    assert meta.n_frames == 20
    with VideoReader(path) as reader:
        frames = list(reader)
    assert [f.index for f in frames] == list(range(20))
    assert frames[0].image.shape == (size[1], size[0], 3) and frames[0].image.dtype == np.uint8
    assert frames[5].time_s == pytest.approx(5 / float(fps), abs=1e-3)
    # RGB order: the floor colour (150, 110, 70) comes back as RGB, not BGR
    corner = frames[0].image[-2, -2].astype(int)
    assert corner[0] > corner[2] + 40


def test_reader_bgr_order(shapes_video):
    with VideoReader(shapes_video, pixel_format="bgr24") as reader:
        first = next(iter(reader))
    corner = first.image[-2, -2].astype(int)
    assert corner[2] > corner[0] + 40


def test_reader_start_end_bounds(shapes_video):
    with VideoReader(shapes_video, start_s=0.4, end_s=1.0) as reader:
        frames = list(reader)
    assert [f.index for f in frames] == list(range(10, 25))
    assert frames[0].time_s == pytest.approx(0.4)


def test_reader_honours_rotation(tmp_path):
    path = make_video(tmp_path / "rot.mp4", width=160, height=96, rotation=90, marker=True)
    meta = probe(path)
    assert meta.rotation == 90
    assert (meta.width, meta.height) == (96, 160)
    with VideoReader(path) as reader:
        image = next(iter(reader)).image
    assert image.shape == (160, 96, 3)
    # The red marker in the stored top-left corner is shown bottom-left after a
    # 90 degree counter-clockwise display rotation.
    assert image[-5, 5, 0] > 200 and image[-5, 5, 1] < 60
    assert image[5, 5, 0] < 200


def test_upright_rotations():
    img = np.arange(6, dtype=np.uint8).reshape(2, 3, 1)
    assert upright(img, 0) is img
    assert upright(img, 180)[0, 0, 0] == 5
    assert upright(img, 270).shape == (3, 2, 1)


def test_reader_queue_is_bounded_and_early_close_stops_thread(tmp_path):
    path = make_video(tmp_path / "long.mp4", n_frames=120)
    reader = VideoReader(path, queue_size=3)
    it = iter(reader)
    next(it)
    import time

    time.sleep(0.3)  # let the decoder run ahead as far as it may
    assert reader._queue.qsize() <= 3
    reader.close()
    assert reader._thread is None


def test_writer_round_trip_keeps_size_rate_and_audio(tmp_path):
    src = make_video(tmp_path / "in.mp4", n_frames=50, fps=Fraction(30000, 1001), audio="aac")
    meta = probe(src)
    out = tmp_path / "out.mp4"
    with VideoReader(src) as reader, VideoWriter(out, meta.width, meta.height, meta.fps_fraction, audio_from=src) as w:
        for frame in reader:
            w.write(frame.image)
    got = probe(out)
    assert (got.width, got.height, got.n_frames) == (meta.width, meta.height, 50)
    assert got.fps_fraction == Fraction(30000, 1001)
    assert got.has_audio
    with av.open(str(out)) as c:
        audio = c.streams.audio[0]
        assert audio.codec_context.name == "aac"
        assert float(audio.duration * audio.time_base) == pytest.approx(50 * 1001 / 30000, abs=0.15)
    # pixels survive the encode (lossy, so approximately)
    with VideoReader(out) as reader:
        first = next(iter(reader)).image.astype(int)
    assert np.abs(first - shapes_frame(0, 160, 96).astype(int)).mean() < 6


def test_writer_transcodes_pcm_audio_and_trims_to_range(tmp_path):
    src = make_video(tmp_path / "in.avi", codec="mpeg4", n_frames=50, audio="pcm_s16le")
    meta = probe(src)
    out = tmp_path / "out.mp4"
    with (
        VideoReader(src, start_s=1.0) as reader,
        VideoWriter(out, meta.width, meta.height, meta.fps_fraction, audio_from=src, audio_start_s=1.0) as w,
    ):
        for frame in reader:
            w.write(frame.image)
    with av.open(str(out)) as c:
        assert c.streams.video[0].frames == 25
        audio = c.streams.audio[0]
        assert audio.codec_context.name == "aac"
        assert float(audio.duration * audio.time_base) == pytest.approx(1.0, abs=0.15)


def test_writer_pads_odd_sizes(tmp_path):
    out = tmp_path / "odd.mp4"
    with VideoWriter(out, 33, 21, 25) as w:
        for i in range(5):
            w.write(shapes_frame(i, 33, 21))
    meta = probe(out)
    assert (meta.width, meta.height, meta.n_frames) == (34, 22, 5)


def test_writer_rejects_wrong_frame_shape(tmp_path):
    with VideoWriter(tmp_path / "x.mp4", 32, 32, 25) as w, pytest.raises(ValueError, match="frame must be"):
        w.write(np.zeros((16, 16, 3), np.uint8))


def test_errors_missing_empty_not_video_truncated(tmp_path):
    with pytest.raises(VideoError, match="not found"):
        probe(tmp_path / "nope.mp4")
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(VideoError, match="empty"):
        probe(empty)
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video\n" * 100)
    with pytest.raises(VideoError, match="cannot read"):
        probe(text)
    with pytest.raises(VideoError, match="folder"):
        probe(tmp_path)


def test_truncated_file_is_reported(tmp_path):
    # A faststart mp4 (index first) cut in the middle: it opens, but frames are missing.
    src = make_video(tmp_path / "in.mp4", n_frames=100)
    full = tmp_path / "full.mp4"
    meta = probe(src)
    with VideoReader(src) as reader, VideoWriter(full, meta.width, meta.height, meta.fps_fraction) as w:
        for frame in reader:
            w.write(frame.image)
    data = full.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(VideoError, match="truncated|corrupt"), VideoReader(cut) as reader:
        for _ in reader:
            pass
    # A plain mp4 (index last) cut in the middle cannot even be opened.
    plain = src.read_bytes()
    cut2 = tmp_path / "cut2.mp4"
    cut2.write_bytes(plain[: len(plain) // 2])
    with pytest.raises(VideoError, match="is the file complete"):
        probe(cut2)


def test_reader_small_copy_and_skipping_full_size(tmp_path):
    path = make_video(tmp_path / "rot.mp4", width=160, height=96, rotation=90, marker=True)
    with VideoReader(path, small_size=(48, 80), full=False) as reader:
        frame = next(iter(reader))
    assert frame.image is None and frame.small.shape == (80, 48, 3)
    assert frame.small[-3, 3, 0] > 200  # marker turned upright in the small copy too
    with VideoReader(path, small_size=(48, 80)) as reader:
        frame = next(iter(reader))
    assert frame.image.shape == (160, 96, 3)
    with pytest.raises(ValueError, match="small_size"):
        VideoReader(path, full=False)


@pytest.mark.parametrize("name", ["vfr.mp4", "vfr.mkv"])
def test_reader_numbers_variable_rate_frames_consecutively(tmp_path, name):
    # Gaps in the timestamps (a variable-rate or timestamp-damaged file): every decoded
    # frame still gets the next index, as in the constant-rate annotated video, and
    # its time is index / fps on that same clock.
    pts = [0, 1, 2, 5, 6, 9, 10, 11, 15, 16, 17, 18, 25, 26, 27, 28, 29, 33, 34, 40]
    path = make_video(tmp_path / name, pts=pts)
    meta = probe(path)
    with av.open(str(path)) as container:
        decoded = sum(1 for _ in container.decode(video=0))
    with VideoReader(path) as reader:
        frames = list(reader)
    assert len(frames) == decoded == len(pts) == reader.frames_decoded
    assert [f.index for f in frames] == list(range(len(pts)))
    assert [f.time_s for f in frames] == pytest.approx([i / meta.fps for i in range(len(pts))])


def test_reader_start_on_variable_rate_video_counts_on_from_the_first_frame(tmp_path):
    pts = [0, 1, 2, 5, 6, 9, 10, 11, 15, 16, 17, 18, 25, 26, 27, 28, 29, 33, 34, 40]
    path = make_video(tmp_path / "vfr.mp4", pts=pts)
    meta = probe(path)
    with VideoReader(path, start_s=0.6) as reader:
        frames = list(reader)
    first = frames[0].index
    assert [f.index for f in frames] == list(range(first, first + len(frames)))
    assert frames[0].time_s == pytest.approx(first / meta.fps)
    assert first == round(0.6 * meta.fps)
    assert len(frames) == len([p for p in pts if p >= 15])  # 15/25 s is the first picture at or after 0.6 s


def _corrupt_packets(src: Path, which, dst: Path) -> Path:
    """Copy ``src`` to ``dst`` with the bytes of the video packets numbered ``which`` overwritten at random."""
    with av.open(str(src)) as container:
        spans = [(p.pos, p.size) for p in container.demux(video=0) if p.size]
    data = bytearray(src.read_bytes())
    rng = random.Random(0)
    for k in which:
        pos, size = spans[k]
        data[pos : pos + size] = rng.randbytes(size)
    dst.write_bytes(bytes(data))
    return dst


def test_reader_skips_a_few_undecodable_packets(tmp_path, caplog):
    src = make_video(tmp_path / "in.mp4", n_frames=60)
    bad = _corrupt_packets(src, [20, 30, 40], tmp_path / "bad.mp4")
    # Plain PyAV decoding stops at the first damaged packet: the file really is damaged.
    with av.open(str(bad)) as container, pytest.raises(av.error.FFmpegError):
        for _ in container.decode(video=0):
            pass
    with caplog.at_level(logging.WARNING, logger="hoopsense.video"), VideoReader(bad) as reader:
        frames = list(reader)
    assert reader.skipped_packets > 0
    assert 50 <= len(frames) < 60
    assert [f.index for f in frames] == list(range(len(frames)))
    assert "undecodable packet" in caplog.text


def test_reader_gives_up_on_a_mostly_corrupt_video(tmp_path):
    src = make_video(tmp_path / "in.mp4", n_frames=60)
    bad = _corrupt_packets(src, range(5, 55), tmp_path / "bad.mp4")
    pattern = r"\d+ of the \d+ packets read so far are corrupt"
    with pytest.raises(VideoError, match=pattern) as err, VideoReader(bad) as reader:
        for _ in reader:
            pass
    assert "\n" not in str(err.value)
    assert str(bad) in str(err.value)


def test_reader_fails_when_no_packet_decodes(tmp_path):
    src = make_video(tmp_path / "in.mp4", n_frames=8)
    bad = _corrupt_packets(src, range(8), tmp_path / "bad.mp4")
    with pytest.raises(VideoError, match="no frame could be decoded") as err, VideoReader(bad) as reader:
        for _ in reader:
            pass
    assert "\n" not in str(err.value)


def _refuse(error: BaseException):
    def fake_open(*args, **kwargs):
        raise error

    return fake_open


@pytest.mark.parametrize(
    "error",
    [
        PermissionError(errno.EACCES, "Permission denied"),
        av.error.PermissionError(errno.EACCES, "Permission denied", "x.mp4"),
        OSError(errno.EPERM, "Operation not permitted"),
    ],
    ids=["python", "pyav", "eperm"],
)
def test_permission_error_is_not_called_incomplete(tmp_path, monkeypatch, error):
    path = make_video(tmp_path / "a.mp4", n_frames=5)
    meta = probe(path)
    monkeypatch.setattr(av, "open", _refuse(error))
    with pytest.raises(VideoError) as err:
        probe(path)
    assert str(err.value) == f"cannot read {path}: permission denied"
    # the reader opens the file again in its thread; the error reaches the consumer the same way
    with pytest.raises(VideoError, match="permission denied"), VideoReader(path, meta=meta) as reader:
        next(iter(reader))


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root reads any file")
def test_unreadable_file_says_permission_denied(tmp_path):
    path = make_video(tmp_path / "a.mp4", n_frames=5)
    path.chmod(0)
    try:
        with pytest.raises(VideoError, match="permission denied"):
            probe(path)
    finally:
        path.chmod(0o644)


def test_other_open_failures_are_one_line_without_hint(tmp_path, monkeypatch):
    path = make_video(tmp_path / "a.mp4", n_frames=5)
    monkeypatch.setattr(av, "open", _refuse(OSError(errno.EIO, "Input/output error")))
    with pytest.raises(VideoError) as err:
        probe(path)
    assert str(err.value) == f"cannot read {path}: Input/output error"
    monkeypatch.setattr(av, "open", _refuse(av.error.InvalidDataError(1094995529, "Invalid data found", "x")))
    with pytest.raises(VideoError) as err:
        probe(path)
    assert str(err.value) == f"cannot read {path} as a video (Invalid data found); is the file complete?"
    monkeypatch.setattr(av, "open", _refuse(av.error.DecoderNotFoundError(-1, "Decoder not found\nsecond line")))
    with pytest.raises(VideoError) as err:
        probe(path)
    assert str(err.value) == f"cannot read {path} as a video (Decoder not found)"


def test_stat_permission_error_is_reported(tmp_path, monkeypatch):
    # e.g. a folder on the way that may not be searched: even exists() fails
    def denied(self: Path) -> bool:
        raise PermissionError(errno.EACCES, "Permission denied")

    path = tmp_path / "a.mp4"
    with monkeypatch.context() as patch:
        patch.setattr(Path, "exists", denied)
        with pytest.raises(VideoError) as err:
            probe(path)
    assert str(err.value) == f"cannot read {path}: permission denied"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"start_s": -1}, "start_s"), ({"start_s": 2, "end_s": 1}, "end_s"), ({"queue_size": 0}, "queue_size")],
)
def test_reader_argument_errors_stay_value_errors(tmp_path, kwargs, match):
    # programming errors, not bad input: ValueError, raised before the file is even opened
    with pytest.raises(ValueError, match=match):
        VideoReader(tmp_path / "never-opened.mp4", **kwargs)
