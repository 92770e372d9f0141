// The genre pie chart: every top-level genre in the legend with its share; each slice has a pattern as well as a
// colour, and its share is written in the legend, so the chart reads without colour.

const SVG = "http://www.w3.org/2000/svg";
const COLOURS = ["#4c1d95", "#b45309", "#0f766e", "#be123c", "#1d4ed8", "#4d7c0f", "#a21caf", "#0e7490",
  "#9a3412", "#3f6212", "#6d28d9", "#047857", "#b91c1c", "#1e40af", "#854d0e", "#374151"];

function el(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  node.append(...children);
  return node;
}

/** A pattern per genre index, `u` user units a tile: stripes at 8 angles (genres 1-8) or dots on a grid turned
 * by 8 angles (9-16), white over the genre's colour. */
function pattern(id, i, u) {
  const colour = COLOURS[i % COLOURS.length];
  const p = el("pattern", { id, width: u, height: u, patternUnits: "userSpaceOnUse", patternTransform: `rotate(${(i % 8) * 22.5})` });
  p.append(el("rect", { width: u, height: u, fill: colour }));
  if (i < 8) p.append(el("rect", { width: u * 0.38, height: u, fill: "#ffffff", opacity: 0.6 }));
  else p.append(el("circle", { cx: u / 2, cy: u / 2, r: u * 0.24, fill: "#ffffff", opacity: 0.75 }));
  return p;
}

/** Build the chart for `mix` ([{genre_id, genre, tracks, share}], all 16 genres) into a figure element. */
export function genrePie(mix, idPrefix) {
  const total = mix.reduce((n, g) => n + g.tracks, 0);
  const figure = document.createElement("figure");
  figure.className = "pie-wrap";
  const svg = el("svg", { viewBox: "-1 -1 2 2", class: "pie", role: "img", "aria-labelledby": `${idPrefix}-cap` });
  const defs = el("defs");
  svg.append(defs);
  mix.forEach((g, i) => defs.append(pattern(`${idPrefix}-p${i}`, i, 0.12)));
  if (!total) {
    svg.append(el("circle", { r: 1, fill: "#e8e8ec" }));
  } else {
    let angle = -Math.PI / 2;
    mix.forEach((g, i) => {
      if (!g.tracks) return;
      const sweep = (g.tracks / total) * 2 * Math.PI;
      const title = el("title");
      title.textContent = `${g.genre}: ${(g.share * 100).toFixed(0)}%`;
      if (sweep >= 2 * Math.PI - 1e-6) {
        svg.append(el("circle", { r: 1, fill: `url(#${idPrefix}-p${i})`, stroke: "#fff", "stroke-width": 0.01 }, title));
      } else {
        const [x1, y1, x2, y2] = [Math.cos(angle), Math.sin(angle), Math.cos(angle + sweep), Math.sin(angle + sweep)];
        const d = `M0,0 L${x1},${y1} A1,1 0 ${sweep > Math.PI ? 1 : 0} 1 ${x2},${y2} Z`;
        svg.append(el("path", { d, fill: `url(#${idPrefix}-p${i})`, stroke: "#fff", "stroke-width": 0.01 }, title));
      }
      angle += sweep;
    });
  }
  const legend = document.createElement("ul");
  legend.className = "legend";
  legend.setAttribute("aria-label", "Genres and their shares");
  mix.forEach((g, i) => {
    const li = document.createElement("li");
    const swatch = el("svg", { width: 18, height: 18, viewBox: "0 0 18 18", "aria-hidden": "true" },
      el("defs", {}, pattern(`${idPrefix}-l${i}`, i, 7)), el("rect", { width: 18, height: 18, fill: `url(#${idPrefix}-l${i})` }));
    li.append(swatch, `${g.genre}: ${(g.share * 100).toFixed(0)}%`);
    legend.append(li);
  });
  const caption = document.createElement("figcaption");
  caption.id = `${idPrefix}-cap`;
  const top = [...mix].filter((g) => g.tracks).sort((a, b) => b.tracks - a.tracks).slice(0, 3);
  caption.textContent = total
    ? `Genre mix of ${total} tracks: ${top.map((g) => `${g.genre} ${(g.share * 100).toFixed(0)}%`).join(", ")}${mix.filter((g) => g.tracks).length > 3 ? " and more" : ""}.`
    : "No tracks yet: the chart fills in as playlists are made.";
  figure.append(svg, legend, caption);
  return figure;
}
