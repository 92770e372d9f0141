"""The Subsonic response envelope (`subsonic-response`, JSON or XML), the error codes, and a library track as a
Subsonic `Child`.

Subsonic answers every call with HTTP 200 and `status="ok"` or `status="failed"` plus an `error` element; that
holds under `/rest/*` only (everywhere else MUSEED answers problem+json)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Final
from xml.etree import ElementTree as ET

from fastapi.responses import Response

from api.db.models import Track
from api.tracks.service import AUDIO_MEDIA_TYPES

#: the Subsonic REST protocol version MUSEED speaks, and what it calls itself
API_VERSION: Final = "1.16.1"
SERVER_TYPE: Final = "MUSEED"
SERVER_VERSION: Final = "0.1.0"
XML_NS: Final = "http://subsonic.org/restapi"

# the Subsonic / OpenSubsonic error codes MUSEED answers
GENERIC: Final = 0
MISSING_PARAMETER: Final = 10
AUTH_NOT_SUPPORTED: Final = 42
CONFLICTING_AUTH: Final = 43
INVALID_API_KEY: Final = 44
NOT_AUTHORIZED: Final = 50
NOT_FOUND: Final = 70
ERROR_CODES: Final = frozenset(
    {GENERIC, MISSING_PARAMETER, AUTH_NOT_SUPPORTED, CONFLICTING_AUTH, INVALID_API_KEY, NOT_AUTHORIZED, NOT_FOUND}
)

#: what `getOpenSubsonicExtensions` lists (name, versions): only what this facade implements
EXTENSIONS: Final = (("apiKeyAuthentication", [1]), ("sonicSimilarity", [1]), ("formPost", [1]))
FORMATS: Final = ("xml", "json")


def similarity01(cosine: float) -> float:
    """A cosine similarity (-1..1) as the sonicSimilarity extension's normalised score: 1.0 the same sound,
    0.0 the most different, (1 + cosine) / 2 (monotonic, so the order is the cosine's)."""
    return round(min(1.0, max(0.0, (1.0 + float(cosine)) / 2.0)), 6)


def child(track: Track) -> dict[str, Any]:
    """A library track as a Subsonic `Child` (ids are strings: the library track id, artist id, album id)."""
    suffix = Path(track.audio_path).suffix.lower() if track.audio_path else ""
    fields: dict[str, Any] = {
        "id": str(track.track_id),
        "parent": str(track.album_id) if track.album_id is not None else None,
        "isDir": False,
        "title": track.title,
        "album": track.album_title,
        "artist": track.artist.name,
        "genre": track.genre_top,
        "duration": round(track.duration_seconds) if track.duration_seconds else None,
        "suffix": suffix.lstrip(".") or None,
        "contentType": AUDIO_MEDIA_TYPES.get(suffix),
        "isVideo": False,
        "albumId": str(track.album_id) if track.album_id is not None else None,
        "artistId": str(track.artist_id),
        "type": "music",
        "mediaType": "song",
    }
    return {k: v for k, v in fields.items() if v is not None}


def sonic_matches(scored: list[tuple[Track, float]]) -> dict[str, Any]:
    """The sonicSimilarity payload: `sonicMatch`, each an `entry` (Child) and its `similarity` (0..1)."""
    return {"sonicMatch": [{"entry": child(t), "similarity": similarity01(c)} for t, c in scored]}


def envelope(status: str, payload: dict[str, Any]) -> dict[str, Any]:
    """The `subsonic-response` body."""
    return {
        "status": status,
        "version": API_VERSION,
        "type": SERVER_TYPE,
        "serverVersion": SERVER_VERSION,
        "openSubsonic": True,
        **payload,
    }


def error_payload(code: int, message: str, help_url: str | None = None) -> dict[str, Any]:
    """The `error` element of a failed answer."""
    error: dict[str, Any] = {"code": code, "message": message}
    if help_url:
        error["helpUrl"] = help_url
    return {"error": error}


def _xml_value(value: Any) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def _xml(parent: ET.Element, name: str, value: Any) -> None:
    """Subsonic's XML mapping of the JSON shape: scalars are attributes, objects are child elements, lists repeat
    the element (a list of scalars as elements with text)."""
    if isinstance(value, list):
        for item in value:
            if isinstance(item, dict):
                _xml(parent, name, item)
            else:
                ET.SubElement(parent, name).text = _xml_value(item)
    elif isinstance(value, dict):
        el = ET.SubElement(parent, name)
        for k, v in value.items():
            if isinstance(v, dict | list):
                _xml(el, k, v)
            else:
                el.set(k, _xml_value(v))
    else:
        parent.set(name, _xml_value(value))


def render(body: dict[str, Any], fmt: str, headers: dict[str, str] | None = None) -> Response:
    """`body` (the envelope) as `f=json` (`{"subsonic-response": ...}`) or XML (Subsonic's default), HTTP 200."""
    if fmt == "json":
        content = json.dumps({"subsonic-response": body}, ensure_ascii=False)
        return Response(content, media_type="application/json", headers=headers)
    # the namespace as a plain attribute: ET.register_namespace is process-wide, shared with other XML writers
    root = ET.Element("subsonic-response", xmlns=XML_NS)
    for k, v in body.items():
        if isinstance(v, dict | list):
            _xml(root, k, v)
        else:
            root.set(k, _xml_value(v))
    xml = '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode")
    return Response(xml, media_type="application/xml", headers=headers)
