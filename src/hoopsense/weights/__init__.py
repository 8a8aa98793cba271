"""Model weights: named specs, a hash-checked cache, and local paths.

``resolve("yolo11n.pt")`` returns a local file for a known name (downloading
it into the cache once, checked against its sha256) and ``resolve(path)``
returns an existing local file or folder as it is. ``check_torch_pickle(path)``
refuses a torch checkpoint whose loading would run code, without loading it.
"""

from hoopsense.weights.cache import cache_dir, cached_path, download, resolve, sha256_of
from hoopsense.weights.pickle_scan import check_torch_pickle
from hoopsense.weights.specs import SPECS, WeightSpec, get_spec

__all__ = [
    "SPECS",
    "WeightSpec",
    "cache_dir",
    "cached_path",
    "check_torch_pickle",
    "download",
    "get_spec",
    "resolve",
    "sha256_of",
]
