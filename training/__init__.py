"""Training: triplet construction, triplet-loss fine-tuning of MuQ, evaluation and its report."""
