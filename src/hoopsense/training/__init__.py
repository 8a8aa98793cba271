"""Fine-tuning and evaluation of the recognizer: datasets, leakage-free splits, augmentation, loop, metrics."""
