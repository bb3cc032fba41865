"""The training loop and what it needs: stage assembly, optimisers, passes, checkpoints."""
