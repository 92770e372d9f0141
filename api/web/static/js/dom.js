// Small DOM helpers shared by the views, and the one place that turns API problems into plain words.

/** Build an element: h("button", {class: "primary", onclick: fn}, "Go"). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "class") el.className = value;
    else if (key in el && typeof value !== "string") el[key] = value;
    else el.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** Say something to screen readers and sighted users alike (the polite live region in the header). */
export function announce(text) {
  const region = document.getElementById("announcer");
  region.textContent = "";
  // a fresh text node after a tick, so the same message twice is read twice
  setTimeout(() => (region.textContent = text), 30);
}

const FIELD_NAMES = {
  email: "Email",
  password: "Password",
  display_name: "Display name",
  title: "Name",
  size: "Number of tracks",
  max_per_artist: "Tracks per artist",
  seed_track_ids: "Seed tracks",
  seed_weights: "Seed weights",
  negative_seed_track_ids: "“Less like this” seeds",
  negative_weight: "Push away",
  max_per_album: "Tracks per album",
  min_artist_gap: "Gap between one artist's tracks",
  exclude_track_ids: "Leave out track ids",
  threshold: "Lowest match score",
};

const UPLOAD_REASONS = {
  not_audio: "This file is not audio we can read. Try an MP3, OGG, FLAC, WAV or M4A file.",
  too_short: "This recording is too short: use at least a few seconds of music.",
  too_long: "This recording is too long for a seed. Use a shorter excerpt and try again.",
  too_large: "This file is too large to upload. Try a shorter or more compressed version.",
  truncated: "This file seems cut off or damaged: too little of it could be played.",
  empty: "This file is empty.",
  missing: "This file could not be read.",
  silent: "This recording is silent, so there is nothing to match.",
  non_finite: "This file is damaged: its audio could not be decoded.",
  no_match: "No library track matches these filters. Try loosening them.",
};

/** A sentence a listener understands for an ApiError (or any Error), from its status and problem body. */
export function plainError(err, context = "") {
  const p = err.problem || {};
  if (context === "refresh" && p.reason === "no_match") {
    return "No new track matches this playlist's recipe: a refresh never repeats a track it served. Keep the tracks you want to stay, or make a new playlist.";
  }
  if (p.reason && UPLOAD_REASONS[p.reason]) return UPLOAD_REASONS[p.reason];
  switch (err.status) {
    case 0:
    case undefined:
      return "We could not reach MUSEED. Check your connection and try again.";
    case 401:
      return context === "login"
        ? "That email and password do not match an account."
        : "Your session has ended. Please log in again.";
    case 403:
      return "Only the owner can change this.";
    case 404:
      return "We could not find that. It may have been deleted or made private.";
    case 409:
      return context === "signup" ? "An account with this email already exists. Try logging in." : "That already exists.";
    case 413:
      return UPLOAD_REASONS.too_large;
    case 429:
      return "Too many attempts in a short time. Wait a minute and try again.";
    case 503:
      return "MUSEED is busy or partly unavailable right now. Try again in a few seconds.";
    case 422:
      if (Array.isArray(p.errors) && p.errors.length) {
        return p.errors
          .map((e) => {
            const field = [...(e.loc || [])].reverse().find((part) => typeof part === "string" && part !== "body");
            const msg = String(e.msg || "").replace(/^Value error, /, "");
            return `${FIELD_NAMES[field] || "This form"}: ${msg}.`;
          })
          .join(" ");
      }
      return p.detail ? `${p.detail.charAt(0).toUpperCase()}${p.detail.slice(1)}.` : "Please check the form.";
    default:
      return "Something went wrong on our side. Please try again.";
  }
}

/** A message box for a form: role="alert" so it is read at once. */
export function errorBox() {
  const box = h("p", { class: "error", role: "alert", hidden: true });
  return {
    el: box,
    show(err, context) {
      box.textContent = typeof err === "string" ? err : plainError(err, context);
      box.hidden = false;
    },
    clear() {
      box.textContent = "";
      box.hidden = true;
    },
  };
}

/** A labelled form control: the label wraps nothing, it points at the control by id. */
let ids = 0;
export function field(labelText, control, hint) {
  const id = control.id || `f${++ids}`;
  control.id = id;
  const hintEl = hint ? h("span", { class: "hint", id: `${id}-hint` }, hint) : null;
  if (hintEl) control.setAttribute("aria-describedby", hintEl.id);
  return h("div", { class: "field" }, h("label", { for: id }, labelText), control, hintEl);
}

export function formatDuration(seconds) {
  if (seconds === null || seconds === undefined) return "";
  const s = Math.round(seconds);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

/** Who owns what: display names by user id, fetched once per page load. */
const names = new Map();
export function displayName(userId, fetchProfile) {
  if (!names.has(userId)) names.set(userId, fetchProfile(userId).then((u) => u.display_name, () => "a listener"));
  return names.get(userId);
}
