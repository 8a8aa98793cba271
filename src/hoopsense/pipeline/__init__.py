"""The analysis pipeline: frames -> detections -> tracks -> outputs."""
