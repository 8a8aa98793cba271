"""Action recognition: tubelets from tracks, clip transforms, video models and batched inference."""
