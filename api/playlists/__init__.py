"""Playlists: generation from seed tracks, storage, retrieval, and the listeners' stored tastes they feed."""
