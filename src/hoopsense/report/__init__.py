"""The coach review report: one self-contained HTML page per analysed game."""
