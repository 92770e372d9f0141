"""Uploads: a listener's own audio, decoded and embedded like the library, kept private, reusable as a seed."""
