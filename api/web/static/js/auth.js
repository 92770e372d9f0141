// Sign up and log in.

import { logIn, signUp } from "./api.js";
import { announce, errorBox, field, h } from "./dom.js";
import { go } from "./main.js";

function afterSignIn() {
  const next = sessionStorage.getItem("museed.after-login") || "/create";
  sessionStorage.removeItem("museed.after-login");
  go(next);
}

function form(submitText, controls, onSubmit) {
  const errors = errorBox();
  const submit = h("button", { type: "submit", class: "primary" }, submitText);
  const el = h(
    "form",
    {
      class: "card",
      novalidate: true,
      onsubmit: async (e) => {
        e.preventDefault();
        errors.clear();
        submit.disabled = true;
        try {
          await onSubmit(errors);
        } finally {
          submit.disabled = false;
        }
      },
    },
    ...controls,
    errors.el,
    submit,
  );
  return el;
}

/** The log-in page. */
export async function loginView(root) {
  const email = h("input", { type: "email", name: "email", autocomplete: "email", required: true });
  const password = h("input", { type: "password", name: "password", autocomplete: "current-password", required: true });
  root.append(
    h("h1", {}, "Log in"),
    form("Log in", [field("Email", email), field("Password", password)], async (errors) => {
      try {
        const user = await logIn(email.value.trim(), password.value);
        announce(`Welcome back, ${user.display_name}.`);
        afterSignIn();
      } catch (err) {
        errors.show(err, "login");
      }
    }),
    h("p", {}, "New here? ", h("a", { href: "#/signup" }, "Create an account")),
  );
}

/** The sign-up page. */
export async function signupView(root) {
  const name = h("input", { type: "text", name: "display_name", autocomplete: "nickname", required: true, maxlength: 80 });
  const email = h("input", { type: "email", name: "email", autocomplete: "email", required: true });
  const password = h("input", { type: "password", name: "password", autocomplete: "new-password", required: true, minlength: 10 });
  root.append(
    h("h1", {}, "Create your account"),
    form(
      "Sign up",
      [
        field("Display name", name, "Shown on your playlists and profile."),
        field("Email", email),
        field("Password", password, "At least 10 characters."),
      ],
      async (errors) => {
        try {
          const user = await signUp(email.value.trim(), password.value, name.value);
          announce(`Welcome to MUSEED, ${user.display_name}.`);
          afterSignIn();
        } catch (err) {
          errors.show(err, "signup");
        }
      },
    ),
    h("p", {}, "Already have an account? ", h("a", { href: "#/login" }, "Log in")),
  );
}
