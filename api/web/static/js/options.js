// "More options" of the create form: the discovery engine's rules (docs/DISCOVERY.md), with the API's defaults.

import { field, h } from "./dom.js";

//: the engine's choices and defaults as the playlist API declares them (tests/web checks both against its schema)
export const DISCOVERY_CHOICES = {
  blend: { centroid: "Blend the seeds into one sound", fair_share: "Take turns between the seeds" },
  mode: { top: "The best matches", threshold: "Only tracks above a match score" },
  flow: {
    ranked: "Best match first",
    smooth: "Smooth transitions",
    energy_rise: "Energy rising",
    energy_fall: "Energy falling",
    energy_arc: "Energy up, then down",
  },
};
export const DISCOVERY_DEFAULTS = {
  max_per_album: null,
  min_artist_gap: 0,
  exclude_track_ids: [],
  exclude_alternate_versions: true,
  blend: "centroid",
  negative_weight: 0.5,
  mode: "top",
  threshold: null,
  hubness_correction: false,
  flow: "ranked",
};

function choice(name) {
  return h("select", { name }, ...Object.entries(DISCOVERY_CHOICES[name]).map(([value, text]) =>
    h("option", { value, selected: value === DISCOVERY_DEFAULTS[name] }, text)));
}

function checkbox(name, text) {
  const box = h("input", { type: "checkbox", name, id: `opt-${name}`, checked: DISCOVERY_DEFAULTS[name] });
  return { box, el: h("div", { class: "row" }, box, h("label", { for: box.id }, text)) };
}

const number = (name, attrs) => h("input", { type: "number", name, inputmode: "decimal", value: DISCOVERY_DEFAULTS[name] ?? "", ...attrs });

/** The disclosure and its controls; `onBlend` runs when the blend changes (the seed weights depend on it). */
export function moreOptions(onBlend) {
  const album = number("max_per_album", { min: 1, max: 100 });
  const gap = number("min_artist_gap", { min: 0, max: 20 });
  const exclude = h("input", { type: "text", name: "exclude_track_ids", autocomplete: "off", value: DISCOVERY_DEFAULTS.exclude_track_ids.join(", ") });
  const versions = checkbox("exclude_alternate_versions", "Leave out other versions (live, remastered, remixed) of a seed or a track already picked");
  const hubs = checkbox("hubness_correction", "Fewer of the tracks that match almost everything");
  const blend = choice("blend");
  const negative = number("negative_weight", { min: 0, max: 2, step: 0.1 });
  const mode = choice("mode");
  const threshold = number("threshold", { min: -1, max: 1, step: 0.05 });
  const flow = choice("flow");
  const thresholdField = field("Lowest match score", threshold, "From -1 to 1 (a match of 80% is 0.8); the playlist may come out shorter.");
  const showThreshold = () => (thresholdField.hidden = mode.value !== "threshold");
  mode.addEventListener("change", showThreshold);
  blend.addEventListener("change", () => onBlend(blend.value));
  showThreshold();

  const el = h("details", { class: "more" },
    h("summary", {}, "More options"),
    h("div", { class: "grid" },
      field("Seed blend", blend, "With several seeds: one blended sound, or each seed in turn."),
      field("Which tracks", mode),
      thresholdField,
      field("Order", flow),
      field("Tracks per album", album, "At most this many from one album; empty for no limit."),
      field("Gap between one artist's tracks", gap, "At least this many other tracks in between (0 to 20)."),
      field("Push away from “less like this” seeds", negative, "0 to 2; higher avoids them harder."),
      field("Leave out track ids", exclude, "Library track ids, separated by commas."),
    ),
    versions.el,
    hubs.el,
  );

  /** The options as request fields, or throw an Error whose message is a sentence for the listener. */
  function values() {
    const out = {
      blend: blend.value,
      mode: mode.value,
      flow: flow.value,
      min_artist_gap: gap.value === "" ? DISCOVERY_DEFAULTS.min_artist_gap : Number(gap.value),
      max_per_album: album.value === "" ? null : Number(album.value),
      negative_weight: negative.value === "" ? DISCOVERY_DEFAULTS.negative_weight : Number(negative.value),
      exclude_alternate_versions: versions.box.checked,
      hubness_correction: hubs.box.checked,
    };
    const ids = exclude.value.split(/[\s,]+/).filter(Boolean);
    if (ids.some((id) => !/^[1-9]\d*$/.test(id))) throw new Error("Leave out track ids: use whole numbers separated by commas.");
    out.exclude_track_ids = ids.map(Number);
    if (mode.value === "threshold") {
      const tau = threshold.value === "" ? NaN : Number(threshold.value);
      if (!(tau >= -1 && tau <= 1)) throw new Error("Lowest match score: give a number from -1 to 1.");
      out.threshold = tau;
    }
    return out;
  }

  return { el, values, blend: () => blend.value };
}
