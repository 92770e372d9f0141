"""Playlist export formats: extended M3U, XSPF and JSPF (XSPF as JSON); each points at the API's audio stream of
each track."""

from __future__ import annotations

from typing import Any
from xml.etree import ElementTree as ET

from api.playlists.schemas import PlaylistOut

XSPF_NS = "http://xspf.org/ns/0/"


def _clean(text: str) -> str:
    """One line of M3U text: no line breaks inside a field."""
    return " ".join(text.split())


def to_m3u(playlist: PlaylistOut, base_url: str) -> str:
    """Extended M3U: `#EXTINF:<seconds>,<artist> - <title>` then the track's stream URL."""
    lines = ["#EXTM3U", f"#PLAYLIST:{_clean(playlist.title)}"]
    for t in playlist.tracks:
        seconds = round(t.duration_seconds) if t.duration_seconds else -1
        lines.append(f"#EXTINF:{seconds},{_clean(t.artist)} - {_clean(t.title)}")
        lines.append(f"{base_url}/api/tracks/{t.track_id}/audio")
    return "\n".join(lines) + "\n"


def to_xspf(playlist: PlaylistOut, base_url: str) -> str:
    """XSPF 1 (XML Shareable Playlist Format)."""
    # the namespace as a plain attribute: ET.register_namespace is process-wide (other XML writers share it)
    root = ET.Element("playlist", xmlns=XSPF_NS, version="1")
    ET.SubElement(root, "title").text = playlist.title
    ET.SubElement(root, "location").text = f"{base_url}/api/playlists/{playlist.id}"
    tracks = ET.SubElement(root, "trackList")
    for t in playlist.tracks:
        el = ET.SubElement(tracks, "track")
        ET.SubElement(el, "location").text = f"{base_url}/api/tracks/{t.track_id}/audio"
        ET.SubElement(el, "identifier").text = f"{base_url}/api/tracks/{t.track_id}"
        ET.SubElement(el, "title").text = t.title
        ET.SubElement(el, "creator").text = t.artist
        if t.album:
            ET.SubElement(el, "album").text = t.album
        if t.duration_seconds:
            ET.SubElement(el, "duration").text = str(int(t.duration_seconds * 1000))
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def to_jspf(playlist: PlaylistOut, base_url: str) -> dict[str, Any]:
    """JSPF (XSPF in JSON, the XiphWiki JSPF draft; what ListenBrainz imports): the XSPF fields, with a track's
    `location` and `identifier` as arrays of URIs, `duration` in milliseconds and `trackNum` its 1-based
    position; MUSEED's similarity and "why" per track under the `extension` key `{base_url}/jspf/track`."""
    tracks: list[dict[str, Any]] = []
    for i, t in enumerate(playlist.tracks, start=1):
        track: dict[str, Any] = {
            "location": [f"{base_url}/api/tracks/{t.track_id}/audio"],
            "identifier": [f"{base_url}/api/tracks/{t.track_id}"],
            "title": t.title,
            "creator": t.artist,
            "trackNum": i,
        }
        if t.album:
            track["album"] = t.album
        if t.duration_seconds:
            track["duration"] = int(t.duration_seconds * 1000)
        track["extension"] = {f"{base_url}/jspf/track": [{"score": t.score, "why": t.why}]}
        tracks.append(track)
    return {
        "playlist": {
            "title": playlist.title,
            "identifier": f"{base_url}/api/playlists/{playlist.id}",
            "location": f"{base_url}/api/playlists/{playlist.id}",
            "date": playlist.created_at.isoformat(),
            "track": tracks,
        }
    }
