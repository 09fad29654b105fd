"""Neural models of the pipeline (PyTorch): definitions and losses. Recipes are in `training/`."""
