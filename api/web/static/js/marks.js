// What a listener tells MUSEED about single tracks: heard marks and the blocklist (artists and tracks), read once
// per page; and the profile panel that lists them with a button to lift each one.

import { api } from "./api.js";
import { announce, errorBox, h } from "./dom.js";

/** The signed-in listener's marks as id sets: blocked artists and tracks, tracks marked heard (newest 200). */
export async function loadMarks() {
  const [blocked, heard] = await Promise.all([api("/api/users/me/blocklist"), api("/api/users/me/heard?limit=200")]);
  return {
    artists: new Set(blocked.artists.map((a) => a.artist_id)),
    tracks: new Set(blocked.tracks.map((t) => t.track_id)),
    heard: new Set(heard.items.map((t) => t.track_id)),
  };
}

/** "1 track", "3 tracks". */
export function plural(n, word) {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

/** One list of the panel: each entry with a button that lifts it (DELETE `path(entry)`), focus kept in the list. */
function liftList({ label, items, emptyText, name, buttonText, path, said, errors, onEmpty }) {
  const empty = h("p", { class: "muted" }, emptyText);
  if (!items.length) return empty;
  const list = h("ul", { class: "results", "aria-label": label });
  const row = (item) => {
    const li = h("li", {},
      h("span", {}, name(item)),
      h("button", {
        type: "button",
        class: "small",
        "aria-label": `${buttonText} ${item.title || item.name}`,
        onclick: async () => {
          errors.clear();
          try {
            await api(path(item), { method: "DELETE" });
          } catch (err) {
            errors.show(err);
            return;
          }
          // the keyboard goes to the next entry's button (or the previous one, or the panel's heading)
          const next = li.nextElementSibling || li.previousElementSibling;
          li.remove();
          announce(said(item));
          if (next) next.querySelector("button").focus();
          else {
            list.replaceWith(empty);
            onEmpty();
          }
        },
      }, buttonText));
    return li;
  };
  list.append(...items.map(row));
  return list;
}

/** The profile panel: blocked artists and tracks, and tracks marked heard, each with a way back. */
export async function marksPanel() {
  const [blocked, heard] = await Promise.all([api("/api/users/me/blocklist"), api("/api/users/me/heard?limit=200")]);
  const errors = errorBox();
  const heading = h("h2", { id: "blocked-title", tabindex: "-1" }, "Blocked artists and tracks");
  const heardHeading = h("h2", { id: "heard-title", tabindex: "-1" }, "Marked heard");
  const focusHeading = (el) => () => el.focus();
  const trackName = (t) => `${t.title} by ${t.artist}`;
  const blockedPanel = h("section", { class: "card", "aria-labelledby": "blocked-title" },
    heading,
    h("p", { class: "hint" }, "None of your new or refreshed playlists holds these. Block more from any playlist's tracks."),
    h("h3", {}, "Artists"),
    liftList({
      label: "Blocked artists",
      items: blocked.artists,
      emptyText: "No artist blocked.",
      name: (a) => a.name,
      buttonText: "Unblock",
      path: (a) => `/api/users/me/blocklist/artists/${a.artist_id}`,
      said: (a) => `${a.name} unblocked: their tracks can come back in your playlists.`,
      errors,
      onEmpty: focusHeading(heading),
    }),
    h("h3", {}, "Tracks"),
    liftList({
      label: "Blocked tracks",
      items: blocked.tracks,
      emptyText: "No track blocked.",
      name: trackName,
      buttonText: "Unblock",
      path: (t) => `/api/users/me/blocklist/tracks/${t.track_id}`,
      said: (t) => `${t.title} unblocked: it can come back in your playlists.`,
      errors,
      onEmpty: focusHeading(heading),
    }),
  );
  const heardPanel = h("section", { class: "card", "aria-labelledby": "heard-title" },
    heardHeading,
    h("p", { class: "hint" }, "Your new and refreshed playlists leave these out, unless you keep one in a playlist."),
    heard.total > heard.items.length ? h("p", { class: "muted" }, `The newest ${heard.items.length} of ${heard.total}.`) : null,
    liftList({
      label: "Tracks marked heard",
      items: heard.items,
      emptyText: "No track marked heard.",
      name: trackName,
      buttonText: "Unmark heard",
      path: (t) => `/api/users/me/heard/${t.track_id}`,
      said: (t) => `${t.title} is no longer marked heard.`,
      errors,
      onEmpty: focusHeading(heardHeading),
    }),
  );
  return [blockedPanel, heardPanel, errors.el];
}
