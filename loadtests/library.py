"""What the simulated users know and send, free of Locust imports: catalog words for searches and track ids for
seeds (read once per Locust process from `GET /api/tracks`), the generated WAV that uploads send, and how long a
`Retry-After` asks to wait."""

from __future__ import annotations

import io
import math
import random
import re
import struct
import wave
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

#: catalog pages read at set-up (the page size is the API's largest)
PAGE_SIZE = 500
MAX_PAGES = 4
_WORD = re.compile(r"[^\W_]{2,}", re.UNICODE)


@dataclass
class Library:
    """Search words (with how often the catalog uses them), library track ids and top-level genres."""

    words: Counter[str] = field(default_factory=Counter)
    track_ids: list[int] = field(default_factory=list)
    genres: list[str] = field(default_factory=list)

    def add_tracks(self, items: Iterable[dict[str, Any]]) -> None:
        """Learn the words of each track's title, artist and album, its id and its genre."""
        genres = set(self.genres)
        for item in items:
            self.track_ids.append(int(item["track_id"]))
            for text in (item.get("title"), item.get("artist"), item.get("album")):
                if text:
                    self.words.update(w.lower() for w in _WORD.findall(str(text)))
            if item.get("genre_top"):
                genres.add(str(item["genre_top"]))
        self.genres = sorted(genres)

    def search_terms(self, rng: random.Random) -> str:
        """A query of one word (sometimes two), drawn by catalog frequency: common words come up often."""
        if not self.words:
            return "the"
        words, counts = zip(*self.words.items(), strict=True)
        n = 2 if rng.random() < 0.2 else 1
        return " ".join(rng.choices(words, weights=counts, k=n))

    def seeds(self, rng: random.Random, low: int = 1, high: int = 3) -> list[int]:
        """`low`..`high` distinct library track ids for a playlist seed."""
        k = min(len(self.track_ids), rng.randint(low, high))
        return rng.sample(self.track_ids, k)


def sine_wav(seconds: float, sample_rate: int = 22_050, seed: int = 0) -> bytes:
    """A mono 16-bit WAV of a few sine partials (a short, valid audio clip to upload)."""
    rng = random.Random(seed)
    partials = [(rng.uniform(110, 880), rng.uniform(0.1, 0.3)) for _ in range(3)]
    n = max(1, int(seconds * sample_rate))
    frames = bytearray()
    for i in range(n):
        t = i / sample_rate
        value = sum(a * math.sin(2 * math.pi * f * t) for f, a in partials)
        frames += struct.pack("<h", int(max(-1.0, min(1.0, value)) * 32767))
    buf = io.BytesIO()
    with wave.open(buf, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(sample_rate)
        out.writeframes(bytes(frames))
    return buf.getvalue()


def multipart_file(field_name: str, filename: str, content: bytes, content_type: str) -> tuple[bytes, str]:
    """A multipart/form-data body holding one file, and its Content-Type header."""
    boundary = f"museed-loadtest-{random.getrandbits(64):016x}"
    head = (
        f"--{boundary}\r\n"
        f'Content-Disposition: form-data; name="{field_name}"; filename="{filename}"\r\n'
        f"Content-Type: {content_type}\r\n\r\n"
    ).encode()
    return head + content + f"\r\n--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def retry_after_seconds(value: str | None, cap: float = 60.0) -> float:
    """The delay a `Retry-After` header asks for (seconds form; 1 s when absent or unreadable), capped."""
    try:
        seconds = float(value) if value is not None else 1.0
    except ValueError:
        seconds = 1.0
    return max(0.0, min(cap, seconds))
