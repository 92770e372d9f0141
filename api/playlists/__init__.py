"""Playlists: generation from seed tracks, storage, retrieval."""
