"""What the pipeline's parts share about its world: the neural models (PyTorch definitions and losses;
recipes are in `training/`) and the assistant's vocabulary (`models.lexicon`), which the corpus speaks and
the NLU parses."""
