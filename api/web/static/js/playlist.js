// A playlist: players, score and "why"; for its owner rename, reorder (drag or buttons), remove, publish,
// refresh and export; for everyone else like and save.

import { api, authHeader, currentUser } from "./api.js";
import { announce, displayName, errorBox, field, formatDuration, h } from "./dom.js";

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

function trackItem(t, index, count, owner, actions) {
  const name = `${t.title} by ${t.artist}`;
  const tools = owner
    ? h("div", { class: "tools", role: "group", "aria-label": `Arrange ${t.title}` },
        h("button", { type: "button", class: "small", disabled: index === 0, "aria-label": `Move ${t.title} up`, onclick: () => actions.move(index, index - 1) }, "↑ Up"),
        h("button", { type: "button", class: "small", disabled: index === count - 1, "aria-label": `Move ${t.title} down`, onclick: () => actions.move(index, index + 1) }, "↓ Down"),
        h("button", { type: "button", class: "small", "aria-label": `Remove ${t.title}`, onclick: () => actions.remove(index) }, "Remove"))
    : null;
  const li = h(
    "li",
    { class: "track", draggable: owner ? "true" : null, "data-track-id": String(t.track_id) },
    h("div", { class: "meta" },
      h("div", { class: "title" }, owner ? h("span", { class: "handle", "aria-hidden": "true", title: "Drag to reorder" }, "⠿ ") : null, `${index + 1}. ${t.title}`),
      h("div", {}, `${t.artist}${t.album ? ` · ${t.album}` : ""} · ${t.genre_top || "no genre"} · ${formatDuration(t.duration_seconds)}`),
      h("div", { class: "muted" }, h("span", { class: "score" }, `Match ${(t.score * 100).toFixed(0)}%`), t.why ? ` · Why: ${t.why}` : "")),
    tools,
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

/** The playlist page. */
export async function playlistView(root, id) {
  let playlist = await api(`/api/playlists/${id}`);
  const me = currentUser();
  const owner = Boolean(me && playlist.owner_id === me.id);
  const errors = errorBox();
  const heading = h("h1", {}, playlist.title);
  const summary = h("p", { class: "muted" });
  const shortfall = h("p", { class: "notice", id: "shortfall", hidden: true });
  const list = h("ol", { class: "tracks", "aria-label": "Tracks" });
  const ownerLine = h("p", {});

  const seedText = () =>
    playlist.seed_upload_id ? "your uploaded track" : playlist.seed_tracks.map((s) => `${s.title} (${s.artist})`).join(", ");

  function render() {
    heading.textContent = playlist.title;
    summary.textContent = `${playlist.tracks.length} tracks · ${playlist.visibility === "public" ? "Public" : "Private"} · from ${seedText()}`;
    // the recipe's sentence when the rules left fewer tracks than asked for (null: the playlist is full)
    const short = playlist.recipe && playlist.recipe.shortfall;
    shortfall.hidden = !short;
    shortfall.textContent = short ? `This playlist is shorter than you asked for. ${short.charAt(0).toUpperCase()}${short.slice(1).replace(/\.?$/, ".")}` : "";
    list.replaceChildren(...playlist.tracks.map((t, i) => trackItem(t, i, playlist.tracks.length, owner, actions)));
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

  const actions = {
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
        } catch (err) {
          errors.show(err);
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
    root.append(heading, summary);
    if (playlist.owner_id) {
      displayName(playlist.owner_id, profile).then((n) =>
        ownerLine.replaceChildren("By ", h("a", { href: `#/user/${playlist.owner_id}` }, n)));
    }
  }
  const exportM3u = h("button", { type: "button", onclick: () => download(playlist, "m3u", errors) }, "Export M3U");
  const exportXspf = h("button", { type: "button", onclick: () => download(playlist, "xspf", errors) }, "Export XSPF");
  tools.append(exportM3u, exportXspf);
  root.append(shortfall, ownerLine, tools, errors.el, owner ? h("p", { class: "hint" }, "Drag a track, or use its Up and Down buttons, to reorder.") : null, list);
  render();
}
