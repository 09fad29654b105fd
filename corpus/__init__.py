"""The synthetic speech corpus: grammar, voices, augmentation, splits and the builder."""
