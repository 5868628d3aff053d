// Shared by the vendor panel and the seller console: the API client, the key kept in
// sessionStorage, words for the API's refusals, and a small DOM helper (never HTML from strings:
// everything the server sends is set as text).

// The API lives beside /panel (locally at the root, on AWS under the stage's prefix).
export const API_ROOT = new URL("../", document.baseURI);

export class ApiError extends Error {
  constructor(status, code, message, details = []) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

/** A path under /v1 with each segment escaped: path("vendors", id, "orders"). */
export function path(...segments) {
  return "v1/" + segments.map((s) => encodeURIComponent(String(s))).join("/");
}

/** Call the API with the user's own key. Resolves to the JSON body; rejects with ApiError. */
export async function api(method, route, { key, body } = {}) {
  const headers = { Accept: "application/json" };
  if (key) headers["X-Api-Key"] = key;
  const init = { method, headers, cache: "no-store", credentials: "omit", referrerPolicy: "no-referrer" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(new URL(route, API_ROOT), init);
  } catch {
    throw new ApiError(0, "network", "The server could not be reached. Check your connection and try again.");
  }
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!response.ok) {
    const error = (data && data.error) || {};
    throw new ApiError(
      response.status,
      error.code || `http_${response.status}`,
      error.message || `The server answered ${response.status}.`,
      error.details || [],
    );
  }
  return data;
}

// --- the key --------------------------------------------------------------------------

const KINDS = {
  vendor: { prefix: "vk", other: "seller", otherPrefix: "sk", page: "vendor.html", otherPage: "seller.html" },
  seller: { prefix: "sk", other: "vendor", otherPrefix: "vk", page: "seller.html", otherPage: "vendor.html" },
};

/**
 * Read "<vk|sk>.<account id>.<secret>". Returns {key, accountId} or {problem} in words.
 * The account id is the second part: the page needs it to build the API paths.
 */
export function parseKey(raw, kind) {
  const key = (raw || "").trim();
  const { prefix, other, otherPrefix } = KINDS[kind];
  if (!key) return { problem: `Enter your ${kind} API key.` };
  const [first, accountId, ...rest] = key.split(".");
  const secret = rest.join(".");
  if (first === otherPrefix && accountId && secret) {
    return { problem: `This is a ${other} key. Sign in to the ${other} ${other === "vendor" ? "panel" : "console"} with it instead.`, otherPage: KINDS[kind].otherPage };
  }
  if (first !== prefix || !accountId || !secret || /\s/.test(key)) {
    return { problem: `This does not look like a ${kind} key. A ${kind} key looks like ${prefix}.<${kind} id>.<secret>: paste the whole key as it was handed to you.` };
  }
  return { key, accountId };
}

/** The key lives in sessionStorage only: gone when the tab closes, never in a URL or cookie. */
export function keyStore(kind) {
  const name = `backorders.${kind}.key`;
  return {
    get() {
      try {
        return sessionStorage.getItem(name);
      } catch {
        return null;
      }
    },
    set(value) {
      try {
        sessionStorage.setItem(name, value);
      } catch {
        /* storage refused (private mode): the key stays in memory for this page only */
      }
    },
    clear() {
      try {
        sessionStorage.removeItem(name);
      } catch {
        /* nothing stored */
      }
    },
  };
}

// --- words ----------------------------------------------------------------------------

/** A sentence for a person about a refusal; `what` names the thing asked for ("Order o1"). */
export function explain(error, what = "It") {
  if (!(error instanceof ApiError)) return "Something went wrong in this page. Reload it and try again.";
  switch (error.status) {
    case 0:
      return error.message;
    case 401:
      return "This key was not accepted. Check that you pasted the whole key. Keys are shown only once, when the account is created: if it is lost, ask your operations contact for a new one.";
    case 403:
      return "This key belongs to another account and cannot see this.";
    case 404:
      return `${what} was not found. Check the id and try again.`;
    case 409:
      return `Refused because of a conflict: ${sentence(error.message)}`;
    case 422:
      return `Refused: ${sentence(error.message)}`;
    case 400:
      return `The request was not valid: ${sentence(error.message)}`;
    case 429:
      return "Too many requests right now. Wait a moment and try again.";
    default:
      return error.status >= 500
        ? `The server had a problem (error ${error.status}). Try again in a moment.`
        : `The server refused the request (${error.status}): ${sentence(error.message)}`;
  }
}

function sentence(text) {
  const t = String(text || "").trim();
  if (!t) return "no reason given.";
  return t.charAt(0).toUpperCase() + t.slice(1) + (/[.!?]$/.test(t) ? "" : ".");
}

export function plural(n, one, many = `${one}s`) {
  return `${n} ${n === 1 ? one : many}`;
}

export const STATUS_WORDS = {
  // vendor orders
  unapproved: "Unapproved",
  approved: "Approved",
  partially_handed_over: "Partially handed over",
  handed_over: "Handed over",
  cancelled: "Cancelled",
  // orders
  received: "Received",
  backordered: "Backordered",
  ready: "Ready",
  // purchase orders
  partially_received: "Partially received",
};

export function badge(status, scope = "") {
  const words = scope === "po" && status === "received" ? "Received" : STATUS_WORDS[status] || status;
  return h("span", { class: `badge badge-${status}${scope ? ` badge-${scope}` : ""}` }, words);
}

// --- DOM ------------------------------------------------------------------------------

/** h("p", {class: "x", "aria-live": "polite", onclick: fn}, "text", child...) */
export function h(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") node.addEventListener(name.slice(2), value);
    else if (name === "class") node.className = value;
    else if (name === "text") node.textContent = value;
    else if (name in node && typeof value !== "string") node[name] = value;
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function clear(node, ...children) {
  node.replaceChildren();
  append(node, children);
  return node;
}

export function code(text) {
  return h("code", {}, text);
}

/** Show a message in a region (role=status or role=alert is set in the HTML). */
export function say(region, text, kind = "info") {
  region.hidden = !text;
  region.dataset.kind = kind;
  region.textContent = text || "";
}

/** A random id the API accepts ([A-Za-z0-9][A-Za-z0-9_-]{0,63}). */
export function newId(prefix) {
  const bytes = crypto.getRandomValues(new Uint8Array(10));
  return `${prefix}-${Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("")}`;
}

export function timeNow() {
  return new Date().toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

/**
 * The sign-in / sign-out cycle both pages share. `check(key, accountId)` proves the key
 * with a real API call (and may return data); `start(session)` shows the signed-in view.
 */
export function signIn({ kind, form, input, error, signedIn, signedOut, who, signOutButton, check, start }) {
  const store = keyStore(kind);
  let session = null;

  function showSignedOut(message = "") {
    session = null;
    signedIn.hidden = true;
    signedOut.hidden = false;
    signOutButton.hidden = true;
    who.textContent = "";
    clear(error);
    if (message) {
      say(error, message, "error");
    } else {
      error.hidden = true;
    }
  }

  async function begin(key, accountId, fromStorage) {
    const data = await check(key, accountId);
    store.set(key);
    session = { key, accountId, data, expired: () => expire() };
    signedOut.hidden = true;
    signedIn.hidden = false;
    signOutButton.hidden = false;
    who.textContent = `${kind === "vendor" ? "Vendor" : "Seller"} ${accountId}`;
    input.value = "";
    await start(session, { fromStorage });
  }

  function expire() {
    store.clear();
    showSignedOut("Your key is no longer accepted. Sign in again.");
    input.focus();
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const parsed = parseKey(input.value, kind);
    if (parsed.problem) {
      clear(error, parsed.problem, parsed.otherPage ? [" ", h("a", { href: parsed.otherPage }, "Open it")] : []);
      error.hidden = false;
      error.dataset.kind = "error";
      input.setAttribute("aria-invalid", "true");
      input.focus();
      return;
    }
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    button.textContent = "Signing in…";
    try {
      await begin(parsed.key, parsed.accountId, false);
      input.removeAttribute("aria-invalid");
    } catch (e) {
      say(error, explain(e, `${kind === "vendor" ? "Vendor" : "Seller"} ${parsed.accountId}`), "error");
      input.setAttribute("aria-invalid", "true");
      input.focus();
    } finally {
      button.disabled = false;
      button.textContent = "Sign in";
    }
  });

  signOutButton.addEventListener("click", () => {
    store.clear();
    showSignedOut();
    input.focus();
  });

  const saved = store.get();
  const parsed = saved ? parseKey(saved, kind) : null;
  if (parsed && !parsed.problem) {
    begin(parsed.key, parsed.accountId, true).catch((e) => {
      if (e.status === 401 || e.status === 403) store.clear(); // otherwise a reload tries again
      showSignedOut(explain(e));
    });
  } else {
    showSignedOut();
  }
  return () => session;
}
