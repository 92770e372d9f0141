// A playlist: players, score and "why"; for its owner rename, reorder (drag or buttons), remove, keep, publish,
// refresh and export; for everyone else like, save and fork; for every signed-in listener the heard and block
// marks on each track.

import { api, authHeader, currentUser } from "./api.js";
import { announce, displayName, errorBox, field, formatDuration, h } from "./dom.js";
import { loadMarks, plural } from "./marks.js";

const profile = (id) => api(`/api/users/${id}`);

/** Download an export through fetch (a private playlist needs the bearer token a plain link cannot send). */
async function download(playlist, ext, errors) {
  try {
    const resp = await fetch(`/api/playlists/${playlist.id}/export.${ext}`, { headers: await authHeader() });
    if (!resp.ok) throw Object.assign(new Error("export failed"), { status: resp.status });
    const url = URL.createObjectURL(await resp.blob());
    const a = h("a", { href: url, download: `${playlist.title}.${ext}` });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
    announce(`${ext.toUpperCase()} file downloaded.`);
  } catch (err) {
    errors.show(err);
  }
}

/** The marks a track can carry, each a toggle: [kind, button text, accessible name]. */
const MARK_BUTTONS = [
  ["keep", "Keep", (t) => `Keep ${t.title}`],
  ["heard", "Mark heard", (t) => `Mark heard: ${t.title}`],
  ["track", "Block track", (t) => `Block track ${t.title}`],
  ["artist", "Block artist", (t) => `Block artist ${t.artist}`],
];

function trackItem(t, index, count, owner, actions, signedIn) {
  const name = `${t.title} by ${t.artist}`;
  const tools = owner
    ? h("div", { class: "tools", role: "group", "aria-label": `Arrange ${t.title}` },
        h("button", { type: "button", class: "small", disabled: index === 0, "aria-label": `Move ${t.title} up`, onclick: () => actions.move(index, index - 1) }, "↑ Up"),
        h("button", { type: "button", class: "small", disabled: index === count - 1, "aria-label": `Move ${t.title} down`, onclick: () => actions.move(index, index + 1) }, "↓ Down"),
        h("button", { type: "button", class: "small", "aria-label": `Remove ${t.title}`, onclick: () => actions.remove(index) }, "Remove"))
    : null;
  // keep marks are the owner's (per playlist); heard and blocks are the viewer's own, for their playlists, and
  // fold away (the track stays as short as it was, so the list still fits a screen and drags without scrolling)
  const markButton = ([kind, text, label]) =>
    h("button", { type: "button", class: "small", "data-mark": kind, "aria-pressed": "false", "aria-label": label(t), onclick: () => actions.mark(kind, t) }, text);
  const marks = signedIn
    ? h("div", { class: "marks", role: "group", "aria-label": `Marks for ${t.title}` },
        owner ? markButton(MARK_BUTTONS[0]) : null,
        h("details", { class: "more-marks" },
          h("summary", {}, "Heard or block"),
          h("div", { class: "menu" }, ...MARK_BUTTONS.slice(1).map(markButton))))
    : null;
  const li = h(
    "li",
    { class: "track", draggable: owner ? "true" : null, "data-track-id": String(t.track_id), "data-artist-id": String(t.artist_id) },
    h("div", { class: "meta" },
      h("div", { class: "title" }, owner ? h("span", { class: "handle", "aria-hidden": "true", title: "Drag to reorder" }, "⠿ ") : null, `${index + 1}. ${t.title}`),
      h("div", {}, `${t.artist}${t.album ? ` · ${t.album}` : ""} · ${t.genre_top || "no genre"} · ${formatDuration(t.duration_seconds)}`),
      h("div", { class: "muted" }, h("span", { class: "score" }, `Match ${(t.score * 100).toFixed(0)}%`), t.why ? ` · Why: ${t.why}` : ""),
      h("div", { class: "flags" })),
    // beside the track, not under it: a drag that starts in the middle of the track starts on its text
    tools || marks ? h("div", { class: "side" }, tools, marks) : null,
    h("audio", { controls: true, preload: "none", src: `/api/tracks/${t.track_id}/audio`, "aria-label": `Play ${name}` }),
  );
  if (owner) {
    li.addEventListener("dragstart", (e) => {
      e.dataTransfer.setData("text/plain", String(index));
      e.dataTransfer.effectAllowed = "move";
      li.classList.add("dragging");
    });
    li.addEventListener("dragend", () => li.classList.remove("dragging"));
    li.addEventListener("dragover", (e) => {
      e.preventDefault();
      li.classList.add("drop-target");
    });
    li.addEventListener("dragleave", () => li.classList.remove("drop-target"));
    li.addEventListener("drop", (e) => {
      e.preventDefault();
      li.classList.remove("drop-target");
      const from = Number(e.dataTransfer.getData("text/plain"));
      if (!Number.isNaN(from) && from !== index) actions.move(from, index);
    });
  }
  return li;
}

/** "Forked from <the source's title>": the link at once, the title once read (a source made private since stays
 * unnamed: the link is all the fork knows). */
function forkedFrom(sourceId) {
  const link = h("a", { href: `#/playlist/${sourceId}` }, "the original playlist");
  api(`/api/playlists/${sourceId}`).then((source) => (link.textContent = source.title), () => {});
  return h("p", { class: "lineage" }, "Forked from ", link);
}

/** The playlist page. */
export async function playlistView(root, id) {
  let playlist = await api(`/api/playlists/${id}`);
  const me = currentUser();
  const owner = Boolean(me && playlist.owner_id === me.id);
  // the marks are an extra: when they cannot be read the playlist still shows, without its mark buttons
  const marks = me ? await loadMarks().catch(() => null) : null;
  const errors = errorBox();
  const heading = h("h1", {}, playlist.title);
  const summary = h("p", { class: "muted" });
  const shortfall = h("p", { class: "notice", id: "shortfall", hidden: true });
  const list = h("ol", { class: "tracks", "aria-label": "Tracks" });
  const ownerLine = h("p", {});
  // the refresh's outcome; a live region present from the start, so its new text is read out
  const refreshed = h("div", { "aria-live": "polite" });

  const seedText = () =>
    playlist.seed_upload_id ? "your uploaded track" : playlist.seed_tracks.map((s) => `${s.title} (${s.artist})`).join(", ");

  function render() {
    heading.textContent = playlist.title;
    summary.textContent = `${playlist.tracks.length} tracks · ${playlist.visibility === "public" ? "Public" : "Private"} · from ${seedText()}`;
    // the recipe's sentence when the rules left fewer tracks than asked for (null: the playlist is full)
    const short = playlist.recipe && playlist.recipe.shortfall;
    shortfall.hidden = !short;
    shortfall.textContent = short ? `This playlist is shorter than you asked for. ${short.charAt(0).toUpperCase()}${short.slice(1).replace(/\.?$/, ".")}` : "";
    list.replaceChildren(...playlist.tracks.map((t, i) => trackItem(t, i, playlist.tracks.length, owner, actions, Boolean(marks))));
    showMarks();
  }

  const marked = (kind, t) =>
    kind === "keep" ? t.kept : kind === "heard" ? marks.heard.has(t.track_id) : kind === "track" ? marks.tracks.has(t.track_id) : marks.artists.has(t.artist_id);

  /** Each track's toggles and flags from the marks as they are now (in place: the keyboard focus stays). */
  function showMarks() {
    if (!marks) return;
    for (const li of list.children) {
      const t = playlist.tracks.find((x) => String(x.track_id) === li.dataset.trackId);
      for (const button of li.querySelectorAll("[data-mark]")) button.setAttribute("aria-pressed", String(marked(button.dataset.mark, t)));
      const flags = [];
      if (owner && t.kept) flags.push("Kept");
      if (marked("heard", t)) flags.push("Heard");
      if (marked("track", t)) flags.push("Track blocked");
      if (marked("artist", t)) flags.push("Artist blocked");
      const blocked = marked("track", t) || marked("artist", t);
      const note = blocked ? (owner ? " (it leaves at the next refresh)" : " (kept out of your playlists)") : "";
      li.querySelector(".flags").textContent = flags.length ? `${flags.join(" · ")}${note}` : "";
    }
  }

  /** What a refresh brought: new tracks, kept ones, and what the blocklist took out. */
  function refreshSummary() {
    const recipe = playlist.recipe || {};
    const kept = recipe.kept ?? playlist.tracks.filter((t) => t.kept).length;
    const fresh = playlist.tracks.length - kept;
    if (!fresh) return `No new track matched, so the ${plural(kept, "kept track")} stay.`;
    const dropped = recipe.dropped || {};
    const blocked = (dropped.blocked_artist || 0) + (dropped.blocked_track || 0);
    return `${plural(fresh, "new track")} and ${kept} kept.${blocked ? ` Your blocklist left out ${plural(blocked, "matching track")}.` : ""}`;
  }

  async function saveOrder(ids, message) {
    errors.clear();
    try {
      playlist = await api(`/api/playlists/${id}/tracks`, { method: "PUT", body: { track_ids: ids } });
      render();
      announce(message);
    } catch (err) {
      errors.show(err);
    }
  }

  const MARK_PATHS = {
    keep: (t) => `/api/playlists/${id}/tracks/${t.track_id}/keep`,
    heard: (t) => `/api/users/me/heard/${t.track_id}`,
    track: (t) => `/api/users/me/blocklist/tracks/${t.track_id}`,
    artist: (t) => `/api/users/me/blocklist/artists/${t.artist_id}`,
  };
  const MARK_SAID = {
    keep: (t, on) => (on ? `${t.title} is kept: a refresh leaves it in place.` : `${t.title} is no longer kept: the next refresh replaces it.`),
    heard: (t, on) => (on ? `${t.title} marked heard: your new and refreshed playlists leave it out.` : `${t.title} is no longer marked heard.`),
    track: (t, on) => (on ? `${t.title} blocked: your playlists leave it out from their next refresh.` : `${t.title} unblocked.`),
    artist: (t, on) => (on ? `${t.artist} blocked: your playlists leave their tracks out from their next refresh.` : `${t.artist} unblocked.`),
  };

  const actions = {
    async mark(kind, t) {
      errors.clear();
      const on = !marked(kind, t);
      try {
        await api(MARK_PATHS[kind](t), { method: on ? "PUT" : "DELETE" });
      } catch (err) {
        errors.show(err);
        return;
      }
      if (kind === "keep") t.kept = on;
      else {
        const set = kind === "heard" ? marks.heard : kind === "track" ? marks.tracks : marks.artists;
        const key = kind === "artist" ? t.artist_id : t.track_id;
        if (on) set.add(key);
        else set.delete(key);
      }
      showMarks();
      announce(MARK_SAID[kind](t, on));
    },
    async move(from, to) {
      const ids = playlist.tracks.map((t) => t.track_id);
      const [moved] = ids.splice(from, 1);
      ids.splice(to, 0, moved);
      const title = playlist.tracks[from].title;
      await saveOrder(ids, `${title} moved to position ${to + 1}.`);
      // keep the keyboard where it was: on the same button of the moved track
      const item = list.querySelector(`[data-track-id="${moved}"]`);
      const button = item && (item.querySelector(`[aria-label^="Move ${CSS.escape(title)} ${to < from ? "up" : "down"}"]:not(:disabled)`) || item.querySelector("button:not(:disabled)"));
      if (button) button.focus();
    },
    async remove(index) {
      const ids = playlist.tracks.map((t) => t.track_id);
      const [gone] = ids.splice(index, 1);
      const title = playlist.tracks.find((t) => t.track_id === gone).title;
      await saveOrder(ids, `${title} removed.`);
      heading.focus();
    },
  };

  const tools = h("div", { class: "row" });
  if (owner) {
    const name = h("input", { type: "text", name: "title", value: playlist.title, maxlength: 200, required: true });
    const publish = h("button", { type: "button" });
    const setPublishText = () => {
      publish.textContent = playlist.visibility === "public" ? "Make private" : "Publish";
    };
    setPublishText();
    publish.addEventListener("click", async () => {
      errors.clear();
      const visibility = playlist.visibility === "public" ? "private" : "public";
      try {
        playlist = await api(`/api/playlists/${id}`, { method: "PATCH", body: { visibility } });
        setPublishText();
        render();
        announce(visibility === "public" ? "Published: anyone can now find this playlist." : "This playlist is private again.");
      } catch (err) {
        errors.show(err);
      }
    });
    const rename = h("form", {
      class: "row",
      onsubmit: async (e) => {
        e.preventDefault();
        errors.clear();
        try {
          playlist = await api(`/api/playlists/${id}`, { method: "PATCH", body: { title: name.value.trim() } });
          render();
          announce("Name saved.");
        } catch (err) {
          errors.show(err);
        }
      },
    }, field("Playlist name", name), h("button", { type: "submit" }, "Save name"));
    const refresh = h("button", {
      type: "button",
      onclick: async () => {
        errors.clear();
        refresh.disabled = true;
        try {
          playlist = await api(`/api/playlists/${id}/refresh`, { method: "POST" });
          render();
          announce("Refreshed from its recipe.");
          refreshed.replaceChildren(h("p", { class: "notice" }, refreshSummary()));
        } catch (err) {
          refreshed.replaceChildren();
          errors.show(err, "refresh");
        } finally {
          refresh.disabled = false;
        }
      },
    }, "Refresh from recipe");
    const remove = h("button", {
      type: "button",
      onclick: async () => {
        if (!confirm(`Delete “${playlist.title}”? This cannot be undone.`)) return;
        errors.clear();
        try {
          await api(`/api/playlists/${id}`, { method: "DELETE" });
          announce("Playlist deleted.");
          location.hash = "/me";
        } catch (err) {
          errors.show(err);
        }
      },
    }, "Delete playlist");
    tools.append(publish, refresh, remove);
    root.append(heading, summary, rename);
  } else {
    const like = h("button", { type: "button", "aria-pressed": "false" }, "♥ Like");
    const save = h("button", { type: "button", "aria-pressed": "false" }, "Save");
    const toggle = (button, path, onText, offText, onSay, offSay) => async () => {
      if (!currentUser()) {
        sessionStorage.setItem("museed.after-login", `/playlist/${id}`);
        location.hash = "/login";
        return;
      }
      errors.clear();
      const on = button.getAttribute("aria-pressed") !== "true";
      try {
        await api(`/api/playlists/${id}/${path}`, { method: on ? "PUT" : "DELETE" });
        button.setAttribute("aria-pressed", String(on));
        button.textContent = on ? onText : offText;
        announce(on ? onSay : offSay);
      } catch (err) {
        errors.show(err);
      }
    };
    const fork = h("button", {
      type: "button",
      onclick: async () => {
        if (!currentUser()) {
          sessionStorage.setItem("museed.after-login", `/playlist/${id}`);
          location.hash = "/login";
          return;
        }
        errors.clear();
        fork.disabled = true;
        try {
          const copy = await api(`/api/playlists/${id}/fork`, { method: "POST" });
          announce("Forked: this copy is yours and private. Refresh it to follow your own taste.");
          location.hash = `/playlist/${copy.id}`;
        } catch (err) {
          errors.show(err);
          fork.disabled = false;
        }
      },
    }, "Fork");
    like.addEventListener("click", toggle(like, "like", "♥ Liked", "♥ Like", "You like this playlist.", "Like removed."));
    save.addEventListener("click", toggle(save, "save", "Saved", "Save", "Saved to your profile.", "Removed from your saved playlists."));
    if (me) {
      const saved = await api("/api/users/me/saved?limit=200");
      if (saved.some((p) => p.id === id)) {
        save.setAttribute("aria-pressed", "true");
        save.textContent = "Saved";
      }
    }
    tools.append(like, save);
    // a playlist seeded by its owner's private upload cannot be forked by anyone else (the API says 422)
    if (!playlist.seed_upload_id) tools.append(fork);
    root.append(heading, summary);
    if (playlist.owner_id) {
      displayName(playlist.owner_id, profile).then((n) =>
        ownerLine.replaceChildren("By ", h("a", { href: `#/user/${playlist.owner_id}` }, n)));
    }
  }
  const exportM3u = h("button", { type: "button", onclick: () => download(playlist, "m3u", errors) }, "Export M3U");
  const exportXspf = h("button", { type: "button", onclick: () => download(playlist, "xspf", errors) }, "Export XSPF");
  const exportJspf = h("button", { type: "button", onclick: () => download(playlist, "jspf", errors) }, "Export JSPF");
  tools.append(exportM3u, exportXspf, exportJspf);
  const lineage = playlist.forked_from ? forkedFrom(playlist.forked_from) : null;
  const hint = owner ? h("p", { class: "hint" }, "Drag a track, or use its Up and Down buttons, to reorder. Keep the tracks a refresh should leave in place.") : null;
  // append() would write a null as the text "null"
  root.append(...[shortfall, ownerLine, lineage, tools, refreshed, errors.el, hint, list].filter(Boolean));
  render();
}
