// The home page and Explore: public playlists (recent, most liked) and the feed of people you follow.

import { api, currentUser } from "./api.js";
import { displayName, h, plainError } from "./dom.js";

const profile = (id) => api(`/api/users/${id}`);

/** A list of playlist cards, each linking to its page and its owner's. */
export function playlistCards(playlists, emptyText) {
  if (!playlists.length) return h("p", { class: "muted" }, emptyText);
  return h(
    "ul",
    { class: "playlists" },
    ...playlists.map((p) => {
      const by = h("span", {});
      if (p.owner_id) {
        displayName(p.owner_id, profile).then((n) => by.replaceChildren(" by ", h("a", { href: `#/user/${p.owner_id}` }, n)));
      }
      return h(
        "li",
        {},
        h("a", { href: `#/playlist/${p.id}` }, p.title),
        h("div", { class: "muted" }, `${p.n_tracks} tracks · ${p.likes} like${p.likes === 1 ? "" : "s"}`, by),
      );
    }),
  );
}

/** The landing page: what MUSEED does and the first step, then fresh public playlists. */
export async function homeView(root) {
  const user = currentUser();
  const recent = await api("/api/feed?sort=recent&limit=6");
  root.append(
    h("section", { class: "hero" },
      h("h1", {}, user ? `Hi ${user.display_name}, what shall we play?` : "Playlists from a song you love"),
      h("p", {}, "Pick a song from the library or upload your own recording. MUSEED listens to it and builds a playlist of tracks that sound and feel alike."),
      h("div", { class: "row" },
        h("a", { class: "button primary", href: "#/create" }, "Create a playlist"),
        user ? null : h("a", { class: "button", href: "#/signup" }, "Sign up free"),
        h("a", { class: "button", href: "#/explore" }, "Explore playlists"))),
    h("h2", {}, "Fresh from listeners"),
    playlistCards(recent, "No public playlists yet: be the first to publish one."),
  );
}

/** Explore: tabs for recent and most liked public playlists and, signed in, the people you follow. */
export async function exploreView(root) {
  const tabs = [
    ["recent", "Recent", "/api/feed?sort=recent&limit=30"],
    ["liked", "Most liked", "/api/feed?sort=liked&limit=30"],
  ];
  if (currentUser()) tabs.push(["following", "People I follow", "/api/feed/following?limit=30"]);
  const panel = h("section", { "aria-live": "polite", "aria-labelledby": "tab-title" });
  const buttons = tabs.map(([key, label, path]) =>
    h("button", { type: "button", "aria-pressed": "false", "data-tab": key, onclick: () => show(key, label, path) }, label));

  async function show(key, label, path) {
    for (const b of buttons) b.setAttribute("aria-pressed", String(b.dataset.tab === key));
    try {
      const items = await api(path);
      const empty = key === "following" ? "Nobody you follow has published a playlist yet." : "No public playlists yet.";
      panel.replaceChildren(h("h2", { id: "tab-title" }, label), playlistCards(items, empty));
    } catch (err) {
      panel.replaceChildren(h("h2", { id: "tab-title" }, label), h("p", { class: "error", role: "alert" }, plainError(err)));
    }
  }

  root.append(h("h1", {}, "Explore playlists"), h("div", { class: "tabs", role: "group", "aria-label": "Which playlists" }, ...buttons), panel);
  await show(...tabs[0]);
}
