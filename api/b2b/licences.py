"""Which FMA track licences allow commercial use: the `commercial_use` filter of `/v1` recommendations.

FMA stores each track's licence as the title of a Creative Commons (or other) licence, e.g. "Attribution 3.0
International" or "Attribution-NonCommercial-ShareAlike 3.0 International". A licence allows commercial use when
it is a known Creative Commons family without the NonCommercial element (BY, BY-SA, BY-ND, CC0 / public
domain); anything else (NC in any spelling, FMA's own "Sampling+" or "FMA-Limited" terms, an empty or unknown
string) is treated as not allowing it: the filter errs on the side of leaving a track out."""

from __future__ import annotations

import re

_NON_COMMERCIAL = re.compile(r"non[\s-]?commercial|\bby-nc\b|\bnc\b", re.IGNORECASE)
# the Creative Commons families that permit commercial use, as FMA titles (and their short forms) spell them
_COMMERCIAL_FAMILIES = re.compile(
    r"^(creative commons )?(attribution|cc[\s-]by)\b|creative commons zero|\bcc0\b|public domain",
    re.IGNORECASE,
)


def allows_commercial_use(licence: str | None) -> bool:
    """True when `licence` is a known Creative Commons licence without NonCommercial (or CC0/public domain)."""
    if not licence or not licence.strip():
        return False
    text = licence.strip()
    if _NON_COMMERCIAL.search(text):
        return False
    return bool(_COMMERCIAL_FAMILIES.search(text))
