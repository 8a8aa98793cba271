"""Process-wide settings, made once by the entry points (the CLI's ``main`` and :mod:`hoopsense.api`).

Library modules never change process state themselves: no environment
variables written by a constructor, no thread counts set per batch, no
plotting backend chosen at plot time.
"""

from __future__ import annotations

import functools
import os

from hoopsense.devices import usable_cores


@functools.cache
def configure_process() -> None:
    """Settings every hoopsense run needs; idempotent and cheap after the first call.

    * Ultralytics never pip-installs packages, phones home or prints per frame
      (``YOLO_AUTOINSTALL``, ``YOLO_OFFLINE``, ``YOLO_VERBOSE``; a value the
      user set is kept).
    * torch uses every usable core: Ultralytics sets ``OMP_NUM_THREADS=1``
      when imported, which ran the recognizer on one core (3.5x slower).
    """
    os.environ.setdefault("YOLO_AUTOINSTALL", "False")
    os.environ.setdefault("YOLO_OFFLINE", "True")
    os.environ.setdefault("YOLO_VERBOSE", "False")
    import torch

    torch.set_num_threads(usable_cores())
