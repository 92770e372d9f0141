// Create a playlist: library search with a genre facet, seeds, an upload as seed, and the recipe's options.

import { api, uploadFile } from "./api.js";
import { announce, errorBox, field, formatDuration, h, plainError } from "./dom.js";
import { go } from "./main.js";
import { moreOptions } from "./options.js";

//: the playlist API's filter values (tests/web checks them against the OpenAPI document)
export const FILTERS = {
  mood_style: ["dreamy", "driving", "playful", "somber"],
  energy: ["high", "medium", "low"],
  valence: ["positive", "negative"],
  source: ["acoustic", "electronic"],
};
const MAX_SEEDS = 10;

function select(name, values, anyText) {
  return h("select", { name }, h("option", { value: "" }, anyText), ...values.map((v) => h("option", { value: v }, v)));
}

/** The create page. */
export async function createView(root) {
  // seeds: every picked track; negative: those picked as "less like this"; weights: typed seed weights by id
  const state = { q: "", genre: null, seeds: new Map(), negative: new Set(), weights: new Map(), upload: null, ticket: 0 };
  const positives = () => [...state.seeds.keys()].filter((id) => !state.negative.has(id));
  const first = await api("/api/tracks?limit=8");
  const genres = first.facets.genre_top.map((f) => f.value).filter(Boolean).sort();

  // --- library search ---------------------------------------------------------------------------------------
  const search = h("input", { type: "search", name: "q", autocomplete: "off", placeholder: "Title, artist or album" });
  const facetBox = h("div", { class: "chips", role: "group", "aria-label": "Filter the search by genre" });
  const results = h("ul", { class: "results", "aria-live": "polite", "aria-label": "Search results" });
  const total = h("p", { class: "muted" });
  const seedList = h("ul", { class: "chips", "aria-label": "Chosen seeds" });
  const seedHint = h("p", { class: "muted" });

  function renderFacets(facets) {
    const button = (value, label) =>
      h("button", {
        type: "button",
        class: "small",
        "aria-pressed": String(state.genre === value),
        onclick: () => {
          state.genre = value;
          runSearch();
        },
      }, label);
    const all = facets.reduce((n, f) => n + f.count, 0);
    facetBox.replaceChildren(
      button(null, `All genres (${all})`),
      ...facets.filter((f) => f.value).map((f) => button(f.value, `${f.value} (${f.count})`)),
    );
  }

  function renderResults(page) {
    // a common word is counted up to the server's cap: say "at least"
    total.textContent = `${page.total}${page.total_is_lower_bound ? "+" : ""} track${page.total === 1 ? "" : "s"} found`;
    results.replaceChildren(
      ...page.items.map((t) => {
        const chosen = state.seeds.has(t.track_id);
        return h(
          "li",
          {},
          h("span", {}, h("strong", {}, t.title), ` by ${t.artist}`, h("span", { class: "muted" }, ` · ${t.genre_top || "no genre"} · ${formatDuration(t.duration_seconds)}`)),
          h("button", {
            type: "button",
            class: "small",
            disabled: chosen || positives().length >= MAX_SEEDS,
            "aria-label": chosen ? `${t.title} is a seed` : `Add ${t.title} by ${t.artist} as a seed`,
            onclick: () => addSeed(t),
          }, chosen ? "Added" : "Add as seed"),
        );
      }),
    );
  }

  async function runSearch() {
    const ticket = ++state.ticket;
    const params = new URLSearchParams({ q: state.q, limit: "8" });
    if (state.genre) params.set("genre", state.genre);
    try {
      const page = await api(`/api/tracks?${params}`);
      if (ticket !== state.ticket) return; // a newer keystroke's answer is on its way
      state.page = page;
      renderFacets(page.facets.genre_top);
      renderResults(page);
    } catch (err) {
      if (ticket === state.ticket) total.textContent = plainError(err);
    }
  }

  let timer = null;
  search.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      state.q = search.value.trim();
      runSearch();
    }, 200);
  });

  function renderSeeds() {
    if (state.upload) {
      seedList.replaceChildren(
        h("li", {}, h("span", { class: "chip" }, `Your upload: ${state.upload.filename}`), " ",
          h("button", { type: "button", class: "small", onclick: () => { state.upload = null; renderSeeds(); } }, "Use library seeds instead")),
      );
      seedHint.textContent = "Your upload is the seed.";
    } else {
      const n = positives().length;
      const weighted = more.blend() === "fair_share" || n > 1;
      seedList.replaceChildren(...[...state.seeds.values()].map((t) => seedItem(t, weighted, n)));
      const less = state.negative.size ? ` ${state.negative.size} “less like this”.` : "";
      seedHint.textContent = state.seeds.size
        ? `${n} of up to ${MAX_SEEDS} seeds chosen.${less}`
        : "No seed yet: add a song from the library, or upload your own.";
    }
    make.disabled = !state.upload && positives().length === 0;
    if (state.page) renderResults(state.page);
  }

  // a picked track is a seed or a "less like this" seed; a seed may carry a weight (blank: 1)
  function seedItem(t, weighted, n) {
    const id = t.track_id;
    const negative = state.negative.has(id);
    const weight = h("input", {
      type: "number", class: "weight", name: `weight-${id}`, id: `weight-${id}`, min: 0.1, max: 100, step: 0.1,
      inputmode: "decimal", placeholder: "1", value: state.weights.get(id) ?? "", "aria-label": `Weight of ${t.title}`,
      oninput: (e) => state.weights.set(id, e.target.value),
    });
    return h("li", { class: negative ? "seed negative" : "seed" },
      h("span", {}, negative ? "Less like: " : "", `${t.title} – ${t.artist}`), " ",
      weighted && !negative ? h("span", { class: "row" }, h("label", { for: weight.id }, "Weight"), weight) : null,
      h("button", {
        type: "button", class: "small", "aria-pressed": String(negative), "aria-label": `Less like this: ${t.title}`,
        disabled: negative ? n >= MAX_SEEDS : state.negative.size >= MAX_SEEDS,
        onclick: () => {
          if (negative) state.negative.delete(id);
          else state.negative.add(id);
          announce(negative ? `${t.title} is a seed again.` : `${t.title}: less like this.`);
          renderSeeds();
          seedList.querySelector(`[aria-label="Less like this: ${CSS.escape(t.title)}"]`)?.focus();
        },
      }, "Less like this"),
      h("button", { type: "button", class: "small", "aria-label": `Remove seed ${t.title}`, onclick: () => removeSeed(id) }, "Remove"));
  }

  /** The seed fields of the request body (library seeds, negatives, weights), or throw a sentence. */
  function seedFields() {
    if (state.upload) return { seed_upload_id: state.upload.id };
    const ids = positives();
    const out = { seed_track_ids: ids, negative_seed_track_ids: [...state.negative] };
    const typed = ids.map((id) => (state.weights.get(id) ?? "").trim());
    if ((more.blend() === "fair_share" || ids.length > 1) && typed.some(Boolean)) {
      out.seed_weights = typed.map((w) => (w === "" ? 1 : Number(w)));
      if (out.seed_weights.some((w) => !(w > 0 && w <= 100))) throw new Error("Seed weights: each weight must be a number above 0 (blank counts as 1).");
    }
    return out;
  }

  function addSeed(track) {
    state.upload = null;
    state.seeds.set(track.track_id, track);
    announce(`${track.title} added as a seed.`);
    renderSeeds();
  }

  function removeSeed(id) {
    const t = state.seeds.get(id);
    state.seeds.delete(id);
    state.negative.delete(id);
    state.weights.delete(id);
    announce(`${t.title} removed from the seeds.`);
    renderSeeds();
  }

  // --- upload -----------------------------------------------------------------------------------------------
  const fileInput = h("input", { type: "file", name: "file", accept: "audio/*,.mp3,.ogg,.flac,.wav,.m4a" });
  const progress = h("progress", { max: 1, value: 0, hidden: true, "aria-label": "Upload progress" });
  const uploadErrors = errorBox();
  const uploadInfo = h("p", { class: "success", role: "status" });
  const drop = h("div", { class: "drop" }, field("Upload an audio file", fileInput, "MP3, OGG, FLAC, WAV or M4A; you can also drop a file here."), progress, uploadErrors.el, uploadInfo);

  async function sendFile(file) {
    uploadErrors.clear();
    uploadInfo.textContent = `Uploading ${file.name}…`;
    progress.hidden = false;
    progress.value = 0;
    try {
      const up = await uploadFile(file, (share) => (progress.value = share));
      progress.value = 1;
      state.upload = up;
      const tags = up.analysis ? Object.entries(up.analysis.tags).map(([k, v]) => `${k.replace("_", " ")}: ${v.value}`).join(", ") : "";
      uploadInfo.textContent = `${up.filename} is ready as your seed (${formatDuration(up.duration_seconds)}${tags ? `; sounds like ${tags}` : ""}).`;
      announce(uploadInfo.textContent);
      renderSeeds();
    } catch (err) {
      progress.hidden = true;
      uploadInfo.textContent = "";
      uploadErrors.show(err);
    }
  }

  fileInput.addEventListener("change", () => fileInput.files[0] && sendFile(fileInput.files[0]));
  drop.addEventListener("dragover", (e) => {
    e.preventDefault();
    drop.classList.add("over");
  });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    if (e.dataTransfer.files[0]) sendFile(e.dataTransfer.files[0]);
  });

  // --- options ----------------------------------------------------------------------------------------------
  const title = h("input", { type: "text", name: "title", maxlength: 200, placeholder: "e.g. Sunday morning" });
  const size = h("input", { type: "number", name: "size", min: 5, max: 100, value: 20, inputmode: "numeric" });
  const genre = select("genre", genres, "Any genre");
  const filters = Object.fromEntries(Object.entries(FILTERS).map(([k, v]) => [k, select(k, v, "Any")]));
  const cap = h("input", { type: "number", name: "max_per_artist", min: 1, max: 100, value: 2, inputmode: "numeric" });
  const discovery = h("input", { type: "range", name: "discovery", min: 0, max: 1, step: 0.1, value: 0 });
  const discoveryOut = h("output", { for: "discovery" }, "0.0 – most similar first");
  discovery.addEventListener("input", () => {
    const v = Number(discovery.value);
    discoveryOut.textContent = `${v.toFixed(1)} – ${v === 0 ? "most similar first" : v < 0.5 ? "a little adventurous" : "more discoveries"}`;
    discovery.setAttribute("aria-valuetext", discoveryOut.textContent);
  });
  discovery.id = "discovery";
  const dedupe = h("input", { type: "checkbox", name: "exclude_near_duplicates", id: "dedupe" });
  const more = moreOptions(() => renderSeeds());
  const makeErrors = errorBox();
  const make = h("button", { type: "submit", class: "primary", disabled: true }, "Make my playlist");

  const optionsForm = h(
    "form",
    {
      novalidate: true,
      onsubmit: async (e) => {
        e.preventDefault();
        makeErrors.clear();
        let body;
        try {
          body = { ...more.values(), ...seedFields() };
        } catch (err) {
          makeErrors.show(err.message);
          return;
        }
        Object.assign(body, {
          size: Number(size.value) || 20,
          max_per_artist: cap.value === "" ? null : Number(cap.value),
          discovery: Number(discovery.value),
          exclude_near_duplicates: dedupe.checked,
        });
        if (title.value.trim()) body.title = title.value.trim();
        if (genre.value) body.genre = genre.value;
        for (const [k, el] of Object.entries(filters)) if (el.value) body[k] = el.value;
        make.disabled = true;
        make.textContent = "Finding songs…";
        try {
          const playlist = await api("/api/playlists", { method: "POST", body });
          announce(`Your playlist “${playlist.title}” is ready with ${playlist.tracks.length} tracks.`);
          go(`/playlist/${playlist.id}`);
        } catch (err) {
          makeErrors.show(err);
          make.disabled = false;
          make.textContent = "Make my playlist";
        }
      },
    },
    h("fieldset", {}, h("legend", {}, "3. Shape it (optional)"),
      h("div", { class: "grid" },
        field("Playlist name", title),
        field("Number of tracks", size, "5 to 100."),
        field("Genre", genre),
        field("Mood", filters.mood_style),
        field("Energy", filters.energy),
        field("Valence (feel)", filters.valence, "Positive is upbeat, negative is darker."),
        field("Instruments", filters.source),
        field("Tracks per artist", cap, "At most this many by one artist; empty for no limit."),
      ),
      h("div", { class: "field" }, h("label", { for: "discovery" }, "Discovery"), discovery, discoveryOut),
      h("div", { class: "row" }, dedupe, h("label", { for: "dedupe" }, "Leave out near-copies of the seed")),
      more.el,
    ),
    makeErrors.el,
    make,
  );

  root.append(
    h("h1", {}, "Create a playlist"),
    h("p", {}, "Pick one or more songs you love, or upload your own. MUSEED finds tracks that sound and feel alike."),
    h("section", { class: "card", "aria-labelledby": "s1" },
      h("h2", { id: "s1" }, "1. Choose seed songs"),
      field("Search the library", search, "Type a title, artist or album; results appear as you type."),
      facetBox, total, results),
    h("section", { class: "card", "aria-labelledby": "s2" },
      h("h2", { id: "s2" }, "2. Or use your own track"),
      drop),
    h("section", { class: "card", "aria-labelledby": "s-seeds" },
      h("h2", { id: "s-seeds" }, "Your seeds"), seedHint, seedList),
    h("section", { class: "card" }, optionsForm),
  );
  state.page = first;
  renderFacets(first.facets.genre_top);
  renderResults(first);
  renderSeeds();
}
