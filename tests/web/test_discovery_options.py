"""The create form's "More options" in a real browser: the discovery engine's choices and defaults are the API's,
a fair-share blend of two weighted seeds with a "less like this" seed in smooth order, and a threshold playlist
that comes out short and says why."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import Page, Request, Response, expect

from api.playlists.schemas import PlaylistCreate
from tests.web.browser import EMBEDDED_STACK, shot, sign_up

pytestmark = EMBEDDED_STACK

#: the request fields "More options" sends, each with the default the page starts from
OPTION_FIELDS = (
    "max_per_album",
    "min_artist_gap",
    "exclude_track_ids",
    "exclude_alternate_versions",
    "blend",
    "negative_weight",
    "mode",
    "threshold",
    "hubness_correction",
    "flow",
)
ADD_SEED = re.compile(r"^Add .+ as a seed$")
SHORT = "This playlist is shorter than you asked for."


def _is_create(r: Request | Response) -> bool:
    request = r if isinstance(r, Request) else r.request
    return request.method == "POST" and request.url.endswith("/api/playlists")


def _open_more_options(page: Page) -> None:
    page.get_by_text("More options", exact=True).click()
    expect(page.get_by_label("Seed blend")).to_be_visible()


def test_more_options_offer_the_api_choices_and_defaults(open_page: Any, base_url: str) -> None:
    page, guard = open_page()
    sign_up(page, base_url, "Opal")
    page.goto(f"{base_url}/#/create")
    schema = PlaylistCreate.model_json_schema()["properties"]
    # the page's defaults are the schema's: a drift on either side fails here
    defaults = page.evaluate("import('/web/js/options.js').then(m => m.DISCOVERY_DEFAULTS)")
    assert defaults == {k: PlaylistCreate.model_fields[k].get_default(call_default_factory=True) for k in OPTION_FIELDS}
    _open_more_options(page)
    for label, key in (("Seed blend", "blend"), ("Which tracks", "mode"), ("Order", "flow")):
        control = page.get_by_label(label)
        offered = control.locator("option").evaluate_all("os => os.map(o => o.value)")
        assert offered == schema[key]["enum"], (key, offered)
        expect(control).to_have_value(schema[key]["default"])
    expect(page.get_by_label("Gap between one artist's tracks")).to_have_value(str(schema["min_artist_gap"]["default"]))
    expect(page.get_by_label("Tracks per album")).to_have_value("")
    expect(page.get_by_label("Lowest match score")).to_be_hidden()
    # untouched, the options go out as the defaults
    page.get_by_role("button", name=ADD_SEED).first.click()
    page.get_by_label("Number of tracks").fill("5")
    with page.expect_request(_is_create) as sent:
        page.get_by_role("button", name="Make my playlist").click()
    body = sent.value.post_data_json
    assert {k: body.get(k) for k in OPTION_FIELDS} == defaults
    assert "seed_weights" not in body and body["negative_seed_track_ids"] == []
    page.get_by_role("list", name="Tracks").locator("li").first.wait_for()
    expect(page.get_by_text(SHORT)).to_be_hidden()
    guard.assert_clean()


def test_fair_share_of_two_weighted_seeds_less_like_a_third_in_smooth_order(open_page: Any, base_url: str) -> None:
    page, guard = open_page()
    sign_up(page, base_url, "Quin")
    page.goto(f"{base_url}/#/create")
    for _ in range(3):
        page.get_by_role("button", name=ADD_SEED).first.click()
    chosen = page.get_by_role("list", name="Chosen seeds").locator("li")
    expect(chosen).to_have_count(3)
    less = chosen.nth(2).get_by_role("button", name=re.compile(r"^Less like this"))
    less.click()
    expect(less).to_have_attribute("aria-pressed", "true")
    expect(page.get_by_text("2 of up to 10 seeds chosen. 1 “less like this”.")).to_be_visible()
    # a weight per seed (the negative seed has none); blank counts as 1
    weights = page.get_by_label(re.compile(r"^Weight of "))
    expect(weights).to_have_count(2)
    weights.first.fill("2")
    _open_more_options(page)
    page.get_by_label("Seed blend").select_option("fair_share")
    page.get_by_label("Order").select_option("smooth")
    page.get_by_label("Number of tracks").fill("8")
    shot(page, "create-more-options")
    with page.expect_request(_is_create) as sent, page.expect_response(_is_create) as answered:
        page.get_by_role("button", name="Make my playlist").click()
    body = sent.value.post_data_json
    assert (body["blend"], body["flow"], body["seed_weights"]) == ("fair_share", "smooth", [2, 1]), body
    assert len(body["seed_track_ids"]) == 2 and len(body["negative_seed_track_ids"]) == 1, body
    playlist = answered.value.json()
    assert playlist["recipe"]["blend"] == "fair_share" and playlist["recipe"]["flow"] == "smooth"
    tracks = page.get_by_role("list", name="Tracks").locator("li")
    expect(tracks).to_have_count(8)
    shown = tracks.evaluate_all("items => items.map(li => Number(li.dataset.trackId))")
    assert body["negative_seed_track_ids"][0] not in shown
    # with two seeds, each track says which one it answers
    expect(page.get_by_text(re.compile(r"closest to “")).first).to_be_visible()
    expect(page.get_by_text(SHORT)).to_be_hidden()
    guard.assert_clean()


def test_a_high_threshold_gives_a_short_playlist_that_says_why(open_page: Any, base_url: str) -> None:
    page, guard = open_page()
    sign_up(page, base_url, "Rhea")
    page.goto(f"{base_url}/#/create")
    # the best 20 for the first seed, to place the threshold between the third and the fourth score
    page.get_by_role("button", name=ADD_SEED).first.click()
    with page.expect_response(_is_create) as answered:
        page.get_by_role("button", name="Make my playlist").click()
    scores = sorted((t["score"] for t in answered.value.json()["tracks"]), reverse=True)
    assert len(scores) == 20 and scores[2] > scores[3], scores
    threshold = round((scores[2] + scores[3]) / 2, 6)
    page.get_by_role("list", name="Tracks").locator("li").first.wait_for()

    page.goto(f"{base_url}/#/create")
    page.get_by_role("button", name=ADD_SEED).first.click()
    page.get_by_label("Number of tracks").fill("10")
    _open_more_options(page)
    page.get_by_label("Which tracks").select_option("threshold")
    score = page.get_by_label("Lowest match score")
    expect(score).to_be_visible()
    # threshold mode needs a score: said before anything is sent
    page.get_by_role("button", name="Make my playlist").click()
    expect(page.get_by_role("alert")).to_have_text("Lowest match score: give a number from -1 to 1.")
    score.fill(str(threshold))
    with page.expect_response(_is_create) as made:
        page.get_by_role("button", name="Make my playlist").click()
    shortfall = made.value.json()["recipe"]["shortfall"]
    assert shortfall and "threshold" in shortfall, shortfall
    expect(page.get_by_role("list", name="Tracks").locator("li")).to_have_count(3)
    note = page.get_by_text(SHORT)
    expect(note).to_be_visible()
    expect(note).to_contain_text(shortfall[1:])
    shot(page, "playlist-shortfall")
    guard.assert_clean()
