import hashlib
import io

import pytest

from hoopsense import weights
from hoopsense.errors import WeightsError
from hoopsense.weights import WeightSpec, resolve


def test_local_path_is_returned_as_is(tmp_path):
    f = tmp_path / "det.onnx"
    f.write_bytes(b"x" * 10)
    assert resolve(f) == f
    assert resolve(tmp_path) == tmp_path  # OpenVINO folders are accepted


def test_empty_and_missing_files_are_clear_errors(tmp_path):
    empty = tmp_path / "e.pt"
    empty.write_bytes(b"")
    with pytest.raises(WeightsError, match="empty"):
        resolve(empty)
    with pytest.raises(WeightsError, match="weights not found: .*missing.pt"):
        resolve(tmp_path / "missing.pt")
    with pytest.raises(WeightsError, match="detector weights not found: 'no-such-model.pt'"):
        resolve("no-such-model.pt", what="detector weights")


def test_known_name_offline_names_the_way_out(monkeypatch):
    monkeypatch.setenv("HOOPSENSE_OFFLINE", "1")
    with pytest.raises(WeightsError) as err:
        resolve("yolo11n.pt")
    text = str(err.value)
    assert "HOOPSENSE_OFFLINE" in text and "local file" in text and "HOOPSENSE_HOME" in text


def test_specs_are_valid_data():
    names = [s.name for s in weights.SPECS]
    assert "yolo11n.pt" in names and len(set(names)) == len(names)
    with pytest.raises(ValueError, match="sha256"):
        WeightSpec("x", "https://e/x", "zz", "x", "detector", "d")
    with pytest.raises(ValueError, match="https"):
        WeightSpec("x", "http://e/x", "ab" * 32, "x", "detector", "d")


class _Response(io.BytesIO):
    headers = {"Content-Length": "0"}

    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False


def _serve(monkeypatch, payload: bytes, spec: WeightSpec):
    monkeypatch.setenv("HOOPSENSE_OFFLINE", "0")
    monkeypatch.setattr("hoopsense.weights.cache.get_spec", lambda name: spec if name == spec.name else None)
    calls = []

    def fake_urlopen(request, timeout):
        calls.append(request.full_url)
        return _Response(payload)

    monkeypatch.setattr("urllib.request.urlopen", fake_urlopen)
    return calls


def test_download_verifies_hash_then_caches(monkeypatch):
    payload = b"weights" * 1000
    spec = WeightSpec(
        "tiny.pt", "https://example.invalid/tiny.pt", hashlib.sha256(payload).hexdigest(), "tiny.pt", "detector", "t"
    )
    calls = _serve(monkeypatch, payload, spec)
    path = resolve("tiny.pt")
    assert path.read_bytes() == payload and path.parent == weights.cache_dir()
    assert resolve("tiny.pt") == path and len(calls) == 1  # second time from the cache
    assert [p.name for p in path.parent.iterdir()] == ["tiny.pt"]  # no temporary left


def test_download_with_wrong_hash_leaves_nothing(monkeypatch):
    spec = WeightSpec("bad.pt", "https://example.invalid/bad.pt", "ab" * 32, "bad.pt", "detector", "t")
    _serve(monkeypatch, b"tampered", spec)
    with pytest.raises(WeightsError, match="sha256"):
        resolve("bad.pt")
    assert list(weights.cache_dir().iterdir()) == []


def test_corrupt_cached_file_is_fetched_again(monkeypatch):
    payload = b"good"
    spec = WeightSpec(
        "c.pt", "https://example.invalid/c.pt", hashlib.sha256(payload).hexdigest(), "c.pt", "detector", "t"
    )
    calls = _serve(monkeypatch, payload, spec)
    weights.cache_dir().mkdir(parents=True, exist_ok=True)
    (weights.cache_dir() / "c.pt").write_bytes(b"corrupt")
    assert resolve("c.pt").read_bytes() == payload and len(calls) == 1


def test_an_unpinned_file_is_pinned_by_its_first_download(monkeypatch):
    # a release that publishes no digest (yolo11n-pose.pt): the first download's digest is kept and checked
    assert weights.get_spec("yolo11n-pose.pt").sha256 is None
    spec = WeightSpec("p.pt", "https://example.invalid/p.pt", None, "p.pt", "pose", "t")
    calls = _serve(monkeypatch, b"first", spec)
    path = resolve("p.pt")
    pin = path.with_name("p.pt.sha256")
    assert path.read_bytes() == b"first" and pin.read_text().strip() == hashlib.sha256(b"first").hexdigest()
    assert resolve("p.pt") == path and len(calls) == 1  # from the cache, checked against the pin
    path.write_bytes(b"damaged")  # a damaged cached file is fetched again and must match the pin
    assert resolve("p.pt").read_bytes() == b"first" and len(calls) == 2
    path.unlink()
    _serve(monkeypatch, b"replaced upstream", spec)  # a different file later is refused
    with pytest.raises(WeightsError, match="sha256"):
        resolve("p.pt")
    assert not path.exists() and pin.is_file()
