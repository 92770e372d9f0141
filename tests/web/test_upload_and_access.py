"""Uploads as seeds (progress, a clear message per bad file), the page at 360 px, keyboard-only use and an axe-core
scan of every page."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, expect

from tests.web.browser import EMBEDDED_STACK, make_playlist, shot, sign_up, tab_to

pytestmark = EMBEDDED_STACK


def test_an_upload_seeds_a_playlist_and_bad_files_are_explained(
    open_page: Any, base_url: str, small_corpus: Path, tmp_path: Path
) -> None:
    page, guard = open_page()
    sign_up(page, base_url, "Eve")
    page.goto(f"{base_url}/#/create")
    upload = page.get_by_label("Upload an audio file")
    alert = page.get_by_role("alert")
    notes = tmp_path / "notes.txt"
    notes.write_text("not a song")
    guard.expect(422, "/api/uploads")
    upload.set_input_files(str(notes))
    expect(alert).to_have_text("This file is not audio we can read. Try an MP3, OGG, FLAC, WAV or M4A file.")
    short = tmp_path / "blip.wav"
    sf.write(short, 0.3 * np.sin(np.linspace(0, 440 * 2 * np.pi * 0.5, 11025)), 22050)
    guard.expect(422, "/api/uploads")
    upload.set_input_files(str(short))
    expect(alert).to_have_text("This recording is too short: use at least a few seconds of music.")
    big = tmp_path / "big.wav"
    sf.write(big, np.zeros(22050 * 60, dtype=np.float32), 22050, subtype="FLOAT")  # 5 MiB, over the 2 MiB limit
    guard.expect(413, "/api/uploads")
    upload.set_input_files(str(big))
    expect(alert).to_have_text("This file is too large to upload. Try a shorter or more compressed version.")
    long = tmp_path / "drone.wav"
    # 901 s at 1 kHz, 8 bit: under the byte limit, over the 900 s one (the header says how long it is)
    sf.write(long, 0.5 * np.sin(np.arange(901_000) * 0.6), 1000, subtype="PCM_U8")
    guard.expect(413, "/api/uploads")
    upload.set_input_files(str(long))
    expect(alert).to_have_text("This recording is too long for a seed. Use a shorter excerpt and try again.")
    song = sorted(small_corpus.glob("fma_full/*/*.mp3"))[0]
    upload.set_input_files(str(song))
    expect(page.locator(".drop").get_by_role("status")).to_contain_text(f"{song.name} is ready as your seed")
    assert page.get_by_label("Upload progress").evaluate("p => p.value") == 1
    shot(page, "create-upload")
    page.get_by_role("button", name="Make my playlist").click()
    expect(page.get_by_text(re.compile(r"from your uploaded track"))).to_be_visible()
    assert page.get_by_role("list", name="Tracks").locator("li").count() == 20
    guard.assert_clean()


def _fits(page: Page) -> None:
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= 360, f"the page is {width} px wide at a 360 px viewport"


def test_every_page_fits_a_360_px_phone(open_page: Any, base_url: str) -> None:
    page, guard = open_page(viewport={"width": 360, "height": 740}, is_mobile=True, has_touch=True)
    page.goto(base_url + "/")
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    _fits(page)
    sign_up(page, base_url, "Fay")
    page.goto(f"{base_url}/#/create")
    expect(page.get_by_role("heading", name="Create a playlist")).to_be_visible()
    _fits(page)
    shot(page, "phone-create")
    make_playlist(page, base_url)
    _fits(page)
    shot(page, "phone-playlist")
    page.get_by_role("link", name="My profile").click()
    expect(page.get_by_role("heading", name="Fay (you)")).to_be_visible()
    _fits(page)
    shot(page, "phone-profile")
    guard.assert_clean()


def test_keyboard_only_sign_up_create_and_reorder(open_page: Any, base_url: str) -> None:
    page, guard = open_page()
    page.goto(f"{base_url}/#/signup")
    expect(page.get_by_role("heading", name="Create your account")).to_be_visible()
    tab_to(page, "Display name")
    page.keyboard.type("Gus")
    page.keyboard.press("Tab")
    page.keyboard.type("gus-keys@example.org")
    page.keyboard.press("Tab")
    page.keyboard.type("a long enough password")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Create a playlist")).to_be_focused()
    tab_to(page, "Add ")
    page.keyboard.press("Enter")
    expect(page.get_by_text("1 of up to 10 seeds chosen.")).to_be_visible()
    tab_to(page, "Make my playlist")
    page.keyboard.press("Enter")
    heading = page.get_by_role("heading", level=1)
    expect(heading).to_be_focused()
    tracks = page.get_by_role("list", name="Tracks").locator("li")
    first = tracks.first.get_attribute("data-track-id")
    first_title = tracks.first.locator(".title").inner_text().split(". ", 1)[1]
    tab_to(page, f"Move {first_title} down")
    page.keyboard.press("Enter")
    expect(tracks.nth(1)).to_have_attribute("data-track-id", first or "")
    # focus stays on the moved track's button, so the next Enter moves it again
    page.keyboard.press("Enter")
    expect(tracks.nth(2)).to_have_attribute("data-track-id", first or "")
    # the skip link is the first stop on every page
    page.goto(f"{base_url}/#/explore")
    expect(page.get_by_role("heading", name="Explore playlists")).to_be_visible()
    guard.reload(page)
    expect(page.get_by_role("heading", name="Explore playlists")).to_be_visible()
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    guard.assert_clean()


def _serious(page: Page) -> list[str]:
    results = Axe().run(page)
    return [
        f"{v['id']} ({v['impact']}): {[n['target'] for n in v['nodes']][:3]}"
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]


@pytest.mark.parametrize("reduced_motion", ["reduce"])
def test_axe_finds_no_serious_violations(open_page: Any, base_url: str, reduced_motion: str) -> None:
    page, guard = open_page(reduced_motion=reduced_motion)
    found: dict[str, list[str]] = {}
    page.goto(f"{base_url}/#/login")
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    found["login"] = _serious(page)
    sign_up(page, base_url, "Hal")
    for path, name in (("/#/", "home"), ("/#/create", "create"), ("/#/explore", "explore")):
        page.goto(base_url + path)
        expect(page.get_by_role("heading", level=1)).to_be_visible()
        page.wait_for_load_state("networkidle")
        found[name] = _serious(page)
    make_playlist(page, base_url)
    found["playlist"] = _serious(page)
    page.get_by_role("link", name="My profile").click()
    expect(page.get_by_role("heading", name="Hal (you)")).to_be_visible()
    found["profile"] = _serious(page)
    assert not any(found.values()), found
    assert page.evaluate("() => matchMedia('(prefers-reduced-motion: reduce)').matches")
    guard.assert_clean()
