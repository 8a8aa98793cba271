"""Hostile and careless inputs: every command must fail cleanly and harm nothing.

Each case runs ``hoopsense.cli.main`` in-process and checks the contract of a
failed run (see :func:`_run_bad`):

* the exit code is not 0 (1 for errors, 2 for argparse usage errors);
* stderr is one line (blank lines, a leading ``note:`` line and argparse's
  usage block aside) that starts with ``error:`` (argparse: holds ``error:``),
  with no traceback; an exception escaping ``main`` is a traceback for the user;
* every input is byte-identical afterwards and still the same file (inode);
* nothing half-written: no file appears in the output folders (hidden
  temporary files included) and files that were there are left untouched;
* pickled code in a weights file never runs (its marker file is never created).

A few cases may legitimately succeed (a report whose run file names a file
outside the run folder); they pass ``on_success`` with the check that applies
then (the page must not embed the outside file).
"""

from __future__ import annotations

import base64
import builtins
import hashlib
import json
import os
import shutil
import traceback
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from types import SimpleNamespace

import av
import numpy as np
import pytest
import torch
from motion import CLASSES, make_motion_dataset
from recognizers import make_checkpoint
from synth import make_video, shapes_frame

from hoopsense.cli import main
from hoopsense.video import VideoWriter

TINY_TRAIN = [
    "--arch",
    "mc3_18",
    "--init",
    "none",
    "--epochs",
    "1",
    "--clip-len",
    "4",
    "--frame-step",
    "2",
    "--resize",
    "40",
    "--crop-size",
    "32",
    "--workers",
    "0",
    "--no-flip",
    "--batch-size",
    "4",
]


# --------------------------------------------------------------------------- the contract


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _entry(path: Path) -> tuple:
    st = os.lstat(path)
    if os.path.islink(path):
        return ("link", st.st_ino, os.readlink(path))
    if os.path.isdir(path):
        return ("dir", st.st_ino)
    if os.path.isfile(path):
        return ("file", st.st_ino, st.st_size, _sha256(path))
    return ("other", st.st_ino)


def _snapshot(roots: Iterable[Path]) -> dict[str, tuple]:
    """Every file, folder and link under ``roots`` (hidden ones too) -> kind, inode, size and sha256."""
    snap: dict[str, tuple] = {}
    for root in roots:
        root = Path(root)
        if not os.path.lexists(root):
            snap[str(root)] = ("missing",)
            continue
        snap[str(root)] = _entry(root)
        if root.is_dir() and not root.is_symlink():
            for folder, dirs, files in os.walk(root):
                for name in dirs + files:
                    path = Path(folder) / name
                    snap[str(path)] = _entry(path)
    return snap


def _changes(before: dict[str, tuple], after: dict[str, tuple]) -> list[str]:
    out = []
    for key in sorted(set(before) | set(after)):
        a, b = before.get(key), after.get(key)
        if a == b:
            continue
        if a is None or a == ("missing",):
            out.append(f"created {key}")
        elif b is None or b == ("missing",):
            out.append(f"deleted {key}")
        elif a[0] != b[0] or a[1] != b[1]:
            out.append(f"replaced {key} (was {a[0]} inode {a[1]}, now {b[0]} inode {b[1]})")
        else:
            out.append(f"modified {key}")
    return out


def _message_lines(err: str, usage_error: bool) -> list[str]:
    """The lines of stderr that carry the message: no blank lines, no leading ``note:`` lines, no usage block."""
    lines = [line for line in err.splitlines() if line.strip()]
    if usage_error and lines and lines[0].startswith("usage:"):
        at = next((i for i, line in enumerate(lines) if ": error:" in line), len(lines))
        lines = lines[at:]
    while lines and lines[0].startswith("note:"):
        lines = lines[1:]
    return lines


def _where(exc: BaseException) -> str:
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if "hoopsense" in f.filename]
    if not frames:
        return ""
    f = frames[-1]
    return f" at {f.filename.split('src/')[-1]}:{f.lineno}"


def _run_bad(
    capsys: pytest.CaptureFixture,
    argv: Sequence[object],
    *,
    inputs: Iterable[Path] = (),
    out_dirs: Iterable[Path] = (),
    stderr_has: Iterable[str] = (),
    stderr_lacks: Iterable[str] = (),
    markers: Iterable[Path] = (),
    on_success: Callable[[], list[str]] | None = None,
    detector: object = None,
) -> str:
    """Run ``hoopsense argv`` and check the contract of a failed run; return stderr.

    ``inputs`` (files or folders) must be unchanged afterwards, ``out_dirs``
    must hold exactly what they held. ``stderr_has``/``stderr_lacks``: text
    that must / must not be in stderr. ``markers``: files that pickled code
    would create. ``on_success``: when the command exits 0, this returns the
    problems found instead of the failed-run checks (inputs are checked anyway).
    ``detector``: a fake detector in place of YOLO.
    """
    argv = [str(a) for a in argv]
    inputs, out_dirs, markers = list(inputs), list(out_dirs), list(markers)
    before_in, before_out = _snapshot(inputs), _snapshot(out_dirs)
    capsys.readouterr()
    problems: list[str] = []
    try:
        code = main(argv, detector=detector)
    except SystemExit as exc:
        code = exc.code
    except KeyboardInterrupt:
        raise
    except BaseException as exc:
        code = None
        problems.append(f"uncaught {type(exc).__name__}: {str(exc)[:200]}{_where(exc)} (the user gets a traceback)")
    err = capsys.readouterr().err
    problems += [f"input {c}" for c in _changes(before_in, _snapshot(inputs))]
    problems += [f"marker {m} created: pickled code ran" for m in markers if m.exists()]
    if code == 0 and on_success is not None:
        problems += on_success()
    else:
        if code == 0 or (code is None and not problems):
            problems.append("exit code 0")
        problems += [f"output folder: {c}" for c in _changes(before_out, _snapshot(out_dirs))]
        if "Traceback" in err or 'File "' in err:
            problems.append("traceback on stderr")
        if code is not None:
            lines = _message_lines(err, usage_error=code == 2)
            if len(lines) != 1:
                problems.append(f"stderr has {len(lines)} message lines, expected 1: {lines!r}")
            elif code == 2 and "error:" not in lines[0]:
                problems.append(f"usage error without 'error:': {lines[0]!r}")
            elif code != 2 and not lines[0].startswith("error:"):
                problems.append(f"stderr line does not start with 'error:': {lines[0]!r}")
        problems += [f"stderr lacks {s!r}" for s in stderr_has if s not in err]
        problems += [f"stderr mentions {s!r}" for s in stderr_lacks if s in err]
    assert not problems, f"hoopsense {' '.join(argv)}\nexit {code}, stderr:\n{err}\nproblems:\n- " + "\n- ".join(
        problems
    )
    return err


@pytest.fixture
def run_bad(capsys, request):
    """Runs a case; cases that ask for ``fake_detector`` get it in place of YOLO."""
    detector = request.getfixturevalue("fake_detector") if "fake_detector" in request.fixturenames else None

    def run(argv, **kwargs):
        return _run_bad(capsys, argv, detector=detector, **kwargs)

    return run


# --------------------------------------------------------------------------- hostile files


class _Payload:
    """Unpickling it runs ``exec`` that creates ``marker``."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (builtins.exec, (f"open({self.marker!r}, 'w').write('pwned')",))


def pickled_code(path: Path, marker: Path) -> Path:
    """A ``.pt`` whose loading with pickle (weights_only=False) creates ``marker``."""
    torch.save({"model": _Payload(marker), "state_dict": {}}, path)
    assert not marker.exists()
    return path


def empty_file(path: Path) -> Path:
    path.write_bytes(b"")
    return path


def folder(path: Path, *, holding: str | None = None) -> Path:
    """A new folder; with ``holding``, it holds one file of that name."""
    path.mkdir()
    if holding:
        (path / holding).write_text("mine")
    return path


def text_file(path: Path, text: str = "hello\n") -> Path:
    path.write_text(text)
    return path


def random_bytes(path: Path, n: int = 4096) -> Path:
    path.write_bytes(np.random.default_rng(1).integers(0, 256, n, dtype=np.uint8).tobytes())
    return path


def faststart_video(path: Path, n_frames: int = 60) -> Path:
    """An mp4 with its index first (as hoopsense writes them), so a cut copy opens but ends early."""
    with VideoWriter(path, 160, 96, 25, pixel_format="rgb24") as writer:
        for i in range(n_frames):
            writer.write(shapes_frame(i, 160, 96))
    return path


def audio_only(path: Path) -> Path:
    out = av.open(str(path), mode="w")
    stream = out.add_stream("aac", rate=16000)
    stream.layout = "mono"
    for k in range(20):
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.int16), format="s16", layout="mono")
        frame.sample_rate, frame.pts = 16000, k * 1024
        for packet in stream.encode(frame):
            out.mux(packet)
    for packet in stream.encode(None):
        out.mux(packet)
    out.close()
    return path


def half_of(src: Path, dst: Path) -> Path:
    data = src.read_bytes()
    dst.write_bytes(data[: len(data) // 2])
    return dst


# --------------------------------------------------------------------------- fixtures


@pytest.fixture
def env(tmp_path) -> SimpleNamespace:
    """``inp/game.mp4`` (40 frames, 160x96, 25 fps), ``inp/short.mp4`` (16 frames, for the cases that recognise
    actions), an empty ``out/`` and a ``pwned/`` folder for markers."""
    inp, out, pwned = tmp_path / "inp", tmp_path / "out", tmp_path / "pwned"
    for d in (inp, out, pwned):
        d.mkdir()
    video, short = make_video(inp / "game.mp4", n_frames=40), make_video(inp / "short.mp4", n_frames=16)
    return SimpleNamespace(
        tmp=tmp_path, inp=inp, out=out, video=video, short=short, marker=pwned / "marker", pwned=pwned
    )


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    """A small valid recognizer (mc3_18, 4-frame 32-px clips, random weights) for the dataset's classes."""
    return make_checkpoint(
        tmp_path_factory.mktemp("ck") / "model.pt", architecture="mc3_18", labels=CLASSES, background=None
    )


@pytest.fixture(scope="module")
def dataset_template(tmp_path_factory) -> Path:
    return make_motion_dataset(tmp_path_factory.mktemp("tiny") / "data", per_class=2)


@pytest.fixture
def data(dataset_template, tmp_path) -> Path:
    """A fresh copy of an 8-clip SpaceJam-format set (4 classes) that a case may be given to break."""
    return Path(shutil.copytree(dataset_template, tmp_path / "data"))


def write_run(folder: Path, *, run: dict | None = None, tracks: str | None = None, timeline: str | None = None) -> Path:
    """A hand-written analysis in ``folder`` (``game.run.json``, ``game.tracks.csv``, ``game.timeline.json``,
    ``game.mp4``) in the documented formats; ``run`` entries replace those of the run file."""
    folder.mkdir(parents=True, exist_ok=True)
    make_video(folder / "game.mp4", n_frames=20, width=64, height=48)
    rows = ["frame,time_s,player_id,x1,y1,x2,y2,confidence"]
    rows += [f"{f},{f / 25:.4f},{pid},{10 * pid},5,{10 * pid + 8},30,0.900" for f in range(20) for pid in (1, 2)]
    (folder / "game.tracks.csv").write_text(tracks if tracks is not None else "\n".join(rows) + "\n")
    doc = {
        "labels": ["dribble", "shoot", "no_action"],
        "background": "no_action",
        "fps": 25.0,
        "players": [
            {
                "player_id": pid,
                "classified": True,
                "events": [
                    {
                        "action": "dribble",
                        "start_frame": 0,
                        "end_frame": 9,
                        "start_s": 0.0,
                        "end_s": 0.4,
                        "duration_s": 0.4,
                        "confidence": 0.8,
                    },
                ],
            }
            for pid in (1, 2)
        ],
    }
    (folder / "game.timeline.json").write_text(timeline if timeline is not None else json.dumps(doc))
    outputs = {
        "video": "game.mp4",
        "tracks_csv": "game.tracks.csv",
        "mot": "game.mot.txt",
        "run_json": "game.run.json",
        "timeline_csv": "game.timeline.csv",
        "timeline_json": "game.timeline.json",
    }
    base = {
        "hoopsense_version": "0.1.0",
        "partial": False,
        "input": {"path": "/games/game.mp4", "width": 64, "height": 48, "fps": 25.0, "n_frames": 20, "duration_s": 0.8},
        "range_s": [0.0, None],
        "outputs": outputs,
        "frames": 20,
        "players": [{"player_id": pid, "first_frame": 0, "last_frame": 19, "frames": 20} for pid in (1, 2)],
    }
    for key, value in (run or {}).items():
        if key == "outputs" and isinstance(value, dict):
            base["outputs"] = {**outputs, **value}
        else:
            base[key] = value
    path = folder / "game.run.json"
    path.write_text(json.dumps(base))
    return path


@pytest.fixture
def secret(tmp_path) -> Path:
    """A file beside the run folder that no report may embed."""
    path = tmp_path / "secret.mp4"
    path.write_bytes(b"TOP-SECRET-NOT-FOR-THE-PAGE-" * 30)
    return path


def page_lacks(page: Path, *secrets: bytes) -> Callable[[], list[str]]:
    """For a report that succeeded: the page must hold none of ``secrets``, raw or base64-encoded (a data: URI)."""

    def check() -> list[str]:
        if not page.is_file():
            return [f"exit 0 but no page at {page}"]
        text = page.read_bytes()
        return [
            f"the page embeds an outside file ({s[:24]!r}...)"
            for s in secrets
            if s in text or base64.b64encode(s) in text
        ]

    return check


def test_controls_the_cases_start_from_valid_runs(env, tmp_path, fake_detector, capsys):
    """Not a bad input: the video, the hand-written run and the options the cases change work as they are."""
    ok = tmp_path / "ok"
    ok.mkdir()
    assert (
        main(
            ["analyze", str(env.video), "--out", str(ok / "o.mp4"), "--min-track-frames", "3", "--quiet"],
            detector=fake_detector,
        )
        == 0
    )
    run = write_run(tmp_path / "run")
    assert main(["report", str(run), "--out", str(ok / "page.html")]) == 0
    assert "dribble" in (ok / "page.html").read_text()
    capsys.readouterr()


# --------------------------------------------------------------------------- analyze: numbers


@pytest.mark.parametrize(
    "extra",
    [
        pytest.param(["--conf", "nan"], id="conf-nan"),
        pytest.param(["--conf", "inf"], id="conf-inf"),
        pytest.param(["--conf", "-0.5"], id="conf-negative"),
        pytest.param(["--imgsz", "0"], id="imgsz-0"),
        pytest.param(["--imgsz", "-640"], id="imgsz-negative"),
        pytest.param(["--imgsz", "1000000000000"], id="imgsz-huge"),
        pytest.param(["--start", "inf"], id="start-inf"),
        pytest.param(["--start", "nan"], id="start-nan"),
        pytest.param(["--start", "-1"], id="start-negative"),
        pytest.param(["--end", "nan"], id="end-nan"),
        pytest.param(["--end", "0"], id="end-0"),
        pytest.param(["--min-height", "nan"], id="min-height-nan"),
        pytest.param(["--min-height", "-0.1"], id="min-height-negative"),
        pytest.param(["--track-iou", "inf"], id="track-iou-inf"),
        pytest.param(["--track-activation", "nan"], id="track-activation-nan"),
        pytest.param(["--track-high", "-1"], id="track-high-negative"),
        pytest.param(["--lost-buffer", "-5"], id="lost-buffer-negative"),
        pytest.param(["--lost-buffer", "1000000000"], id="lost-buffer-huge"),
        pytest.param(["--min-track-frames", "-1"], id="min-track-frames-negative"),
        pytest.param(["--crf", "99"], id="crf-99"),
        pytest.param(["--crf", "-1"], id="crf-negative"),
        pytest.param(["--det-batch-size", "0"], id="det-batch-size-0"),
        pytest.param(["--det-batch-size", "1000000000"], id="det-batch-size-huge"),
        pytest.param(["--device", "../../etc"], id="device-path"),
        pytest.param(["--smooth", "2"], id="smooth-even"),
        pytest.param(["--min-event-s", "nan"], id="min-event-s-nan"),
        pytest.param(["--stride", "0"], id="stride-without-recognizer"),
        pytest.param(["--clip-len", "-1"], id="clip-len-without-recognizer"),
        pytest.param(["--batch-size", "-3"], id="batch-size-without-recognizer"),
        pytest.param(["--court", "abc"], id="court-abc"),
        pytest.param(["--court", "0,0,1,1"], id="court-2-points"),
        pytest.param(["--court", "0,0,1,1,0"], id="court-odd-count"),
        pytest.param(["--court", "nan,nan,nan,nan,nan,nan"], id="court-nan"),
        pytest.param(["--court", "inf,0,0,inf,-inf,-inf"], id="court-inf"),
        pytest.param(["--court", ""], id="court-empty"),
        pytest.param(["--court", ",,,"], id="court-commas"),
        pytest.param(["--keep-crowd", "--teams", "off"], id="keep-crowd-without-teams"),
        pytest.param(["--keep-referees", "--teams", "off"], id="keep-referees-without-teams"),
    ],
)
def test_analyze_bad_numbers(env, run_bad, fake_detector, extra):
    run_bad(["analyze", env.video, "--out", env.out / "o.mp4", *extra], inputs=[env.inp], out_dirs=[env.out])


@pytest.mark.parametrize(
    "extra",
    [
        pytest.param(["--stride", "0"], id="stride-0"),
        pytest.param(["--stride", "-4"], id="stride-negative"),
        pytest.param(["--clip-len", "0"], id="clip-len-0"),
        pytest.param(["--clip-len", "-1"], id="clip-len-negative"),
        pytest.param(["--clip-len", "1000000"], id="clip-len-huge"),
        pytest.param(["--batch-size", "0"], id="batch-size-0"),
        pytest.param(["--smooth", "2"], id="smooth-even"),
        pytest.param(["--smooth", "-1"], id="smooth-negative"),
        pytest.param(["--min-event-s", "nan"], id="min-event-s-nan"),
        pytest.param(["--min-event-s", "inf"], id="min-event-s-inf"),
        pytest.param(["--min-event-s", "-1"], id="min-event-s-negative"),
    ],
)
def test_analyze_bad_recognition_numbers(env, run_bad, fake_detector, checkpoint, extra):
    argv = ["analyze", env.short, "--out", env.out / "o.mp4", "--recognizer", checkpoint, "--min-track-frames", "3"]
    run_bad([*argv, *extra], inputs=[env.inp, checkpoint], out_dirs=[env.out])


# --------------------------------------------------------------------------- analyze: where the outputs go


def test_out_is_the_input(env, run_bad, fake_detector):
    run_bad(["analyze", env.video, "--out", env.video], inputs=[env.inp])


def test_out_is_the_input_spelt_differently(env, run_bad, fake_detector):
    run_bad(["analyze", env.video, "--out", env.inp / ".." / "inp" / "." / "game.mp4"], inputs=[env.inp])


def test_out_is_a_symlink_to_the_input(env, run_bad, fake_detector):
    (env.out / "link.mp4").symlink_to(env.video)
    run_bad(["analyze", env.video, "--out", env.out / "link.mp4"], inputs=[env.inp], out_dirs=[env.out])


def test_out_is_a_hard_link_to_the_input(env, run_bad, fake_detector):
    os.link(env.video, env.out / "hard.mp4")
    run_bad(["analyze", env.video, "--out", env.out / "hard.mp4"], inputs=[env.inp], out_dirs=[env.out])


def test_input_via_symlink_and_out_is_its_target(env, run_bad, fake_detector):
    (env.out / "link.mp4").symlink_to(env.video)
    run_bad(["analyze", env.out / "link.mp4", "--out", env.video], inputs=[env.inp], out_dirs=[env.out])


@pytest.mark.parametrize("option", ["--tracks", "--mot", "--report"])
def test_side_output_is_the_input(env, run_bad, fake_detector, option):
    run_bad(["analyze", env.video, "--out", env.out / "o.mp4", option, env.video], inputs=[env.inp], out_dirs=[env.out])


def test_tracks_overwrite_the_recognizer_checkpoint(env, run_bad, fake_detector, checkpoint):
    model = Path(shutil.copy(checkpoint, env.inp / "model.pt"))
    argv = ["analyze", env.short, "--out", env.out / "o.mp4", "--recognizer", model, "--min-track-frames", "3"]
    run_bad([*argv, "--tracks", model], inputs=[env.inp], out_dirs=[env.out])


@pytest.mark.parametrize(
    "extra",
    [
        pytest.param(["--tracks", "{out}/t.csv", "--mot", "{out}/t.csv"], id="tracks-equals-mot"),
        pytest.param(["--tracks", "{out}/o.mp4"], id="tracks-equals-out"),
        pytest.param(["--tracks", "{out}"], id="tracks-is-a-folder"),
        pytest.param(["--tracks", "{out}/r.html", "--report", "{out}/r.html"], id="report-equals-tracks"),
        pytest.param(["--report", "{out}"], id="report-is-the-out-folder"),
        pytest.param(["--tracks", "{out}/" + "t" * 300 + ".csv"], id="tracks-name-too-long"),
    ],
)
def test_outputs_collide(env, run_bad, fake_detector, extra):
    extra = [e.format(out=env.out) for e in extra]
    run_bad(["analyze", env.video, "--out", env.out / "o.mp4", *extra], inputs=[env.inp], out_dirs=[env.out])


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("o.txt", id="txt"),
        pytest.param("o", id="no-suffix"),
        pytest.param("o.html", id="html"),
        pytest.param("o.mp4.csv", id="mp4-csv"),
        pytest.param("o" * 300 + ".mp4", id="name-too-long"),
    ],
)
def test_out_is_not_an_mp4(env, run_bad, fake_detector, name):
    run_bad(["analyze", env.video, "--out", env.out / name], inputs=[env.inp], out_dirs=[env.out])


@pytest.mark.parametrize("name", ["existing", "existing.mp4"])
def test_out_is_an_existing_folder(env, run_bad, fake_detector, name):
    folder(env.out / name, holding="keep.txt")
    run_bad(["analyze", env.video, "--out", env.out / name], inputs=[env.inp], out_dirs=[env.out])


def test_report_folder_named_like_a_page(env, run_bad, fake_detector):
    folder(env.out / "page.html")
    run_bad(
        ["analyze", env.video, "--out", env.out / "o.mp4", "--report", env.out / "page.html"],
        inputs=[env.inp],
        out_dirs=[env.out],
    )


def test_existing_outputs_survive_a_failed_run(env, run_bad, fake_detector):
    for name in ("o.mp4", "o.tracks.csv", "o.mot.txt", "o.run.json"):
        (env.out / name).write_text(f"earlier {name}")
    run_bad(["analyze", env.video, "--out", env.out / "o.mp4", "--conf", "2"], inputs=[env.inp], out_dirs=[env.out])


# --------------------------------------------------------------------------- analyze: bad input videos


def _text_as_mp4(d: Path) -> Path:
    return text_file(d / "notes.mp4", "frame,time_s,player_id\n" * 40)


def _in_markup_folder(d: Path, folder: str, name: str) -> Path:
    (d / folder).mkdir()
    return _text_as_mp4(d).rename(d / folder / name)


BAD_VIDEOS = [
    pytest.param(lambda d: d / "nope.mp4", (), id="missing"),
    pytest.param(lambda d: empty_file(d / "empty.mp4"), (), id="empty"),
    pytest.param(lambda d: folder(d / "clip.mp4"), (), id="folder"),
    pytest.param(lambda d: random_bytes(d / "noise.mp4"), (), id="random-bytes"),
    pytest.param(_text_as_mp4, (), id="text-renamed-mp4"),
    pytest.param(
        lambda d: half_of(make_video(d / "full.mp4", n_frames=60), d / "cut.mp4"), (), id="truncated-index-last"
    ),
    pytest.param(lambda d: half_of(faststart_video(d / "full.mp4"), d / "cut.mp4"), (), id="truncated-index-first"),
    pytest.param(lambda d: audio_only(d / "sound.mp4"), (), id="audio-only"),
    pytest.param(lambda d: Path("/dev/null"), (), id="dev-null"),
    pytest.param(
        lambda d: _in_markup_folder(d, "[bold]x[", "bold].mp4"), ("[bold]x[/bold].mp4",), id="name-bold-markup"
    ),
    pytest.param(lambda d: _text_as_mp4(d).rename(d / "[red]game.mp4"), ("[red]game.mp4",), id="name-red-markup"),
    pytest.param(lambda d: _in_markup_folder(d, "[", "].mp4"), ("[/].mp4",), id="name-closing-tag"),
    pytest.param(lambda d: d / "[red]missing.mp4", ("[red]missing.mp4",), id="missing-name-markup"),
    pytest.param(lambda d: _text_as_mp4(d).rename(d / "game:fire:.mp4"), ("game:fire:.mp4",), id="name-emoji-code"),
]


@pytest.mark.parametrize(("make", "shown"), BAD_VIDEOS)
def test_analyze_bad_video(env, run_bad, fake_detector, make, shown):
    video = make(env.inp)
    run_bad(["analyze", video, "--out", env.out / "o.mp4"], inputs=[env.inp], out_dirs=[env.out], stderr_has=shown)


# --------------------------------------------------------------------------- analyze: bad weights


BAD_DETECTORS = [
    pytest.param(lambda e: e.inp / "none.pt", id="missing"),
    pytest.param(lambda e: empty_file(e.inp / "empty.pt"), id="empty"),
    pytest.param(lambda e: random_bytes(e.inp / "noise.onnx"), id="random-bytes-onnx"),
    pytest.param(lambda e: random_bytes(e.inp / "noise.pt"), id="random-bytes-pt"),
    pytest.param(lambda e: pickled_code(e.inp / "evil.pt", e.marker), id="pickled-code-pt"),
    pytest.param(lambda e: folder(e.inp / "model_openvino_model"), id="empty-folder"),
    pytest.param(lambda e: e.video, id="the-input-video"),
    pytest.param(lambda e: "[red]yolo.pt", id="name-markup"),
]


@pytest.mark.parametrize("make", BAD_DETECTORS)
def test_analyze_bad_detector(env, run_bad, make):
    detector = make(env)
    shown = [str(detector)] if "[" in str(detector) else []
    run_bad(
        ["analyze", env.video, "--out", env.out / "o.mp4", "--detector", detector],
        inputs=[env.inp],
        out_dirs=[env.out, env.pwned],
        markers=[env.marker],
        stderr_has=shown,
    )


BAD_RECOGNIZERS = [
    pytest.param(lambda e: e.inp / "none.pt", id="missing"),
    pytest.param(lambda e: empty_file(e.inp / "empty.pt"), id="empty"),
    pytest.param(lambda e: random_bytes(e.inp / "noise.pt"), id="random-bytes"),
    pytest.param(lambda e: pickled_code(e.inp / "evil.pt", e.marker), id="pickled-code"),
    pytest.param(
        lambda e: torch.save({"fc.weight": torch.zeros(3, 4)}, e.inp / "plain.pt") or e.inp / "plain.pt",
        id="plain-state-dict",
    ),
    pytest.param(lambda e: e.video, id="the-input-video"),
]


@pytest.mark.parametrize("make", BAD_RECOGNIZERS)
def test_analyze_bad_recognizer(env, run_bad, fake_detector, make):
    model = make(env)
    run_bad(
        ["analyze", env.video, "--out", env.out / "o.mp4", "--recognizer", model],
        inputs=[env.inp],
        out_dirs=[env.out, env.pwned],
        markers=[env.marker],
    )


# --------------------------------------------------------------------------- inspect


BAD_CHECKPOINTS = [
    pytest.param(lambda e, ck: e.inp / "none.pt", id="missing"),
    pytest.param(lambda e, ck: random_bytes(e.inp / "noise.pt"), id="garbage"),
    pytest.param(lambda e, ck: e.inp, id="folder"),
    pytest.param(lambda e, ck: half_of(ck, e.inp / "cut.pt"), id="truncated"),
    pytest.param(lambda e, ck: pickled_code(e.inp / "evil.pt", e.marker), id="pickled-code"),
    pytest.param(lambda e, ck: random_bytes(e.inp / "[red]m.pt"), id="name-markup"),
]


@pytest.mark.parametrize("make", BAD_CHECKPOINTS)
@pytest.mark.parametrize("fmt", [[], ["--json"]], ids=["table", "json"])
def test_inspect_bad_checkpoint(env, run_bad, checkpoint, make, fmt):
    path = make(env, checkpoint)
    shown = ["[red]m.pt"] if "[red]" in str(path) else []
    run_bad(["inspect", path, *fmt], inputs=[env.inp], out_dirs=[env.pwned], markers=[env.marker], stderr_has=shown)


# --------------------------------------------------------------------------- report


UNKNOWN_ACTION = json.dumps(
    {"labels": ["dribble"], "players": [{"player_id": 1, "events": [{"action": "dunk", "start_s": 0, "end_s": 1}]}]}
)
BAD_RUNS = [
    pytest.param(lambda r: r.write_text(r.read_text()[:40]), id="run-json-truncated"),
    pytest.param(lambda r: write_run(r.parent, run={"input": {"path": "g.mp4", "fps": 0}}), id="fps-0"),
    pytest.param(lambda r: write_run(r.parent, run={"input": {"path": "g.mp4", "fps": -25}}), id="fps-negative"),
    pytest.param(lambda r: r.write_text(r.read_text().replace('"fps": 25.0', '"fps": NaN')), id="fps-nan"),
    pytest.param(lambda r: write_run(r.parent, run={"frames": -20}), id="frames-negative"),
    pytest.param(lambda r: write_run(r.parent, run={"outputs": "game"}), id="outputs-not-a-dict"),
    pytest.param(lambda r: r.write_text("[1, 2, 3]"), id="run-json-a-list"),
    pytest.param(
        lambda r: write_run(r.parent, tracks="frame,time_s,player_id,x1,y1,x2,y2,confidence\nten,0,1,0,0,1,1,1\n"),
        id="tracks-non-numeric-frame",
    ),
    pytest.param(
        lambda r: write_run(r.parent, tracks="frame,time_s,player_id,x1,y1,x2,y2,confidence\n3,0.12\n"),
        id="tracks-short-row",
    ),
    pytest.param(
        lambda r: write_run(r.parent, timeline='{"labels": ["dribble"], "players": [{"player_id"'),
        id="timeline-truncated",
    ),
    pytest.param(lambda r: write_run(r.parent, timeline=UNKNOWN_ACTION), id="timeline-unknown-action"),
    pytest.param(
        lambda r: write_run(r.parent, run={"outputs": {"tracks_csv": os.path.relpath("/etc/passwd", r.parent)}}),
        id="tracks-outside-etc-passwd",
    ),
    pytest.param(
        lambda r: write_run(r.parent, run={"outputs": {"timeline_json": "/etc/passwd"}}),
        id="timeline-absolute-etc-passwd",
    ),
    pytest.param(lambda r: write_run(r.parent, run={"outputs": {"tracks_csv": "."}}), id="tracks-is-the-run-folder"),
]


@pytest.mark.parametrize("corrupt", BAD_RUNS)
def test_report_bad_run(env, run_bad, corrupt):
    run = write_run(env.tmp / "run")
    corrupt(run)
    run_bad(["report", run, "--out", env.out / "page.html"], inputs=[run.parent], out_dirs=[env.out])


@pytest.mark.parametrize("embed", ["auto", "always", "never"])
@pytest.mark.parametrize(
    "video",
    [
        pytest.param(lambda s: "../secret.mp4", id="video-dotdot"),
        pytest.param(lambda s: str(s), id="video-absolute"),
        pytest.param(lambda s: "/etc/passwd", id="video-etc-passwd"),
    ],
)
def test_report_never_embeds_files_outside_the_run(env, run_bad, secret, video, embed):
    run = write_run(env.tmp / "run", run={"outputs": {"video": video(secret)}})
    page = env.out / "page.html"
    passwd = Path("/etc/passwd").read_bytes() if Path("/etc/passwd").is_file() else b"root:x:0:0"
    run_bad(
        ["report", run, "--out", page, "--embed-video", embed],
        inputs=[run.parent, secret],
        out_dirs=[env.out],
        on_success=page_lacks(page, secret.read_bytes(), passwd),
    )


def test_report_escapes_a_hostile_title(env, run_bad):
    evil = "</title><script>alert(1)</script>.mp4"
    run = write_run(env.tmp / "run", run={"input": {"path": evil, "fps": 25.0}})
    page = env.out / "page.html"

    def no_live_script() -> list[str]:
        return ["the page holds the raw <script> of the input name"] if "<script>alert(1)" in page.read_text() else []

    run_bad(["report", run, "--out", page], inputs=[run.parent], out_dirs=[env.out], on_success=no_live_script)


@pytest.mark.parametrize(
    "out",
    [
        pytest.param(lambda e, run: e.out / "page.txt", id="out-not-html"),
        pytest.param(lambda e, run: run, id="out-is-the-run-json"),
        pytest.param(lambda e, run: run.with_name("game.mp4"), id="out-is-the-video"),
        pytest.param(lambda e, run: folder(e.out / "page.html"), id="out-is-a-folder"),
        pytest.param(lambda e, run: run.with_name("game.tracks.csv"), id="out-is-the-tracks"),
    ],
)
def test_report_bad_out(env, run_bad, out):
    run = write_run(env.tmp / "run")
    target = out(env, run)
    run_bad(["report", run, "--out", target], inputs=[run.parent], out_dirs=[env.out])


@pytest.mark.parametrize(
    "target",
    [
        pytest.param(lambda e: e.tmp / "missing.run.json", id="missing"),
        pytest.param(lambda e: e.out, id="folder-without-run"),
        pytest.param(lambda e: e.video, id="a-video-without-run"),
        pytest.param(lambda e: random_bytes(e.inp / "x.run.json"), id="random-bytes-run-json"),
        pytest.param(lambda e: text_file(e.inp / "notes.txt"), id="text-file"),
    ],
)
def test_report_not_a_run(env, run_bad, target):
    run_bad(["report", target(env)], inputs=[env.inp], out_dirs=[env.out, env.inp])


# --------------------------------------------------------------------------- clips


@pytest.mark.parametrize(
    "extra",
    [
        pytest.param(["--start", "10", "--end", "5"], id="start-after-end"),
        pytest.param(["--start", "0.8", "--end", "0.4"], id="start-after-end-inside"),
        pytest.param(["--start", "nan"], id="start-nan"),
        pytest.param(["--clip-len", "0"], id="clip-len-0"),
        pytest.param(["--clip-len", "-4"], id="clip-len-negative"),
        pytest.param(["--stride", "-1"], id="stride-negative"),
        pytest.param(["--size", "0"], id="size-0"),
        pytest.param(["--placeholder", "dunk"], id="placeholder-unknown"),
        pytest.param(["--court", "abc"], id="court-abc"),
    ],
)
def test_clips_bad_options(env, run_bad, fake_detector, extra):
    run_bad(["clips", env.video, "--out", env.out / "clips", *extra], inputs=[env.inp], out_dirs=[env.out])


@pytest.mark.parametrize(
    "labels",
    [
        pytest.param("{not json", id="garbage"),
        pytest.param('["block", "no_action"]', id="a-list"),
        pytest.param('{"0": "block", "1": "pass"}', id="without-placeholder"),
        pytest.param('{"zero": "no_action"}', id="non-integer-keys"),
        pytest.param('{"0": "no_action", "1": 5}', id="non-string-label"),
        pytest.param(None, id="missing"),
    ],
)
def test_clips_bad_labels(env, run_bad, fake_detector, labels):
    path = env.inp / "labels_dict.json"
    if labels is not None:
        path.write_text(labels)
    placeholder = ["--placeholder", "no_action"]  # refused too when the labels lack it
    run_bad(
        ["clips", env.video, "--out", env.out / "clips", "--labels", path, *placeholder],
        inputs=[env.inp],
        out_dirs=[env.out],
    )


def test_clips_out_is_a_non_empty_folder(env, run_bad, fake_detector):
    folder(env.out / "clips", holding="annotation_dict.json")
    run_bad(["clips", env.video, "--out", env.out / "clips"], inputs=[env.inp], out_dirs=[env.out])


def test_clips_out_is_the_input(env, run_bad, fake_detector):
    run_bad(["clips", env.video, "--out", env.video], inputs=[env.inp])


def test_clips_out_is_the_input_folder(env, run_bad, fake_detector):
    run_bad(["clips", env.video, "--out", env.inp], inputs=[env.inp])


# --------------------------------------------------------------------------- train


@pytest.mark.parametrize(
    "extra",
    [
        pytest.param(["--epochs", "0"], id="epochs-0"),
        pytest.param(["--epochs", "-1"], id="epochs-negative"),
        pytest.param(["--lr", "nan"], id="lr-nan"),
        pytest.param(["--lr", "inf"], id="lr-inf"),
        pytest.param(["--lr", "-0.1"], id="lr-negative"),
        pytest.param(["--weight-decay", "nan"], id="weight-decay-nan"),
        pytest.param(["--weight-decay", "-1"], id="weight-decay-negative"),
        pytest.param(["--val-fraction", "1.5"], id="val-fraction-1.5"),
        pytest.param(["--val-fraction", "nan"], id="val-fraction-nan"),
        pytest.param(["--val-fraction", "0"], id="val-fraction-0"),
        pytest.param(["--batch-size", "0"], id="batch-size-0"),
        pytest.param(["--patience", "0"], id="patience-0"),
        pytest.param(["--crop-size", "64"], id="crop-size-above-resize"),
        pytest.param(["--workers", "-1"], id="workers-negative"),
        pytest.param(["--background", "dunk"], id="background-unknown"),
    ],
)
def test_train_bad_options(data, env, run_bad, extra):
    run_bad(["train", data, "--out", env.out / "m.pt", *TINY_TRAIN, *extra], inputs=[data], out_dirs=[env.out])


def _truncate(path: Path) -> None:
    path.write_text(path.read_text()[: len(path.read_text()) // 2])


def _corrupt_clips(data: Path) -> None:
    for clip in data.glob("*.mp4"):
        clip.write_bytes(clip.read_bytes()[:200])


BAD_DATA = [
    pytest.param(lambda d: shutil.rmtree(d), id="data-folder-missing"),
    pytest.param(lambda d: _truncate(d / "annotation_dict.json"), id="annotation-truncated"),
    pytest.param(lambda d: _truncate(d / "labels_dict.json"), id="labels-truncated"),
    pytest.param(lambda d: (d / "annotation_dict.json").unlink(), id="annotation-missing"),
    pytest.param(lambda d: (d / "annotation_dict.json").write_text("[0, 1, 2]"), id="annotation-a-list"),
    pytest.param(lambda d: (d / "labels_dict.json").write_text('{"a": "left"}'), id="labels-non-integer-keys"),
    pytest.param(_corrupt_clips, id="only-corrupt-clips"),
    pytest.param(lambda d: [c.unlink() for c in d.glob("*.mp4")], id="no-clips"),
    pytest.param(lambda d: _unlabel(d), id="nothing-labelled"),
]


def _unlabel(data: Path) -> None:
    """Every clip as ``hoopsense clips`` leaves it: nobody has labelled it yet (null)."""
    ann = json.loads((data / "annotation_dict.json").read_text())
    (data / "annotation_dict.json").write_text(json.dumps(dict.fromkeys(ann)))


@pytest.mark.parametrize("spoil", BAD_DATA)
def test_train_bad_data(data, env, run_bad, spoil):
    spoil(data)
    run_bad(["train", data, "--out", env.out / "m.pt", *TINY_TRAIN], inputs=[data], out_dirs=[env.out])


@pytest.fixture
def second(dataset_template, tmp_path) -> Path:
    """A second game's folder, for the commands that take several."""
    return Path(shutil.copytree(dataset_template, tmp_path / "second"))


SECOND_DATA = [
    pytest.param(lambda d: shutil.rmtree(d), id="second-folder-missing"),
    pytest.param(_unlabel, id="second-nothing-labelled"),
    pytest.param(
        lambda d: (d / "labels_dict.json").write_text('{"0": "left", "1": "left"}'), id="second-labels-repeat"
    ),
    pytest.param(lambda d: (d / "annotation_dict.json").write_text("{"), id="second-annotation-truncated"),
]


@pytest.mark.parametrize("spoil", SECOND_DATA)
def test_train_bad_second_data(data, second, env, run_bad, spoil):
    spoil(second)
    run_bad(["train", data, second, "--out", env.out / "m.pt", *TINY_TRAIN], inputs=[data, second], out_dirs=[env.out])


@pytest.mark.parametrize("spoil", SECOND_DATA)
def test_evaluate_bad_second_data(data, second, env, run_bad, checkpoint, spoil):
    spoil(second)
    run_bad(
        ["evaluate", checkpoint, data, second, "--out", env.out / "eval", "--workers", "0"],
        inputs=[data, second, checkpoint],
        out_dirs=[env.out],
    )


def test_train_the_same_folder_twice(data, env, run_bad):
    run_bad(
        ["train", data, data.parent / "." / data.name, "--out", env.out / "m.pt", *TINY_TRAIN],
        inputs=[data],
        out_dirs=[env.out],
        stderr_has=["given twice"],
    )


def test_train_out_is_a_file_of_the_second_folder(data, second, run_bad):
    kept = second / "notes.pt"
    kept.write_text("mine")
    run_bad(["train", data, second, "--out", kept, *TINY_TRAIN], inputs=[data, second])


@pytest.mark.parametrize("name", ["m.pth", "m", "m.onnx", "m.PT"])
def test_train_out_not_pt(data, env, run_bad, name):
    run_bad(["train", data, "--out", env.out / name, *TINY_TRAIN], inputs=[data], out_dirs=[env.out])


@pytest.mark.parametrize("name", ["annotation_dict.json", "0000000.mp4", "labels_dict.json"])
def test_train_out_is_a_data_file(data, run_bad, name):
    run_bad(["train", data, "--out", data / name, *TINY_TRAIN], inputs=[data])


def test_train_out_is_the_data_folder(dataset_template, tmp_path, run_bad):
    data = Path(shutil.copytree(dataset_template, tmp_path / "set.pt"))
    run_bad(["train", data, "--out", data, *TINY_TRAIN], inputs=[data], out_dirs=[tmp_path])


def test_train_out_is_the_split_file_it_reads(data, env, run_bad):
    split = env.inp / "s.split.pt"
    split.write_text(json.dumps({"train": ["0000000"], "val": ["0000001"], "seed": 0, "val_fraction": 0.2}))
    run_bad(["train", data, "--out", split, "--split", split, *TINY_TRAIN], inputs=[data, env.inp], out_dirs=[env.out])


@pytest.mark.parametrize(
    "extra",
    [
        pytest.param(lambda e, d: ["--split", d / "annotation_dict.json"], id="split-is-annotations"),
        pytest.param(lambda e, d: ["--init", random_bytes(e.inp / "init.pth")], id="init-garbage"),
        pytest.param(lambda e, d: ["--init", pickled_code(e.inp / "init.pth", e.marker)], id="init-pickled-code"),
        pytest.param(lambda e, d: ["--resume"], id="resume-without-state"),
    ],
)
def test_train_bad_companion_files(data, env, run_bad, extra):
    argv = ["train", data, "--out", env.out / "m.pt", *TINY_TRAIN, *extra(env, data)]
    run_bad(argv, inputs=[data, env.inp], out_dirs=[env.out, env.pwned], markers=[env.marker])


def test_train_resume_from_a_garbage_state(data, env, run_bad):
    random_bytes(env.out / "m.state.pt")
    (env.out / "m.split.json").write_text("earlier split")
    run_bad(["train", data, "--out", env.out / "m.pt", *TINY_TRAIN, "--resume"], inputs=[data], out_dirs=[env.out])


# --------------------------------------------------------------------------- evaluate


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda e, ck: e.inp / "none.pt", id="missing"),
        pytest.param(lambda e, ck: random_bytes(e.inp / "noise.pt"), id="garbage"),
        pytest.param(lambda e, ck: half_of(ck, e.inp / "cut.pt"), id="truncated"),
        pytest.param(lambda e, ck: pickled_code(e.inp / "evil.pt", e.marker), id="pickled-code"),
        pytest.param(lambda e, ck: e.inp, id="folder"),
    ],
)
def test_evaluate_bad_checkpoint(data, env, run_bad, checkpoint, make):
    model = make(env, checkpoint)
    run_bad(
        ["evaluate", model, data, "--out", env.out / "eval", "--workers", "0"],
        inputs=[data, env.inp],
        out_dirs=[env.out, env.pwned],
        markers=[env.marker],
        stderr_lacks=["--recognizer"],
    )


@pytest.mark.parametrize(
    "out",
    [
        pytest.param(lambda e, d, ck: folder(e.out / "eval", holding="report.md"), id="out-non-empty-folder"),
        pytest.param(lambda e, d, ck: d, id="out-is-the-data"),
        pytest.param(lambda e, d, ck: ck, id="out-is-the-checkpoint"),
        pytest.param(lambda e, d, ck: e.video, id="out-is-a-file"),
    ],
)
def test_evaluate_bad_out(data, env, run_bad, checkpoint, out):
    target = out(env, data, checkpoint)
    run_bad(
        ["evaluate", checkpoint, data, "--out", target, "--workers", "0"],
        inputs=[data, env.inp, checkpoint],
        out_dirs=[env.out],
    )


@pytest.mark.parametrize(
    ("extra", "shown"),
    [
        pytest.param(["--batch-size", "0"], [], id="batch-size-0"),
        pytest.param(["--workers", "-1"], [], id="workers-negative"),
        pytest.param(["--subset", "test"], [], id="subset-without-split"),
        pytest.param(["--split", "{data}/annotation_dict.json"], [], id="split-is-annotations"),
        pytest.param(["--device", "cuda:abc"], ["cuda:abc"], id="device-garbage"),
    ],
)
def test_evaluate_bad_options(data, env, run_bad, checkpoint, extra, shown):
    extra = [e.format(data=data) for e in extra]
    workers = [] if "--workers" in extra else ["--workers", "0"]
    argv = ["evaluate", checkpoint, data, "--out", env.out / "eval", *workers, *extra]
    run_bad(argv, inputs=[data, checkpoint], out_dirs=[env.out], stderr_has=shown)


# --------------------------------------------------------------------------- the command line itself


@pytest.mark.parametrize(
    "argv",
    [
        pytest.param([], id="no-command"),
        pytest.param(["analyse"], id="misspelt-command"),
        pytest.param(["analyze", "--out"], id="out-without-value"),
        pytest.param(["weights", "delete"], id="unknown-weights-action"),
    ],
)
def test_usage_errors(run_bad, argv):
    run_bad(argv)
