"""Library tracks: detail and listing."""
