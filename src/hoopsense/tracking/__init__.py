"""Player detection (Ultralytics YOLO) and tracking (ByteTrack)."""
