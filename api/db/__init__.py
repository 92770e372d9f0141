"""Database models, engine/session handling and catalog loading."""
