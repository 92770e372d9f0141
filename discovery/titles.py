"""Normalised titles and artists, so that "Song (Live)", "Song - Remastered 2011" and "song [Radio Edit]" by
"The Band feat. X" count as versions of one recording."""

from __future__ import annotations

import re
import unicodedata

#: words that mark a bracketed or dash-separated part of a title as a version, not part of the name
VERSION_WORDS = (
    "live",
    "remaster",
    "remastered",
    "remix",
    "mix",
    "edit",
    "version",
    "demo",
    "acoustic",
    "unplugged",
    "mono",
    "stereo",
    "instrumental",
    "extended",
    "radio",
    "explicit",
    "deluxe",
    "bonus",
    "reprise",
    "session",
    "feat",
    "ft",
    "featuring",
)
_VERSION = re.compile(r"\b(?:" + "|".join(VERSION_WORDS) + r")\b")
_BRACKETED = re.compile(r"[\(\[\{]([^\)\]\}]*)[\)\]\}]")
_DASH_TAIL = re.compile(r"\s+[-–—/]\s+(.*)$")
_FEATURING = re.compile(r"\s+(?:feat\.?|ft\.?|featuring)\s+.*$")
_NON_WORD = re.compile(r"[^0-9a-z]+")


def _fold(text: str) -> str:
    """Lower case without accents or punctuation, single spaces."""
    decomposed = unicodedata.normalize("NFKD", text)
    ascii_text = "".join(c for c in decomposed if not unicodedata.combining(c)).lower()
    return _NON_WORD.sub(" ", ascii_text).strip()


def normalise_title(title: str) -> str:
    """The title without version marks: bracketed or dash-separated parts naming a version are removed."""
    text = unicodedata.normalize("NFKC", title).lower()
    text = _BRACKETED.sub(lambda m: " " if _VERSION.search(m.group(1)) else f" {m.group(1)} ", text)
    while (tail := _DASH_TAIL.search(text)) is not None and _VERSION.search(tail.group(1)):
        text = text[: tail.start()]
    text = _FEATURING.sub("", text)
    folded = _fold(text)
    return folded or _fold(title)


def normalise_artist(artist: str) -> str:
    """The main artist: featured artists and a leading "the" are dropped."""
    text = _FEATURING.sub("", unicodedata.normalize("NFKC", artist).lower())
    folded = _fold(text)
    return folded.removeprefix("the ") or _fold(artist)


def version_key(title: str, artist: str) -> str:
    """One key per recording: two tracks with the same key are versions of each other ('' when untitled)."""
    name = normalise_title(title)
    return f"{normalise_artist(artist)}\x1f{name}" if name else ""
