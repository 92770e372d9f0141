// The page's shell: hash routes to views, the navigation, and the session restored on load.

import { currentUser, logOut, onSessionChange, resume } from "./api.js";
import { loginView, signupView } from "./auth.js";
import { createView } from "./create.js";
import { announce, h, plainError } from "./dom.js";
import { exploreView, homeView } from "./explore.js";
import { userView } from "./people.js";
import { playlistView } from "./playlist.js";

const ROUTES = [
  [/^\/?$/, homeView],
  [/^\/login$/, loginView],
  [/^\/signup$/, signupView],
  [/^\/create$/, createView, { signedIn: true }],
  [/^\/explore$/, exploreView],
  [/^\/playlist\/([0-9a-f]+)$/, playlistView],
  [/^\/user\/([0-9a-f]+)$/, userView],
  [/^\/me$/, () => go(`/user/${currentUser().id}`, true), { signedIn: true }],
];

/** Navigate to a route of the page (`replace`: without a new history entry). */
export function go(path, replace = false) {
  if (replace) history.replaceState(null, "", `#${path}`);
  else location.hash = path;
  if (replace) route();
}

function currentPath() {
  return decodeURIComponent(location.hash.replace(/^#/, "")) || "/";
}

function renderNav() {
  const nav = document.getElementById("nav");
  const user = currentUser();
  const link = (path, text) => h("li", {}, h("a", { href: `#${path}` }, text));
  const items = [link("/", "Home"), link("/create", "Create a playlist"), link("/explore", "Explore")];
  if (user) {
    items.push(link("/me", "My profile"));
    items.push(
      h(
        "li",
        {},
        h("button", {
          type: "button",
          class: "small",
          onclick: async () => {
            await logOut();
            announce("You are logged out.");
            go("/");
          },
        }, "Log out"),
      ),
    );
  } else {
    items.push(link("/login", "Log in"), link("/signup", "Sign up"));
  }
  nav.replaceChildren(...items);
  markCurrent();
}

function markCurrent() {
  const path = currentPath();
  for (const a of document.querySelectorAll("#nav a")) {
    if (a.getAttribute("href") === `#${path}`) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
}

let rendering = 0;
async function route() {
  const path = currentPath();
  const main = document.getElementById("main");
  const ticket = ++rendering;
  for (const [pattern, view, opts = {}] of ROUTES) {
    const match = path.match(pattern);
    if (!match) continue;
    if (opts.signedIn && !currentUser()) {
      sessionStorage.setItem("museed.after-login", path);
      go("/login", true);
      return;
    }
    const container = h("div", { class: "view" });
    try {
      await view(container, ...match.slice(1));
    } catch (err) {
      container.replaceChildren(h("h1", { tabindex: "-1" }, "Something went wrong"), h("p", { class: "error", role: "alert" }, plainError(err)));
    }
    if (ticket !== rendering) return; // a newer navigation won
    main.replaceChildren(container);
    markCurrent();
    const heading = main.querySelector("h1");
    if (heading) {
      heading.setAttribute("tabindex", "-1");
      document.title = `${heading.textContent} – MUSEED`;
      if (started) heading.focus();
    }
    started = true;
    return;
  }
  main.replaceChildren(h("h1", { tabindex: "-1" }, "Page not found"), h("p", {}, h("a", { href: "#/" }, "Go to the home page")));
}

let started = false;
onSessionChange(renderNav);
window.addEventListener("hashchange", route);
resume().then(route);
