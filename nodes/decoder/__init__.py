"""The streaming RNN-T decoder node: beam search, word lattices, contextual biasing."""
