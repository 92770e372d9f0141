"""Evaluation of vector sets: k-NN, silhouette, retrieval, hubness, case studies and the before/after report."""
