// The session and every call to the MUSEED API: bearer tokens, one shared refresh, problem+json as errors.

const REFRESH_KEY = "museed.refresh";

/** An API failure with the problem+json body (RFC 9457) it came with. */
export class ApiError extends Error {
  constructor(status, problem) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
  }
}

const session = { access: null, expiresAt: 0, user: null, refreshing: null };
const listeners = new Set();

/** Call `fn(user)` whenever the signed-in user changes (null: signed out). */
export function onSessionChange(fn) {
  listeners.add(fn);
}

function notify() {
  for (const fn of listeners) fn(session.user);
}

export function currentUser() {
  return session.user;
}

function keep(tokens) {
  session.access = tokens.access_token;
  session.expiresAt = Date.now() + (tokens.expires_in - 30) * 1000;
  localStorage.setItem(REFRESH_KEY, tokens.refresh_token);
}

function forget() {
  session.access = null;
  session.expiresAt = 0;
  session.user = null;
  localStorage.removeItem(REFRESH_KEY);
}

async function readProblem(resp) {
  const type = resp.headers.get("content-type") || "";
  if (type.includes("json")) {
    try {
      return await resp.json();
    } catch {
      /* an unreadable body falls through to the status line */
    }
  }
  return { status: resp.status, title: resp.statusText || `HTTP ${resp.status}` };
}

/** Trade the stored refresh token for new tokens; one request at a time, since each token works only once. */
function renew() {
  if (!session.refreshing) {
    const token = localStorage.getItem(REFRESH_KEY);
    session.refreshing = (async () => {
      if (!token) return false;
      const resp = await fetch("/api/auth/refresh", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ refresh_token: token }),
      });
      if (!resp.ok) {
        forget();
        return false;
      }
      keep(await resp.json());
      return true;
    })().finally(() => {
      session.refreshing = null;
    });
  }
  return session.refreshing;
}

/** A bearer header with a live access token, renewing it first when it has expired. */
export async function authHeader() {
  if (session.access && Date.now() >= session.expiresAt) await renew();
  return session.access ? { Authorization: `Bearer ${session.access}` } : {};
}

/** fetch() against the API: JSON in and out, the token attached and renewed once on a 401. */
export async function api(path, { method = "GET", body, raw = false } = {}) {
  const send = async () => {
    const headers = await authHeader();
    if (body !== undefined) headers["Content-Type"] = "application/json";
    return fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  };
  let resp = await send();
  if (resp.status === 401 && session.access && (await renew())) resp = await send();
  if (!resp.ok) throw new ApiError(resp.status, await readProblem(resp));
  if (raw) return resp;
  if (resp.status === 204) return null;
  return resp.json();
}

/** Upload a file as multipart with progress (fetch cannot report upload progress, XMLHttpRequest can). */
export async function uploadFile(file, onProgress) {
  const attempt = async () => {
    const headers = await authHeader();
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open("POST", "/api/uploads");
      for (const [k, v] of Object.entries(headers)) xhr.setRequestHeader(k, v);
      xhr.upload.onprogress = (e) => e.lengthComputable && onProgress(e.loaded / e.total);
      xhr.onload = () => resolve(xhr);
      xhr.onerror = () => reject(new ApiError(0, { title: "network error" }));
      const form = new FormData();
      form.append("file", file, file.name);
      xhr.send(form);
    });
  };
  let xhr = await attempt();
  if (xhr.status === 401 && session.access && (await renew())) xhr = await attempt();
  let data = {};
  try {
    data = JSON.parse(xhr.responseText);
  } catch {
    data = { title: xhr.statusText };
  }
  if (xhr.status !== 201) throw new ApiError(xhr.status, data);
  return data;
}

/** Sign in with email and password; loads the profile. */
export async function logIn(email, password) {
  keep(await api("/api/auth/login", { method: "POST", body: { email, password } }));
  session.user = await api("/api/users/me");
  notify();
  return session.user;
}

/** Create an account, then sign in to it. */
export async function signUp(email, password, displayName) {
  await api("/api/auth/signup", { method: "POST", body: { email, password, display_name: displayName } });
  return logIn(email, password);
}

/** Revoke the refresh token and forget the session. */
export async function logOut() {
  const token = localStorage.getItem(REFRESH_KEY);
  try {
    if (token) await api("/api/auth/logout", { method: "POST", body: { refresh_token: token } });
  } finally {
    forget();
    notify();
  }
}

/** On page load: a stored refresh token becomes a session again (it survives a reload). */
export async function resume() {
  if (await renew()) {
    try {
      session.user = await api("/api/users/me");
    } catch {
      forget();
    }
  }
  notify();
  return session.user;
}
