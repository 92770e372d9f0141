"""Social: likes, saves (bookmarks), follows, public and following feeds."""
