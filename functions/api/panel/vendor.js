// The vendor panel: the B2B orders raised for this vendor, grouped by status; approve (with
// the date it expects to ship) or decline; hand over all or part of each line, with the
// handovers so far; the webhook endpoints. Talks only to the public API,
// with the vendor's key.

import { api, badge, clear, code, dateTag, explain, h, newId, path, plural, say, signIn, timeNow, timeTag, webhooks } from "./common.js";

const GROUPS = [
  { status: "unapproved", title: "Waiting for your approval", empty: "No orders wait for approval." },
  { status: "approved", title: "Approved, to hand over", empty: "No approved orders wait for a handover." },
  { status: "partially_handed_over", title: "Partially handed over", empty: "No order is partially handed over." },
  { status: "handed_over", title: "Handed over", empty: "Nothing handed over yet.", history: true },
  { status: "cancelled", title: "Cancelled by the seller", empty: "No cancelled orders.", history: true },
  { status: "declined", title: "Declined by you", empty: "No declined orders.", history: true },
];

const $ = (id) => document.getElementById(id);
const ordersBox = $("orders");
const pageMessage = $("page-message");

let session = null;
let orders = [];
let lastLoad = 0;
const flashes = new Map(); // vendor_order_id -> {kind, text}: shown in the order's card
const pendingHandovers = new Map(); // vendor_order_id + lines -> handover_id, reused on a retry
const hooks = webhooks("vendor");

// New orders appear without a click: the list is read again every minute while the page
// is in view, less often (up to every 5 minutes) while nothing changes.
const POLL_MIN_MS = 60_000;
const POLL_MAX_MS = 300_000;
let pollDelay = POLL_MIN_MS;
let pollTimer = null;
let polling = false;

function schedulePoll() {
  clearTimeout(pollTimer);
  if (!polling) return;
  pollTimer = setTimeout(async () => {
    if (!polling) return;
    if (document.visibilityState === "visible") {
      const changed = await load();
      pollDelay = changed ? POLL_MIN_MS : Math.min(pollDelay * 2, POLL_MAX_MS);
    }
    schedulePoll();
  }, pollDelay);
}

signIn({
  kind: "vendor",
  form: $("signin-form"),
  input: $("key"),
  error: $("signin-error"),
  signedIn: $("signed-in"),
  signedOut: $("signed-out"),
  who: $("who"),
  signOutButton: $("sign-out"),
  check: (key, vendorId) => api("GET", path("vendors", vendorId, "orders"), { key }),
  start: (s) => {
    session = s;
    flashes.clear();
    say(pageMessage, "");
    show(s.data.items);
    hooks.start(s);
    polling = true;
    pollDelay = POLL_MIN_MS;
    schedulePoll();
    $("orders-title").focus();
  },
  stop: () => {
    polling = false;
    clearTimeout(pollTimer);
    hooks.stop();
  },
});


$("refresh").addEventListener("click", () => {
  flashes.clear();
  load({ announce: true });
});
document.addEventListener("visibilitychange", () => {
  if (session && document.visibilityState === "visible" && Date.now() - lastLoad > 30_000) load();
});

function call(method, route, body) {
  return api(method, route, { key: session.key, body });
}

/** Read the orders again; whether they changed. */
async function load({ announce = false } = {}) {
  ordersBox.setAttribute("aria-busy", "true");
  try {
    const answer = await call("GET", path("vendors", session.accountId, "orders"));
    const changed = JSON.stringify(answer.items) !== JSON.stringify(orders);
    show(answer.items);
    if (announce) say(pageMessage, `Orders refreshed at ${timeNow()}.`, "info");
    return changed;
  } catch (e) {
    if (e.status === 401 || e.status === 403) return session.expired();
    say(pageMessage, `Could not load your orders. ${explain(e)}`, "error");
  } finally {
    ordersBox.setAttribute("aria-busy", "false");
  }
}

function show(items) {
  orders = items || [];
  lastLoad = Date.now();
  $("updated").textContent = `Updated ${timeNow()}`;
  render();
}

const onOrder = (line) => line.qty - (line.cancelled_qty || 0); // qty is what was first ordered
const open = (line) => Math.max(0, onOrder(line) - (line.handed_over_qty || 0));
const openUnits = (vo) => vo.lines.reduce((n, line) => n + open(line), 0);
const nothingHandedOver = (vo) => !(vo.handovers || []).length && vo.lines.every((line) => !line.handed_over_qty);

function render() {
  const byStatus = Object.groupBy
    ? Object.groupBy(orders, (vo) => vo.status)
    : orders.reduce((acc, vo) => ((acc[vo.status] ||= []).push(vo), acc), {});
  const toApprove = (byStatus.unapproved || []).length;
  const toHand = [...(byStatus.approved || []), ...(byStatus.partially_handed_over || [])].length;
  $("summary").textContent = orders.length
    ? `${plural(orders.length, "order")} · ${toApprove} to approve · ${toHand} to hand over`
    : "";

  if (!orders.length) {
    clear(
      ordersBox,
      h("div", { class: "empty card" },
        h("h2", {}, "No orders yet"),
        h("p", {}, "When a seller's order needs more than the seller has in stock, a purchase order for the missing quantity is raised against you and its B2B order appears here."),
      ),
    );
    return;
  }
  const typed = typedValues();
  clear(ordersBox, GROUPS.map((group) => renderGroup(group, byStatus[group.status] || [])));
  restore(typed);
}

/** What the vendor typed in the cards (and where the cursor was), so that a refresh keeps it. */
function typedValues() {
  const key = (el) => `${el.closest("article")?.id}|${el.name}`;
  const values = new Map();
  for (const el of ordersBox.querySelectorAll("input[name], textarea[name]")) {
    if (el.value !== el.defaultValue) values.set(key(el), el.value);
  }
  const active = ordersBox.contains(document.activeElement) && document.activeElement.name ? key(document.activeElement) : null;
  return { values, active, key };
}

function restore({ values, active, key }) {
  for (const el of ordersBox.querySelectorAll("input[name], textarea[name]")) {
    const k = key(el);
    if (values.has(k) && !el.disabled) el.value = values.get(k);
    if (k === active) el.focus();
  }
}

function renderGroup(group, items) {
  const id = `group-${group.status}`;
  const heading = h("h2", { id, class: "group-title" }, group.title, " ", h("span", { class: "count" }, String(items.length)));
  const body = items.length
    ? h("div", { class: "cards" }, items.map(renderOrder))
    : h("p", { class: "muted empty-line" }, group.empty);
  if (group.history) {
    return h("details", { class: "group history", "aria-labelledby": id, open: items.length > 0 && items.length <= 3 },
      h("summary", {}, heading), body);
  }
  return h("section", { class: "group", "aria-labelledby": id }, heading, body);
}

function renderOrder(vo) {
  const titleId = `vo-${vo.vendor_order_id}-title`;
  const flash = flashes.get(vo.vendor_order_id);
  const canHandOver = vo.status === "approved" || vo.status === "partially_handed_over";
  const canDecline = (vo.status === "unapproved" || vo.status === "approved") && nothingHandedOver(vo);
  const card = h("article", { class: "card order", id: `vo-${vo.vendor_order_id}`, "aria-labelledby": titleId, "data-status": vo.status },
    h("header", { class: "card-head" },
      h("h3", { id: titleId }, "B2B order ", code(vo.vendor_order_id)),
      badge(vo.status),
    ),
    h("dl", { class: "meta" },
      h("div", {}, h("dt", {}, "Seller"), h("dd", { class: "seller" },
        vo.seller_name && vo.seller_name !== vo.seller_id ? [vo.seller_name, " ", h("span", { class: "muted" }, `(${vo.seller_id})`)] : vo.seller_id)),
      h("div", {}, h("dt", {}, "Purchase order"), h("dd", {}, code(vo.po_id))),
      vo.created_at ? h("div", {}, h("dt", {}, "Raised"), h("dd", {}, timeTag(vo.created_at))) : null,
      vo.expected_ship_date ? h("div", {}, h("dt", {}, "Expected to ship"), h("dd", { class: "ship-date" }, dateTag(vo.expected_ship_date))) : null,
      h("div", {}, h("dt", {}, "Open"), h("dd", {}, plural(openUnits(vo), "unit"))),
    ),
    vo.status === "declined"
      ? h("p", { class: "callout declined-reason", "data-kind": "error" }, h("strong", {}, "Declined: "), vo.declined_reason || "no reason given")
      : null,
    flash ? h("p", { class: "message", "data-kind": flash.kind, role: flash.kind === "error" ? "alert" : "status", tabindex: "-1", "data-flash": "" }, flash.text) : null,
    canHandOver ? handoverForm(vo) : linesTable(vo, null),
    vo.status === "unapproved" || canHandOver ? approveBlock(vo) : null,
    canDecline ? declineBlock(vo) : null,
    handoverHistory(vo),
  );
  return card;
}

function handoverHistory(vo) {
  const handovers = vo.handovers || [];
  if (!handovers.length) return null;
  const titleId = `vo-${vo.vendor_order_id}-handovers`;
  return h("section", { class: "handover-history", "aria-labelledby": titleId },
    h("h4", { id: titleId, class: "history-title" }, `Handovers (${handovers.length})`),
    h("ul", { class: "handover-list" }, handovers.map((ho) => h("li", { "data-handover-id": ho.handover_id },
      code(ho.handover_id), " · ", timeTag(ho.created_at), " · ",
      ho.lines.map((line, i) => [i ? ", " : "", `${line.qty} × `, code(line.sku)]),
    ))),
  );
}

function linesTable(vo, inputs) {
  return h("div", { class: "table-wrap" },
    h("table", { class: "lines" },
      h("caption", { class: "visually-hidden" }, `Lines of B2B order ${vo.vendor_order_id}`),
      h("thead", {}, h("tr", {},
        h("th", { scope: "col" }, "SKU"),
        h("th", { scope: "col", class: "num" }, "Ordered"),
        h("th", { scope: "col", class: "num" }, "Handed over"),
        h("th", { scope: "col", class: "num" }, "Open"),
        inputs ? h("th", { scope: "col", class: "num" }, "Hand over now") : null,
      )),
      h("tbody", {}, vo.lines.map((line, i) => h("tr", {},
        h("th", { scope: "row" }, code(line.sku), progress(line)),
        h("td", { class: "num" }, String(line.qty), line.cancelled_qty ? h("span", { class: "muted" }, ` (${line.cancelled_qty} cancelled)`) : null),
        h("td", { class: "num" }, String(line.handed_over_qty || 0)),
        h("td", { class: "num" }, String(open(line))),
        inputs ? h("td", { class: "num" }, inputs[i]) : null,
      ))),
    ),
  );
}

function progress(line) {
  const done = line.handed_over_qty || 0;
  const bar = h("span", { class: "progress-bar" });
  bar.style.width = `${Math.round((100 * done) / Math.max(1, onOrder(line)))}%`; // CSSOM: the CSP allows no style attributes
  return h("span", { class: "progress", "aria-hidden": "true" }, bar);
}

/** Approve an unapproved order, or change the ship date of an approved one: the date is optional. */
function approveBlock(vo) {
  const first = vo.status === "unapproved";
  const dateId = `ship-${vo.vendor_order_id}`;
  const date = h("input", { type: "date", id: dateId, name: "expected_ship_date", class: "ship-input", value: vo.expected_ship_date || "",
    "aria-describedby": `${dateId}-hint` });
  const button = h("button", { type: "submit", class: first ? "button primary" : "button" }, first ? "Approve order" : "Change ship date");
  const form = h("form", { class: "approve", novalidate: true, "aria-label": `${first ? "Approve" : "Ship date of"} B2B order ${vo.vendor_order_id}` },
    h("div", { class: "vo-form" },
      h("div", {},
        h("label", { for: dateId }, first ? "Expected ship date (optional)" : "Expected ship date"),
        date)),
    h("div", { class: "actions" },
      h("p", { class: "hint", id: `${dateId}-hint` }, first
        ? "Approve this order before handing it over. The seller sees the ship date you give."
        : "Tell the seller when you now expect to ship."),
      button),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const day = date.value;
    if (!first && (!day || day === vo.expected_ship_date)) {
      date.focus();
      return;
    }
    button.disabled = true;
    button.textContent = first ? "Approving…" : "Saving…";
    try {
      await call("POST", path("vendors", session.accountId, "orders", vo.vendor_order_id, "approve"), day ? { expected_ship_date: day } : undefined);
      flashes.clear();
      flashes.set(vo.vendor_order_id, { kind: "success", text: first ? "Approved. You can hand the goods over now." : "The expected ship date was changed." });
    } catch (e) {
      if (e.status === 401) return session.expired();
      flashes.clear();
      flashes.set(vo.vendor_order_id, { kind: "error", text: `${first ? "The approval" : "The new ship date"} did not go through. ${explain(e, `B2B order ${vo.vendor_order_id}`)}` });
    }
    await load();
    focusCard(vo.vendor_order_id);
  });
  return form;
}

/** Decline an order nothing of which is handed over: a reason for the seller, then the call. */
function declineBlock(vo) {
  const reasonId = `decline-${vo.vendor_order_id}`;
  const reason = h("input", { id: reasonId, name: "reason", class: "decline-reason", maxlength: "500", autocomplete: "off",
    "aria-describedby": `${reasonId}-err`, required: true });
  const error = h("span", { class: "field-error", id: `${reasonId}-err`, role: "alert" });
  const submit = h("button", { type: "submit", class: "button danger" }, "Decline order");
  const cancel = h("button", { type: "button", class: "button" }, "Keep it");
  const form = h("form", { class: "vo-form decline", novalidate: true, hidden: true, "aria-label": `Decline B2B order ${vo.vendor_order_id}` },
    h("div", { class: "grow" },
      h("label", { for: reasonId }, "Why do you decline it?"),
      reason,
      error),
    h("div", { class: "buttons" }, cancel, submit),
  );
  const open = h("button", { type: "button", class: "button small-button danger", "aria-expanded": "false", "aria-controls": `${reasonId}-form` }, "Decline…");
  form.id = `${reasonId}-form`;
  const toggle = (shown) => {
    form.hidden = !shown;
    open.hidden = shown;
    open.setAttribute("aria-expanded", String(shown));
    (shown ? reason : open).focus();
  };
  open.addEventListener("click", () => toggle(true));
  cancel.addEventListener("click", () => toggle(false));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = reason.value.trim();
    const problem = !text ? "Give a reason: the seller sees it." : text.length > 500 ? "At most 500 characters." : "";
    error.textContent = problem;
    reason.setAttribute("aria-invalid", problem ? "true" : "false");
    if (problem) {
      reason.focus();
      return;
    }
    submit.disabled = true;
    submit.textContent = "Declining…";
    try {
      await call("POST", path("vendors", session.accountId, "orders", vo.vendor_order_id, "decline"), { reason: text });
      flashes.clear();
      flashes.set(vo.vendor_order_id, { kind: "success", text: "Declined. The seller was told why and will look for the goods elsewhere." });
    } catch (e) {
      if (e.status === 401) return session.expired();
      flashes.clear();
      flashes.set(vo.vendor_order_id, { kind: "error", text: `The order was not declined. ${explain(e, `B2B order ${vo.vendor_order_id}`)}` });
    }
    await load();
    focusCard(vo.vendor_order_id);
  });
  return h("div", { class: "decline-block" },
    h("div", { class: "actions" }, h("p", { class: "hint" }, "Cannot supply it? Decline it before handing anything over."), open),
    form);
}

function handoverForm(vo) {
  const formId = `handover-${vo.vendor_order_id}`;
  const errors = [];
  const inputs = vo.lines.map((line, i) => {
    const max = open(line);
    const errorId = `${formId}-err-${i}`;
    const input = h("input", {
      type: "number", inputmode: "numeric", min: "0", max: String(max), step: "1", value: String(max),
      name: line.sku, class: "qty", disabled: max === 0,
      "aria-label": `Quantity of ${line.sku} to hand over now, up to ${max}`,
      "aria-describedby": errorId,
    });
    const error = h("span", { class: "field-error", id: errorId });
    errors.push(error);
    return h("span", { class: "qty-field" }, input, error);
  });
  const fields = inputs.map((wrap) => wrap.querySelector("input"));
  const submit = h("button", { type: "submit", class: "button primary" });
  const formError = h("p", { class: "message", "data-kind": "error", role: "alert", hidden: true });

  function check() {
    let total = 0;
    let ok = true;
    fields.forEach((input, i) => {
      const max = open(vo.lines[i]);
      const text = input.value.trim();
      const n = text === "" ? 0 : Number(text);
      let problem = "";
      if (!Number.isInteger(n) || n < 0) problem = "Enter a whole number, 0 or more.";
      else if (n > max) problem = `Only ${max} open: at most ${max}.`;
      errors[i].textContent = problem;
      input.setAttribute("aria-invalid", problem ? "true" : "false");
      if (problem) ok = false;
      else total += n;
    });
    submit.textContent = ok && total ? `Hand over ${plural(total, "unit")}` : "Hand over";
    return { ok, total };
  }

  const form = h("form", { class: "handover", id: formId, novalidate: true, "aria-label": `Hand over B2B order ${vo.vendor_order_id}` },
    linesTable(vo, inputs),
    formError,
    h("div", { class: "actions" },
      h("p", { class: "hint" }, "All that is open is filled in. Lower a quantity to hand over part of a line."),
      submit),
  );
  form.addEventListener("input", check);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const { ok, total } = check();
    formError.hidden = true;
    if (!ok) {
      say(formError, "Check the quantities: you can hand over at most what is still open.", "error");
      fields.find((f) => f.getAttribute("aria-invalid") === "true")?.focus();
      return;
    }
    if (!total) {
      say(formError, "Enter a quantity to hand over on at least one line.", "error");
      fields.find((f) => !f.disabled)?.focus();
      return;
    }
    const lines = vo.lines
      .map((line, i) => ({ sku: line.sku, qty: Number(fields[i].value || 0) }))
      .filter((line) => line.qty > 0);
    const attempt = `${vo.vendor_order_id} ${JSON.stringify(lines)}`;
    const handoverId = pendingHandovers.get(attempt) || newId("h");
    pendingHandovers.set(attempt, handoverId);
    submit.disabled = true;
    submit.textContent = "Handing over…";
    try {
      const answer = await call("POST", path("vendors", session.accountId, "orders", vo.vendor_order_id, "handovers"),
        { handover_id: handoverId, lines });
      pendingHandovers.delete(attempt);
      const what = lines.map((l) => `${l.qty} × ${l.sku}`).join(", ");
      const grn = answer && answer.grn_id ? ` Goods receipt ${answer.grn_id} was recorded for the seller.` : "";
      const rest = answer && answer.vendor_order_status === "handed_over" ? " The order is fully handed over." : "";
      flashes.clear();
      flashes.set(vo.vendor_order_id, { kind: "success", text: `Handed over ${what}.${grn}${rest}` });
    } catch (e) {
      if (e.status === 401) return session.expired();
      if (e.status !== 0) pendingHandovers.delete(attempt); // a refusal: the next try is a new handover
      const stale = e.status === 422 ? " The order below now shows what is still open." : "";
      flashes.clear();
      flashes.set(vo.vendor_order_id, { kind: "error", text: `The handover was not recorded. ${explain(e, `B2B order ${vo.vendor_order_id}`)}${stale}` });
    }
    await load();
    focusCard(vo.vendor_order_id);
  });
  check();
  return form;
}

function focusCard(vendorOrderId) {
  const card = document.getElementById(`vo-${vendorOrderId}`);
  if (!card) return;
  const details = card.closest("details");
  if (details) details.open = true;
  card.classList.add("just-updated");
  const flash = card.querySelector("[data-flash]");
  (flash || card).focus({ preventScroll: true });
  card.scrollIntoView({ block: "nearest" });
}
