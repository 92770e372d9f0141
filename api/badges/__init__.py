"""Badges (rules over a user's activity, awarded idempotently), the genre mix and the genre avatar."""
