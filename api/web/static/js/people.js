// A listener's page: avatar, follow, followers and following, the genre pie chart and badges; on your own page
// also your playlists, saved playlists, people with similar taste, and your blocklist and heard tracks.

import { api, currentUser } from "./api.js";
import { announce, errorBox, field, h } from "./dom.js";
import { playlistCards } from "./explore.js";
import { marksPanel } from "./marks.js";
import { genrePie } from "./pie.js";

const CONFIG = JSON.parse(document.getElementById("museed-config").textContent);

function people(list, emptyText) {
  if (!list.length) return h("p", { class: "muted" }, emptyText);
  return h("ul", { class: "chips" }, ...list.map((p) => h("li", {}, h("a", { class: "button small", href: `#/user/${p.id}` }, p.display_name))));
}

function badgeList(earned) {
  const have = new Map(earned.map((b) => [b.badge, b]));
  const item = (b) => {
    const got = have.get(b.badge);
    return h("li", { class: got ? "earned" : "locked" },
      h("strong", {}, got ? `✓ ${b.title}` : b.title),
      h("div", {}, b.description),
      h("div", { class: "muted" }, got ? `Earned ${new Date(got.awarded_at).toLocaleDateString()}` : "Still to earn"));
  };
  const all = CONFIG.badges;
  return [
    h("h3", {}, `Earned (${earned.length})`),
    earned.length ? h("ul", { class: "badges", "aria-label": "Badges earned" }, ...all.filter((b) => have.has(b.badge)).map(item))
      : h("p", { class: "muted" }, "No badge yet."),
    h("h3", {}, "Still to earn"),
    h("ul", { class: "badges", "aria-label": "Badges still to earn" }, ...all.filter((b) => !have.has(b.badge)).map(item)),
  ];
}

/** The user page (yours is the profile). */
export async function userView(root, id) {
  const me = currentUser();
  const own = Boolean(me && me.id === id);
  const [user, badges, mix, followers, following] = await Promise.all([
    api(`/api/users/${id}`),
    api(`/api/users/${id}/badges`),
    api(`/api/users/${id}/genres`),
    api(`/api/users/${id}/followers?limit=200`),
    api(`/api/users/${id}/following?limit=200`),
  ]);
  const errors = errorBox();
  const title = h("h1", {}, own ? `${user.display_name} (you)` : user.display_name);
  const bio = h("p", {}, user.bio || "");
  const followersBox = h("div", {}, people(followers, "No followers yet."));
  const followersTitle = h("h2", {}, `Followers (${followers.length})`);
  const head = h("div", { class: "profile-head" },
    h("img", { class: "avatar", src: `/api/users/${id}/avatar.svg`, alt: `Avatar of ${user.display_name}: a ring of their genre mix`, width: 96, height: 96 }),
    h("div", {}, title, bio,
      h("p", { class: "muted" }, `Listening since ${new Date(user.created_at).toLocaleDateString()}`)));
  root.append(head);

  if (me && !own) {
    let isFollowing = followers.some((f) => f.id === me.id);
    const follow = h("button", { type: "button", class: "primary", "aria-pressed": String(isFollowing) });
    const label = () => (follow.textContent = isFollowing ? `Following ${user.display_name}` : `Follow ${user.display_name}`);
    label();
    follow.addEventListener("click", async () => {
      errors.clear();
      try {
        await api(`/api/users/${id}/follow`, { method: isFollowing ? "DELETE" : "PUT" });
        isFollowing = !isFollowing;
        follow.setAttribute("aria-pressed", String(isFollowing));
        label();
        const now = await api(`/api/users/${id}/followers?limit=200`);
        followersTitle.textContent = `Followers (${now.length})`;
        followersBox.replaceChildren(people(now, "No followers yet."));
        announce(isFollowing ? `You follow ${user.display_name}.` : `You stopped following ${user.display_name}.`);
      } catch (err) {
        errors.show(err);
      }
    });
    root.append(h("div", { class: "row" }, follow), errors.el);
  }

  root.append(
    h("section", { class: "card", "aria-labelledby": "mix-title" },
      h("h2", { id: "mix-title" }, own ? "Your genre mix" : "Genre mix of public playlists"),
      genrePie(mix, "mix")),
    h("section", { class: "card", "aria-labelledby": "badges-title" }, h("h2", { id: "badges-title" }, "Badges"), ...badgeList(badges)),
    h("section", { class: "card" }, followersTitle, followersBox, h("h2", {}, `Following (${following.length})`), people(following, "Not following anyone yet.")),
  );

  if (own) {
    const nameInput = h("input", { type: "text", name: "display_name", value: user.display_name, maxlength: 80, required: true });
    const bioInput = h("textarea", { name: "bio", maxlength: 1000, rows: 3 }, user.bio || "");
    const profileErrors = errorBox();
    const editForm = h("form", {
      class: "card",
      onsubmit: async (e) => {
        e.preventDefault();
        profileErrors.clear();
        try {
          const saved = await api("/api/users/me", { method: "PATCH", body: { display_name: nameInput.value.trim(), bio: bioInput.value } });
          title.textContent = `${saved.display_name} (you)`;
          bio.textContent = saved.bio;
          announce("Profile saved.");
        } catch (err) {
          profileErrors.show(err);
        }
      },
    }, h("h2", {}, "Edit profile"), field("Display name", nameInput), field("About you", bioInput), profileErrors.el, h("button", { type: "submit" }, "Save profile"));
    root.append(editForm);
    const [mine, saved] = await Promise.all([api("/api/playlists?limit=100"), api("/api/users/me/saved?limit=100")]);
    root.append(
      h("section", { class: "card", "aria-labelledby": "mine-title" }, h("h2", { id: "mine-title" }, "My playlists"), playlistCards(mine, "No playlist yet: create your first one.")),
      h("section", { class: "card", "aria-labelledby": "saved-title" }, h("h2", { id: "saved-title" }, "Saved playlists"), playlistCards(saved, "Nothing saved yet.")),
    );
    const similar = h("section", { class: "card", "aria-labelledby": "similar-title" }, h("h2", { id: "similar-title" }, "People with similar taste"));
    if (mine.length) {
      const close = await api("/api/users/me/similar?limit=10");
      similar.append(close.length
        ? h("ul", { class: "results" }, ...close.map((p) => h("li", {},
            h("a", { href: `#/user/${p.id}` }, p.display_name),
            h("span", { class: "muted" }, `${(p.similarity * 100).toFixed(0)}% alike · ${p.public_playlists} public playlist${p.public_playlists === 1 ? "" : "s"}${p.following ? " · you follow them" : ""}`))))
        : h("p", { class: "muted" }, "Nobody with public playlists close to yours yet."));
    } else {
      similar.append(h("p", { class: "muted" }, "Make a playlist and we will find listeners whose taste is close to yours."));
    }
    root.append(similar, ...(await marksPanel()));
  }
}
