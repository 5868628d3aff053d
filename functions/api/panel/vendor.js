// The vendor panel: the B2B orders raised for this vendor, grouped by status; approve;
// hand over all or part of each line; the webhook endpoints. Talks only to the public API,
// with the vendor's key.

import { api, badge, clear, code, explain, h, newId, path, plural, say, signIn, timeNow, webhooks } from "./common.js";

const GROUPS = [
  { status: "unapproved", title: "Waiting for your approval", empty: "No orders wait for approval." },
  { status: "approved", title: "Approved, to hand over", empty: "No approved orders wait for a handover." },
  { status: "partially_handed_over", title: "Partially handed over", empty: "No order is partially handed over." },
  { status: "handed_over", title: "Handed over", empty: "Nothing handed over yet.", history: true },
  { status: "cancelled", title: "Cancelled by the seller", empty: "No cancelled orders.", history: true },
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
    $("orders-title").focus();
  },
  stop: () => hooks.stop(),
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

async function load({ announce = false } = {}) {
  ordersBox.setAttribute("aria-busy", "true");
  try {
    const answer = await call("GET", path("vendors", session.accountId, "orders"));
    show(answer.items);
    if (announce) say(pageMessage, `Orders refreshed at ${timeNow()}.`, "info");
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

const open = (line) => Math.max(0, line.qty - (line.handed_over_qty || 0));
const openUnits = (vo) => vo.lines.reduce((n, line) => n + open(line), 0);

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
  clear(ordersBox, GROUPS.map((group) => renderGroup(group, byStatus[group.status] || [])));
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
  const card = h("article", { class: "card order", id: `vo-${vo.vendor_order_id}`, "aria-labelledby": titleId, "data-status": vo.status },
    h("header", { class: "card-head" },
      h("h3", { id: titleId }, "B2B order ", code(vo.vendor_order_id)),
      badge(vo.status),
    ),
    h("dl", { class: "meta" },
      h("div", {}, h("dt", {}, "Seller"), h("dd", {}, vo.seller_id)),
      h("div", {}, h("dt", {}, "Purchase order"), h("dd", {}, code(vo.po_id))),
      h("div", {}, h("dt", {}, "Open"), h("dd", {}, plural(openUnits(vo), "unit"))),
    ),
    flash ? h("p", { class: "message", "data-kind": flash.kind, role: flash.kind === "error" ? "alert" : "status", tabindex: "-1", "data-flash": "" }, flash.text) : null,
    canHandOver ? handoverForm(vo) : linesTable(vo, null),
    vo.status === "unapproved" ? approveBlock(vo) : null,
  );
  return card;
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
        h("td", { class: "num" }, String(line.qty)),
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
  bar.style.width = `${Math.round((100 * done) / Math.max(1, line.qty))}%`; // CSSOM: the CSP allows no style attributes
  return h("span", { class: "progress", "aria-hidden": "true" }, bar);
}

function approveBlock(vo) {
  const button = h("button", { type: "button", class: "button primary" }, "Approve order");
  button.addEventListener("click", async () => {
    button.disabled = true;
    button.textContent = "Approving…";
    try {
      await call("POST", path("vendors", session.accountId, "orders", vo.vendor_order_id, "approve"));
      flashes.clear();
      flashes.set(vo.vendor_order_id, { kind: "success", text: "Approved. You can hand the goods over now." });
    } catch (e) {
      if (e.status === 401) return session.expired();
      flashes.clear();
      flashes.set(vo.vendor_order_id, { kind: "error", text: `The approval did not go through. ${explain(e, `B2B order ${vo.vendor_order_id}`)}` });
    }
    await load();
    focusCard(vo.vendor_order_id);
  });
  return h("div", { class: "actions" },
    h("p", { class: "hint" }, "Approve this order before handing it over."),
    button);
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
