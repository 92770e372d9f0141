"""The label prompts of the MuQ-MuLan zero-shot tagger: several phrasings per label of every axis.

Their text vectors are averaged per label (prompt ensembling, `tagging.zeroshot.label_text_vectors`). The same
texts are the vocabulary of the small offline MuLan's tokenizer: pass `all_prompt_texts()` to
`embedding.mulan.build_small_mulan`.
"""

from __future__ import annotations

from typing import Final

#: several phrasings per label; their text vectors are averaged (prompt ensembling)
PROMPTS: Final[dict[str, dict[str, tuple[str, ...]]]] = {
    "affect.energy": {
        "high": (
            "a loud, energetic, intense track with dense drums",
            "high energy music, powerful and fast",
            "an upbeat, driving, loud song full of activity",
        ),
        "medium": (
            "a moderately energetic track at a medium level",
            "music with moderate energy, neither calm nor intense",
            "a mid-tempo song with a relaxed groove",
        ),
        "low": (
            "a quiet, calm, low energy track",
            "soft, gentle and sparse music",
            "a slow, peaceful, subdued piece",
        ),
    },
    "affect.valence": {
        "positive": (
            "a happy, cheerful song in a major key",
            "bright, joyful and uplifting music",
            "a positive, optimistic and warm track",
        ),
        "negative": (
            "a sad, dark song in a minor key",
            "gloomy, melancholic and tense music",
            "a negative, sorrowful and brooding track",
        ),
    },
    "instrumentation.source": {
        "acoustic": (
            "acoustic instruments played by musicians: guitar, piano, strings, flute, drums",
            "an acoustic recording of real instruments in a room",
            "unplugged, natural, organic instrumental sound",
        ),
        "electronic": (
            "electronic music made with synthesizers and a drum machine",
            "synthetic sounds, sawtooth synth leads and programmed beats",
            "a track produced on computers with electronic instruments",
        ),
    },
    "mood_style": {
        "dreamy": (
            "dreamy, ethereal music with long reverb and legato pads",
            "a floating, hazy, atmospheric track with slow swells",
            "wide lush chords washing in a reverberant space",
        ),
        "driving": (
            "driving music with a steady straight pulse and strong downbeats",
            "a relentless staccato ostinato pushing forward",
            "a propulsive, insistent groove on every beat",
        ),
        "playful": (
            "playful, bouncy music with syncopated short notes",
            "a light, whimsical tune in a high register with skips",
            "a cheeky, jumpy, fun melody",
        ),
        "somber": (
            "somber music in a low register, sparse and slow",
            "a grave, mournful piece with slow descending lines",
            "dark, heavy and solemn low notes",
        ),
    },
}


def all_prompt_texts() -> list[str]:
    """Every prompt text (the vocabulary of the small offline MuLan's tokenizer is trained on these)."""
    return [p for labels in PROMPTS.values() for prompts in labels.values() for p in prompts]
