"""Model weights: named specs, a hash-checked cache, and local paths.

``resolve("yolo11n.pt")`` returns a local file for a known name (downloading
it into the cache once, checked against its sha256) and ``resolve(path)``
returns an existing local file or folder as it is.
"""

from hoopsense.weights.cache import cache_dir, cached_path, download, resolve, sha256_of
from hoopsense.weights.specs import SPECS, WeightSpec, get_spec

__all__ = ["SPECS", "WeightSpec", "cache_dir", "cached_path", "download", "get_spec", "resolve", "sha256_of"]
