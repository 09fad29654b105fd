"""Training recipes: each one resumable, seeded, and writing its final weights to `weights/`."""
