"""Playlist export formats: extended M3U and XSPF (both point at the API's audio stream of each track)."""

from __future__ import annotations

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
    ET.register_namespace("", XSPF_NS)
    root = ET.Element(f"{{{XSPF_NS}}}playlist", version="1")
    ET.SubElement(root, f"{{{XSPF_NS}}}title").text = playlist.title
    ET.SubElement(root, f"{{{XSPF_NS}}}location").text = f"{base_url}/api/playlists/{playlist.id}"
    tracks = ET.SubElement(root, f"{{{XSPF_NS}}}trackList")
    for t in playlist.tracks:
        el = ET.SubElement(tracks, f"{{{XSPF_NS}}}track")
        ET.SubElement(el, f"{{{XSPF_NS}}}location").text = f"{base_url}/api/tracks/{t.track_id}/audio"
        ET.SubElement(el, f"{{{XSPF_NS}}}identifier").text = f"{base_url}/api/tracks/{t.track_id}"
        ET.SubElement(el, f"{{{XSPF_NS}}}title").text = t.title
        ET.SubElement(el, f"{{{XSPF_NS}}}creator").text = t.artist
        if t.album:
            ET.SubElement(el, f"{{{XSPF_NS}}}album").text = t.album
        if t.duration_seconds:
            ET.SubElement(el, f"{{{XSPF_NS}}}duration").text = str(int(t.duration_seconds * 1000))
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
