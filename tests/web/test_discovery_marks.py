"""A listener's marks in a real browser: a kept track survives refreshes while every other track is new, a fork of
someone else's public playlist becomes a private copy of mine, a blocked artist leaves at the next refresh (even
a kept track of theirs), and the profile's blocklist panel lifts blocks and heard marks; by keyboard, at 360 px,
with no serious axe-core violation."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from playwright.sync_api import Locator, Page, expect

from tests.web.browser import EMBEDDED_STACK, shot, sign_up
from tests.web.test_upload_and_access import _serious

pytestmark = EMBEDDED_STACK

ADD_SEED = re.compile(r"^Add .+ as a seed$")
NARROW = {"width": 360, "height": 800}


def _playlist(page: Page, base: str, size: int = 5) -> str:
    """A playlist of `size` tracks from the first library seed offered; returns its id."""
    page.goto(f"{base}/#/create")
    page.get_by_role("button", name=ADD_SEED).first.click()
    page.get_by_label("Number of tracks").fill(str(size))
    page.get_by_role("button", name="Make my playlist").click()
    expect(_tracks(page)).to_have_count(size)
    return page.url.rsplit("/", 1)[-1]


def _tracks(page: Page) -> Locator:
    return page.get_by_role("list", name="Tracks").locator("li")


def _ids(page: Page) -> list[str]:
    ids: list[str] = _tracks(page).evaluate_all("items => items.map(li => li.dataset.trackId)")
    return ids


def _title(item: Locator) -> str:
    return item.locator(".title").inner_text().split(". ", 1)[1]


def _artist(item: Locator) -> str:
    return str(item.locator('[data-mark="artist"]').get_attribute("aria-label")).removeprefix("Block artist ")


def _open_marks(item: Locator, page: Page) -> None:
    """Unfold a track's "Heard or block" buttons by keyboard."""
    item.locator("summary").focus()
    page.keyboard.press("Enter")
    expect(item.locator("details")).to_have_attribute("open", "")


def _fits(page: Page) -> None:
    """Nothing wider than the viewport (no sideways scrolling at 360 px)."""
    width = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1], width


def _refresh(page: Page) -> None:
    page.get_by_role("button", name="Refresh from recipe").click()
    expect(page.get_by_role("status")).to_have_text("Refreshed from its recipe.")


def test_a_kept_track_survives_refreshes_and_every_other_track_is_new(open_page: Any, base_url: str) -> None:
    page, guard = open_page()
    sign_up(page, base_url, "Kim")
    _playlist(page, base_url)
    before = _ids(page)
    title = _title(_tracks(page).nth(1))
    keep = page.get_by_role("button", name=f"Keep {title}", exact=True)
    expect(keep).to_have_attribute("aria-pressed", "false")
    keep.focus()
    page.keyboard.press("Enter")
    expect(keep).to_have_attribute("aria-pressed", "true")
    expect(keep).to_be_focused()
    expect(_tracks(page).nth(1).locator(".flags")).to_have_text("Kept")
    expect(page.get_by_role("status")).to_have_text(f"{title} is kept: a refresh leaves it in place.")

    _refresh(page)
    expect(page.get_by_text(re.compile(r"^4 new tracks and 1 kept\."))).to_be_visible()
    first = _ids(page)
    assert first[0] == before[1] and len(first) == 5, (before, first)
    assert not set(first[1:]) & set(before), (before, first)
    expect(page.get_by_role("button", name=f"Keep {title}", exact=True)).to_have_attribute("aria-pressed", "true")
    shot(page, "playlist-kept")
    # the keep mark is the API's (tracks[].kept), not the page's memory: it survives a reload and a second refresh
    guard.reload(page)
    expect(page.get_by_role("button", name=f"Keep {title}", exact=True)).to_have_attribute("aria-pressed", "true")
    _refresh(page)
    second = _ids(page)
    assert second[0] == before[1] and not set(second[1:]) & (set(before) | set(first)), (before, first, second)

    # no longer kept: the next refresh replaces it too
    page.get_by_role("button", name=f"Keep {title}", exact=True).click()
    expect(page.get_by_role("status")).to_have_text(f"{title} is no longer kept: the next refresh replaces it.")
    _refresh(page)
    expect(page.get_by_text(re.compile(r"^5 new tracks and 0 kept\."))).to_be_visible()
    assert before[1] not in _ids(page)

    # JSPF beside M3U and XSPF, the tracks as they are now
    with page.expect_download() as jspf:
        page.get_by_role("button", name="Export JSPF").click()
    tracks = json.loads(Path(jspf.value.path()).read_text())["playlist"]["track"]
    assert [t["identifier"][0].rsplit("/", 1)[1] for t in tracks] == _ids(page)
    guard.assert_clean()


def test_a_fork_of_a_public_playlist_is_a_private_copy_in_my_playlists(open_page: Any, base_url: str) -> None:
    page, guard = open_page()
    sign_up(page, base_url, "Lou")
    source_id = _playlist(page, base_url)
    page.get_by_role("button", name="Publish").click()
    expect(page.get_by_role("button", name="Make private")).to_be_visible()
    title = page.get_by_role("heading", level=1).inner_text()
    source_tracks = _ids(page)
    expect(page.get_by_role("button", name="Fork", exact=True)).to_have_count(0)  # not one's own, from here

    other, other_guard = open_page()
    sign_up(other, base_url, "Max")
    other.goto(f"{base_url}/#/playlist/{source_id}")
    expect(_tracks(other)).to_have_count(5)
    # a visitor marks and blocks for their own playlists, but keeps nothing in someone else's
    expect(other.get_by_role("button", name=re.compile(r"^Keep "))).to_have_count(0)
    expect(other.locator('.tracks [data-mark="artist"]')).to_have_count(5)
    heard_title = _title(_tracks(other).first)
    _open_marks(_tracks(other).first, other)
    heard = other.get_by_role("button", name=f"Mark heard: {heard_title}", exact=True)
    heard.click()
    expect(heard).to_have_attribute("aria-pressed", "true")
    expect(_tracks(other).first.locator(".flags")).to_have_text("Heard")
    expect(other.get_by_role("main")).not_to_contain_text("null")

    other.get_by_role("button", name="Fork", exact=True).click()
    expect(other.get_by_role("status")).to_have_text(
        "Forked: this copy is yours and private. Refresh it to follow your own taste."
    )
    expect(other).not_to_have_url(re.compile(rf"/playlist/{source_id}$"))
    expect(other.get_by_role("heading", level=1)).to_have_text(title)
    expect(other.get_by_text(re.compile(r"^5 tracks · Private"))).to_be_visible()
    lineage = other.get_by_role("link", name=title, exact=True)
    expect(lineage).to_have_attribute("href", f"#/playlist/{source_id}")
    expect(other.locator(".lineage")).to_have_text(f"Forked from {title}")
    assert _ids(other) == source_tracks
    # now the owner: keep marks and the owner's tools
    expect(other.get_by_role("button", name=re.compile(r"^Keep "))).to_have_count(5)
    expect(other.get_by_role("button", name="Publish")).to_be_visible()
    fork_id = other.url.rsplit("/", 1)[-1]
    shot(other, "playlist-fork")

    other.get_by_role("link", name="My profile").click()
    mine = other.get_by_role("region", name="My playlists")
    expect(mine.get_by_role("link", name=title, exact=True)).to_have_attribute("href", f"#/playlist/{fork_id}")
    expect(other.get_by_role("list", name="Tracks marked heard")).to_contain_text(heard_title)
    # the link back leads to the source
    other.goto(f"{base_url}/#/playlist/{fork_id}")
    expect(other.locator(".lineage")).to_have_text(f"Forked from {title}")
    other.locator(".lineage").get_by_role("link", name=title, exact=True).click()
    expect(other).to_have_url(re.compile(rf"/playlist/{source_id}$"))
    expect(other.get_by_role("button", name="Fork", exact=True)).to_be_visible()
    other_guard.assert_clean()
    guard.assert_clean()


def test_a_blocked_artist_leaves_at_the_next_refresh_even_when_kept(open_page: Any, base_url: str) -> None:
    page, guard = open_page()
    sign_up(page, base_url, "Nia")
    _playlist(page, base_url)
    first = _tracks(page).first
    artist_id = first.get_attribute("data-artist-id")
    artist, title = _artist(first), _title(first)
    page.get_by_role("button", name=f"Keep {title}", exact=True).click()
    expect(page.get_by_role("button", name=f"Keep {title}", exact=True)).to_have_attribute("aria-pressed", "true")
    _open_marks(first, page)
    first.get_by_role("button", name=f"Block artist {artist}", exact=True).click()
    expect(page.get_by_role("status")).to_have_text(
        f"{artist} blocked: your playlists leave their tracks out from their next refresh."
    )
    theirs = page.locator(f'.tracks li[data-artist-id="{artist_id}"]')
    for i in range(theirs.count()):  # every track of the artist shows it, not only the one clicked
        expect(theirs.nth(i).locator('[data-mark="artist"]')).to_have_attribute("aria-pressed", "true")
        expect(theirs.nth(i).locator(".flags")).to_contain_text("Artist blocked (it leaves at the next refresh)")

    _refresh(page)
    # the block beats the keep mark: nothing kept, nothing by the artist
    expect(page.get_by_text(re.compile(r"^5 new tracks and 0 kept\."))).to_be_visible()
    expect(theirs).to_have_count(0)
    _refresh(page)
    expect(theirs).to_have_count(0)
    guard.assert_clean()


def test_the_blocklist_panel_lists_and_lifts_blocks_by_keyboard_at_360_px(open_page: Any, base_url: str) -> None:
    page, guard = open_page(viewport=NARROW)
    sign_up(page, base_url, "Oto")
    playlist_id = _playlist(page, base_url)
    _fits(page)
    first, second, third = (_tracks(page).nth(i) for i in range(3))
    artist, track, heard = _artist(first), _title(second), _title(third)
    for item, name in (
        (first, f"Block artist {artist}"),
        (second, f"Block track {track}"),
        (third, f"Mark heard: {heard}"),
    ):
        _open_marks(item, page)
        button = item.get_by_role("button", name=name, exact=True)
        button.focus()
        page.keyboard.press("Enter")
        expect(button).to_have_attribute("aria-pressed", "true")
    shot(page, "playlist-marks-360")
    assert not _serious(page)  # axe-core: pressed toggles, flags and the marks groups
    expect(page.get_by_role("main")).not_to_contain_text("null")

    page.get_by_role("link", name="My profile").click()
    panel = page.get_by_role("region", name="Blocked artists and tracks")
    expect(panel.get_by_role("list", name="Blocked artists")).to_have_text(re.compile(rf"^{re.escape(artist)}"))
    expect(panel.get_by_role("list", name="Blocked tracks")).to_contain_text(track)
    expect(page.get_by_role("list", name="Tracks marked heard")).to_contain_text(heard)
    _fits(page)
    shot(page, "profile-blocklist-360")
    assert not _serious(page)

    unblock = panel.get_by_role("button", name=f"Unblock {artist}", exact=True)
    unblock.focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("status")).to_have_text(
        f"{artist} unblocked: their tracks can come back in your playlists."
    )
    expect(panel.get_by_text("No artist blocked.")).to_be_visible()
    expect(panel.get_by_role("heading", name="Blocked artists and tracks")).to_be_focused()
    panel.get_by_role("button", name=f"Unblock {track}", exact=True).click()
    expect(panel.get_by_text("No track blocked.")).to_be_visible()
    page.get_by_role("button", name=f"Unmark heard {heard}", exact=True).click()
    expect(page.get_by_text("No track marked heard.")).to_be_visible()

    # lifted in the API, not only on the page
    guard.reload(page)
    expect(panel.get_by_text("No artist blocked.")).to_be_visible()
    expect(panel.get_by_text("No track blocked.")).to_be_visible()
    expect(page.get_by_text("No track marked heard.")).to_be_visible()
    page.goto(f"{base_url}/#/playlist/{playlist_id}")
    expect(_tracks(page)).to_have_count(5)
    for mark in ("artist", "track", "heard"):
        expect(page.locator(f'.tracks [data-mark="{mark}"][aria-pressed="true"]')).to_have_count(0)
    expect(page.locator('.tracks [data-mark="keep"]')).to_have_count(5)
    guard.assert_clean()
