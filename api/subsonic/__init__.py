"""The OpenSubsonic facade under `/rest`: sonicSimilarity for music-server clients, API-key auth only."""
