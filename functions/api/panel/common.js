// Shared by the vendor panel and the seller console: the API client, the key kept in
// sessionStorage, words for the API's refusals, a small DOM helper (never HTML from strings:
// everything the server sends is set as text), and the Webhooks section both pages show.

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

/**
 * A path under /v1 with each segment escaped: path("vendors", id, "orders"). A SKU may hold
 * `/`, `#`, `?` or spaces, so every segment is encoded whole. A segment of only "." or ".."
 * (a SKU may be one) cannot be sent from a browser: the URL parser drops or climbs it even
 * when encoded, and would ask for another address, so it is refused here instead.
 */
export function path(...segments) {
  return "v1/" + segments.map((s) => {
    const text = String(s);
    if (text === "." || text === "..") {
      throw new ApiError(400, "unreachable_in_browser", `"${text}" cannot be looked up from this page; ask for it through the API`);
    }
    return encodeURIComponent(text);
  }).join("/");
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
  declined: "Declined",
  // orders
  received: "Received",
  backordered: "Backordered",
  ready: "Ready",
  // purchase orders
  open: "Open",
  partially_received: "Partially received",
  // webhook endpoints and their deliveries
  enabled: "Enabled",
  disabled: "Disabled",
  delivered: "Delivered",
  failed: "Failed",
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
 * with a real API call (and may return data); `start(session)` shows the signed-in view;
 * `stop()`, if given, clears it when the person signs out or the key is refused.
 */
export function signIn({ kind, form, input, error, signedIn, signedOut, who, signOutButton, check, start, stop }) {
  const store = keyStore(kind);
  let session = null;

  function showSignedOut(message = "") {
    session = null;
    if (stop) stop(); // forget what the signed-in view showed (a webhook secret, say)
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

// --- webhook endpoints (both pages) -----------------------------------------------------

/** The event types each kind of account can receive (the API's lists), with what each means. */
export const EVENT_TYPES = {
  seller: [
    ["order.backordered", "an order is left short after the stock on hand"],
    ["purchase_order.created", "a purchase order is raised"],
    ["goods.received", "a GRN inwards goods"],
    ["order.ready", "the last unit of an order is assigned: it can ship"],
    ["order.cancelled", "an order is cancelled"],
  ],
  vendor: [
    ["vendor_order.created", "a B2B order appears in your account"],
    ["vendor_order.updated", "its status or quantities change (approved, shrunk, cancelled)"],
  ],
};

const ENDPOINT_ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;
const DELIVERIES_PAGE = 20;

/** "12 Mar, 14:05:09" in the reader's time zone, from the API's ISO time. */
function dateTime(iso) {
  const date = new Date(iso);
  if (!iso || Number.isNaN(date.getTime())) return String(iso || "");
  return date.toLocaleString([], { day: "numeric", month: "short", hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

export function timeTag(iso) {
  return iso ? h("time", { datetime: iso, title: iso }, dateTime(iso)) : h("span", { class: "muted" }, "—");
}

/** A calendar date (YYYY-MM-DD, no time zone) as "12 Mar 2030", in a <time>. */
export function dateTag(day) {
  const date = new Date(`${day}T00:00:00Z`);
  const words = Number.isNaN(date.getTime())
    ? String(day || "")
    : date.toLocaleDateString([], { day: "numeric", month: "short", year: "numeric", timeZone: "UTC" });
  return h("time", { datetime: day }, words);
}

/** "in 5 s", "in 30 min", "in 2 h"; "" for a time already past. */
function fromNow(iso) {
  const s = Math.round((new Date(iso).getTime() - Date.now()) / 1000);
  if (!Number.isFinite(s) || s < 0) return "";
  if (s < 90) return `in ${s} s`;
  if (s < 90 * 60) return `in ${Math.round(s / 60)} min`;
  return `in ${Math.round(s / 3600)} h`;
}

const delivered = (d) => d.status_code !== null && d.status_code >= 200 && d.status_code < 300;

/**
 * The "Webhooks" section both pages share: the account's endpoints (URL, events, status),
 * adding one (its signing secret is shown once, right then, and kept nowhere), changing or
 * deleting one, and each one's recent deliveries. The page holds the section's elements
 * (#webhooks, #webhook-form, ...: see seller.html). Call `start(session)` once signed in
 * and `stop()` at sign-out.
 */
export function webhooks(kind) {
  const $ = (id) => document.getElementById(id);
  const list = $("webhooks");
  const message = $("webhooks-message");
  const secretBox = $("webhook-secret");
  const form = $("webhook-form");
  const formTitle = $("webhook-form-title");
  const idInput = $("webhook-id");
  const urlInput = $("webhook-url");
  const formError = $("webhook-error");
  const submit = $("webhook-submit");
  const cancel = $("webhook-cancel");

  let session = null;
  let endpoints = [];
  let editing = null; // the endpoint being changed; null while adding one
  let listRequest = 0;
  const openDeliveries = new Set(); // endpoint ids whose deliveries are shown
  const deliveryRequests = new Map(); // endpoint id -> the number of its latest request
  let deliveryRequest = 0;

  clear($("webhook-events"), EVENT_TYPES[kind].map(([type, words]) => h("label", { class: "check" },
    h("input", { type: "checkbox", name: "events", value: type }),
    h("span", {}, code(type), h("span", { class: "muted" }, ` — ${words}`)))));
  const boxes = [...$("webhook-events").querySelectorAll("input[type=checkbox]")];

  const route = (...rest) => path(kind === "seller" ? "sellers" : "vendors", session.accountId, "webhook-endpoints", ...rest);
  const call = (method, to, body) => api(method, to, { key: session.key, body });

  function refused(e) {
    if (session && e && (e.status === 401 || e.status === 403)) {
      session.expired();
      return true;
    }
    return !session; // signed out meanwhile: nothing to show
  }

  // --- the list ---

  async function load() {
    const request = ++listRequest;
    list.setAttribute("aria-busy", "true");
    try {
      const answer = await call("GET", route());
      if (request !== listRequest) return false;
      endpoints = answer.items || [];
      $("webhooks-updated").textContent = `Updated ${timeNow()}`;
      render();
      return true;
    } catch (e) {
      if (refused(e) || request !== listRequest) return false;
      say(message, `Could not load your webhook endpoints. ${explain(e)}`, "error");
      return false;
    } finally {
      list.setAttribute("aria-busy", "false");
    }
  }

  function render() {
    for (const id of openDeliveries) if (!endpoints.some((e) => e.endpoint_id === id)) openDeliveries.delete(id);
    if (!endpoints.length) {
      clear(list, h("div", { class: "empty card" },
        h("h3", {}, "No webhook endpoints yet"),
        h("p", {}, "Add one below: the events you pick are then posted, signed, to your system as they happen.")));
      return;
    }
    clear(list, h("ul", { class: "endpoint-list" }, endpoints.map((e) => h("li", {}, endpointCard(e)))));
  }

  function endpointCard(endpoint) {
    const id = endpoint.endpoint_id;
    const titleId = `wh-${id}-title`;
    const body = h("div", { class: "deliveries-body" });
    const details = h("details", { class: "deliveries" },
      h("summary", {}, "Recent deliveries", h("span", { class: "visually-hidden" }, ` to endpoint ${id}`)), body);
    details.addEventListener("toggle", () => {
      if (details.open) {
        openDeliveries.add(id);
        loadDeliveries(endpoint, body);
      } else {
        openDeliveries.delete(id);
      }
    });
    details.open = openDeliveries.has(id); // -> toggle -> loaded again after a refresh
    const changed = endpoint.updated_at && endpoint.updated_at !== endpoint.created_at;
    return h("article", { class: "card endpoint", id: `wh-${id}`, "aria-labelledby": titleId, "data-status": endpoint.status },
      h("header", { class: "card-head" },
        h("h3", { id: titleId }, "Endpoint ", code(id)),
        badge(endpoint.status),
      ),
      h("p", { class: "endpoint-url" }, code(endpoint.url)),
      h("p", { class: "endpoint-events" }, h("span", { class: "muted" }, "Events:"), (endpoint.events || []).map((t) => h("span", { class: "chip" }, code(t)))),
      endpoint.status === "disabled"
        ? h("p", { class: "callout", "data-kind": "error" },
          h("strong", {}, "Disabled: "), `${endpoint.disabled_reason || "no reason given"}. Nothing is sent to it until you save it again (Change, then Save and enable).`)
        : null,
      h("div", { class: "actions" },
        h("p", { class: "hint" }, "Added ", timeTag(endpoint.created_at), changed ? [" · changed ", timeTag(endpoint.updated_at)] : null),
        h("div", { class: "buttons" },
          h("button", { type: "button", class: "button small-button", "aria-label": `Change endpoint ${id}`, onclick: () => edit(endpoint) }, "Change"),
          h("button", { type: "button", class: "button small-button danger", "aria-label": `Delete endpoint ${id}`, onclick: (event) => remove(endpoint, event.currentTarget) }, "Delete"),
        ),
      ),
      details,
    );
  }

  // --- deliveries ---

  async function loadDeliveries(endpoint, box, { older = null } = {}) {
    const id = endpoint.endpoint_id;
    const request = ++deliveryRequest;
    deliveryRequests.set(id, request);
    if (!box.hasChildNodes()) box.append(h("p", { class: "muted empty-line" }, "Loading…"));
    box.setAttribute("aria-busy", "true");
    try {
      const query = `?limit=${DELIVERIES_PAGE}${older ? `&cursor=${encodeURIComponent(older.cursor)}` : ""}`;
      const answer = await call("GET", route(id, "deliveries") + query);
      if (deliveryRequests.get(id) !== request || !session) return;
      const items = [...(older ? older.items : []), ...(answer.items || [])];
      clear(box, deliveriesView(endpoint, box, items, answer.next_cursor));
    } catch (e) {
      if (refused(e) || deliveryRequests.get(id) !== request) return;
      clear(box,
        h("p", { class: "message", "data-kind": "error" }, `Could not load the deliveries. ${explain(e, `Webhook endpoint ${id}`)}`),
        h("button", { type: "button", class: "button small-button", onclick: () => loadDeliveries(endpoint, box) }, "Try again"));
    } finally {
      box.setAttribute("aria-busy", "false");
    }
  }

  function deliveriesView(endpoint, box, items, next) {
    const failures = items.filter((d) => !delivered(d)).length;
    const head = h("div", { class: "deliveries-head" },
      h("span", { class: "muted small" },
        items.length ? `${plural(items.length, "attempt")}${failures ? `, ${failures} failed` : ""}, newest first · loaded ${timeNow()}` : `Loaded ${timeNow()}`),
      h("button", { type: "button", class: "button small-button", onclick: () => loadDeliveries(endpoint, box) }, "Refresh"));
    if (!items.length) {
      return [head, h("p", { class: "muted empty-line" }, "Nothing sent yet. Each attempt to deliver an event is listed here as it happens.")];
    }
    return [
      head,
      h("div", { class: "table-wrap" }, h("table", { class: "lines deliveries-table" },
        h("caption", { class: "visually-hidden" }, `Recent deliveries to endpoint ${endpoint.endpoint_id}, newest first`),
        h("thead", {}, h("tr", {},
          h("th", { scope: "col" }, "Sent"),
          h("th", { scope: "col" }, "Event"),
          h("th", { scope: "col", class: "num" }, "Attempt"),
          h("th", { scope: "col" }, "Result"),
          h("th", { scope: "col" }, "Next attempt"))),
        h("tbody", {}, items.map(deliveryRow)))),
      next
        ? h("button", { type: "button", class: "button small-button more", onclick: () => loadDeliveries(endpoint, box, { older: { items, cursor: next } }) }, "Show older")
        : null,
    ];
  }

  function deliveryRow(d) {
    const ok = delivered(d);
    const answer = d.status_code !== null && d.status_code !== undefined ? `HTTP ${d.status_code}` : "no answer";
    const soon = d.next_attempt_at ? fromNow(d.next_attempt_at) : "";
    // data-label: the column's name, shown beside each cell on a phone (rows stacked there)
    return h("tr", { class: ok ? "delivered" : "failed", "data-webhook-id": d.webhook_id },
      h("td", { "data-label": "Sent" }, timeTag(d.at)),
      h("td", { "data-label": "Event" }, code(d.type)),
      h("td", { class: "num", "data-label": "Attempt" }, String(d.attempt)),
      h("td", { "data-label": "Result" }, badge(ok ? "delivered" : "failed"), " ", answer,
        d.error ? h("span", { class: "delivery-error" }, `: ${d.error}`) : null),
      h("td", { "data-label": "Next attempt" }, d.next_attempt_at
        ? [timeTag(d.next_attempt_at), soon ? ` (${soon})` : null]
        : ok ? h("span", { class: "muted" }, "—") : h("span", { class: "delivery-error" }, "None: no more attempts")),
    );
  }

  // --- adding and changing ---

  function invalid(...fields) {
    for (const f of [idInput, urlInput, ...boxes]) f.removeAttribute("aria-invalid");
    for (const f of fields) f.setAttribute("aria-invalid", "true");
    fields[0]?.focus();
  }

  function adding() {
    editing = null;
    formTitle.textContent = "Add an endpoint";
    idInput.readOnly = false;
    idInput.value = "";
    urlInput.value = "";
    for (const b of boxes) b.checked = true;
    submit.textContent = "Add endpoint";
    cancel.hidden = true;
    say(formError, "");
    invalid();
  }

  function edit(endpoint) {
    editing = endpoint;
    clear(formTitle, "Change endpoint ", code(endpoint.endpoint_id));
    idInput.value = endpoint.endpoint_id;
    idInput.readOnly = true; // the id names the endpoint: a new id is a new endpoint
    urlInput.value = endpoint.url;
    for (const b of boxes) b.checked = (endpoint.events || []).includes(b.value);
    submit.textContent = endpoint.status === "disabled" ? "Save and enable" : "Save changes";
    cancel.hidden = false;
    say(formError, "");
    invalid();
    form.scrollIntoView({ block: "nearest" });
    urlInput.focus();
  }

  function problem(id, url, events) {
    if (!ENDPOINT_ID.test(id)) return [id ? "An endpoint id is made of letters, digits, - and _ (at most 64)." : "Enter an id for the endpoint, such as erp.", idInput];
    if (!editing && endpoints.some((e) => e.endpoint_id === id)) return [`You already have an endpoint ${id}. Pick another id, or use its Change button.`, idInput];
    if (!url) return ["Enter the URL where your system receives the events.", urlInput];
    let parsed = null;
    try {
      parsed = new URL(url);
    } catch {
      parsed = null;
    }
    if (!parsed || !["https:", "http:"].includes(parsed.protocol)) return ["Enter the whole URL, starting with https://.", urlInput];
    if (!events.length) return ["Pick at least one event to send.", boxes[0]];
    return null;
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const id = idInput.value.trim();
    const url = urlInput.value.trim();
    const events = boxes.filter((b) => b.checked).map((b) => b.value);
    const refusal = problem(id, url, events);
    if (refusal) {
      say(formError, refusal[0], "error");
      invalid(refusal[1]);
      return;
    }
    invalid();
    say(formError, "");
    const wasDisabled = editing && editing.status === "disabled";
    const label = submit.textContent;
    submit.disabled = true;
    submit.textContent = "Saving…";
    try {
      const answer = await call("PUT", route(id), { url, events });
      const secret = answer && answer.secret; // only in the answer that created it
      say(message, secret
        ? `Endpoint ${id} added: the events you picked are sent to it from now on.`
        : editing
          ? `Endpoint ${id} saved${wasDisabled ? " and enabled again" : ""}.`
          : `Endpoint ${id} already existed: its URL and events were replaced, and its secret is unchanged.`, "success");
      adding();
      await load();
      if (!session) return;
      if (secret) showSecret(id, secret);
      else message.focus();
    } catch (e) {
      if (refused(e)) return;
      say(formError, `The endpoint was not saved. ${explain(e, `Webhook endpoint ${id}`)}`, "error");
      const fields = new Set((e.details || []).map((d) => d && d.field));
      invalid(e.code === "invalid_url" || fields.has("url") ? urlInput : fields.has("events") ? boxes[0] : editing ? urlInput : idInput);
    } finally {
      submit.disabled = false;
      if (submit.textContent === "Saving…") submit.textContent = label;
    }
  });

  cancel.addEventListener("click", () => {
    const id = editing && editing.endpoint_id;
    adding();
    document.getElementById(`wh-${id}`)?.querySelector("button")?.focus();
  });

  // --- the secret, shown once ---

  function showSecret(id, secret) {
    const value = h("code", { class: "secret-value", id: "webhook-secret-value" }, secret);
    const copy = h("button", { type: "button", class: "button small-button" }, "Copy");
    copy.addEventListener("click", async () => {
      try {
        await navigator.clipboard.writeText(secret);
        copy.textContent = "Copied";
      } catch {
        getSelection().selectAllChildren(value); // no clipboard here: selected, to copy by hand
        copy.textContent = "Selected: copy it";
      }
    });
    const done = h("button", { type: "button", class: "button primary" }, "I have saved it");
    done.addEventListener("click", () => {
      hideSecret();
      document.getElementById(`wh-${id}`)?.querySelector("button")?.focus();
    });
    const title = h("h3", { id: "webhook-secret-title", tabindex: "-1" }, "The signing secret of endpoint ", code(id));
    clear(secretBox,
      title,
      h("p", { class: "callout", "data-kind": "warning" },
        h("strong", {}, "Copy it now: it will not be shown again. "),
        "Your system checks the webhook-signature of each delivery with it (Standard Webhooks). If it is lost, delete the endpoint and add it again to get a new one."),
      h("div", { class: "secret-row" }, value, copy),
      h("div", { class: "actions" },
        h("p", { class: "hint" }, "This page does not keep it: it is gone once you close this box, reload or sign out."),
        done),
    );
    secretBox.hidden = false;
    secretBox.scrollIntoView({ block: "nearest" });
    title.focus({ preventScroll: true });
  }

  function hideSecret() {
    clear(secretBox);
    secretBox.hidden = true;
  }

  // --- deleting ---

  async function remove(endpoint, button) {
    const id = endpoint.endpoint_id;
    const sure = window.confirm(`Delete the webhook endpoint ${id}?\n\nNo more events will be sent to ${endpoint.url}. This cannot be undone: added again, it gets a new secret.`);
    if (!sure) return;
    button.disabled = true;
    button.textContent = "Deleting…";
    try {
      await call("DELETE", route(id));
      say(message, `Endpoint ${id} deleted: no more events are sent to it.`, "success");
    } catch (e) {
      if (refused(e)) return;
      if (e.status === 404) say(message, `Endpoint ${id} was already deleted.`, "info");
      else say(message, `Endpoint ${id} was not deleted. ${explain(e, `Webhook endpoint ${id}`)}`, "error");
    }
    if (editing && editing.endpoint_id === id) adding();
    openDeliveries.delete(id);
    await load();
    message.focus();
  }

  $("webhooks-refresh").addEventListener("click", async () => {
    if (await load()) say(message, `Webhook endpoints refreshed at ${timeNow()}.`, "info");
  });

  return {
    start(s) {
      session = s;
      endpoints = [];
      openDeliveries.clear();
      hideSecret();
      adding();
      say(message, "");
      clear(list);
      load();
    },
    stop() {
      session = null;
      listRequest += 1;
      deliveryRequests.clear();
      openDeliveries.clear();
      endpoints = [];
      hideSecret();
      adding();
      say(message, "");
      clear(list);
    },
  };
}
