// The seller console: where each backorder stands (lines, assigned and pending, where the
// stock came from, the timeline), the purchase orders with their GRNs, per SKU the stock
// figures and the quantity to purchase, and the webhook endpoints. Talks only to the
// public API, with the seller's key.

import { api, badge, clear, code, explain, h, newId, path, plural, say, signIn, timeNow, timeTag, webhooks } from "./common.js";
import { NO_PO_WORDS, detailText, drawTimeline, timelineSteps, waitingAt, waitingAtAll } from "./timeline.js";

const $ = (id) => document.getElementById(id);
const ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;
const MAX_STOCK_CARDS = 8;
// The API's SKU rule: 1-255 characters, all printable (a space is; tabs, line breaks and
// other control or format characters are not), no space at either end.
const SKU_MAX = 255;
const UNPRINTABLE = /[\p{C}\p{Zl}\p{Zp}]|(?! )\p{Zs}/u;

function skuProblem(sku) {
  if (!sku) return "Enter a SKU.";
  if ([...sku].length > SKU_MAX) return `A SKU has at most ${SKU_MAX} characters.`;
  if (UNPRINTABLE.test(sku)) return "A SKU cannot hold tabs, line breaks or other invisible characters.";
  return null;
}

const REASON_WORDS = {
  in_stock: "In stock when the order arrived",
  received_for_order: "Received for this order (vendor handover)",
  freed_stock_oldest_first: "Stock that came free, given to the order waiting longest",
};

let session = null;
let shown = null; // {order, pos}
let stockSkus = [];
const openPos = new Set();
const hooks = webhooks("seller");

signIn({
  kind: "seller",
  form: $("signin-form"),
  input: $("key"),
  error: $("signin-error"),
  signedIn: $("signed-in"),
  signedOut: $("signed-out"),
  who: $("who"),
  signOutButton: $("sign-out"),
  check: (key, sellerId) => api("GET", path("sellers", sellerId, "purchase-orders"), { key }),
  start: (s) => {
    session = s;
    shown = null;
    stockSkus = [];
    clear($("order"));
    clear($("stock"));
    showPos(s.data.items);
    loadOrders({ replace: true });
    hooks.start(s);
    const wanted = orderInHash();
    if (wanted) loadOrder(wanted);
    else $("order-title").focus();
  },
  stop: () => hooks.stop(),
});

function call(route) {
  return api("GET", route, { key: session.key });
}

function failed(e) {
  if (e && (e.status === 401 || e.status === 403)) {
    session.expired();
    return true;
  }
  return false;
}

// --- the order -----------------------------------------------------------------------

function orderInHash() {
  const m = /^#order=(.+)$/.exec(location.hash);
  return m ? decodeURIComponent(m[1]) : null;
}

$("order-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const input = $("order-id");
  const id = input.value.trim();
  if (!ID.test(id)) {
    say($("order-error"), id ? "An order id is made of letters, digits, - and _ (at most 64)." : "Enter an order id.", "error");
    input.setAttribute("aria-invalid", "true");
    input.focus();
    return;
  }
  input.removeAttribute("aria-invalid");
  openOrder(id);
});

function openOrder(id) {
  if (orderInHash() === id) loadOrder(id);
  else location.hash = `order=${encodeURIComponent(id)}`; // -> hashchange -> loadOrder
}

window.addEventListener("hashchange", () => {
  const id = orderInHash();
  if (session && id) loadOrder(id);
});

let orderRequest = 0;

async function loadOrder(orderId) {
  const box = $("order");
  const error = $("order-error");
  const request = ++orderRequest;
  $("order-id").value = orderId;
  say(error, "");
  box.setAttribute("aria-busy", "true");
  try {
    const order = await call(path("sellers", session.accountId, "orders", orderId));
    const poIds = [...new Set(order.lines.flatMap((l) => l.purchase_order_ids || [l.purchase_order_id].filter(Boolean)))];
    const pos = await Promise.all(poIds.map((po) => call(path("sellers", session.accountId, "purchase-orders", po))));
    if (request !== orderRequest) return; // a newer lookup answers instead
    shown = { order, pos };
    renderOrder();
    say($("order-announce"), `Order ${order.order_id}: ${describeWait(order, timelineSteps(order, pos))}`);
    $("order-heading")?.focus();
    const skus = [...new Set(order.lines.map((l) => l.sku))];
    loadStock(skus.slice(0, MAX_STOCK_CARDS), { replace: true });
  } catch (e) {
    if (failed(e) || request !== orderRequest) return;
    shown = null;
    clear(box);
    say(error, explain(e, `Order ${orderId}`), "error");
    $("order-id").focus();
  } finally {
    box.setAttribute("aria-busy", "false");
  }
}

function describeWait(order, steps) {
  if (order.status === "ready") return "ready: every unit is assigned.";
  if (order.status === "cancelled") return "cancelled.";
  const all = waitingAtAll(steps);
  return all.length ? `waiting at ${all.map((at) => `“${at.title}”: ${detailText(at)}`).join("; and at ")}.` : "in progress.";
}

function renderOrder() {
  const { order, pos } = shown;
  const lines = order.lines;
  const ordered = lines.reduce((n, l) => n + l.qty, 0);
  const assigned = lines.reduce((n, l) => n + (l.assigned_qty || 0), 0);
  const pending = lines.reduce((n, l) => n + (l.pending_qty || 0), 0);
  const cancelled = lines.reduce((n, l) => n + (l.cancelled_qty || 0), 0);
  const steps = timelineSteps(order, pos);
  const calloutKind = order.status === "ready" ? "success" : order.status === "cancelled" ? "info" : waitingAt(steps)?.state === "blocked" ? "error" : "warning";

  const picture = h("div", { class: "timeline", id: "timeline" });
  clear($("order"),
    h("article", { class: "card order-detail", "aria-labelledby": "order-heading" },
      h("header", { class: "card-head" },
        h("h2", { id: "order-heading", tabindex: "-1" }, "Order ", code(order.order_id)),
        badge(order.status),
        h("button", { type: "button", class: "button small-button", onclick: () => loadOrder(order.order_id) }, "Refresh"),
        order.status === "cancelled" ? null
          : h("button", { type: "button", class: "button small-button", id: "cancel-order", "aria-controls": "cancel-confirm",
            onclick: () => { $("cancel-confirm").hidden = false; $("cancel-yes").focus(); } }, "Cancel order…"),
      ),
      cancelConfirm(order),
      h("p", { class: "figures" },
        figure(ordered, "ordered"), figure(assigned, "assigned"), figure(pending, "pending"),
        cancelled ? figure(cancelled, "cancelled") : null),
      callout(order, steps, calloutKind),
      h("h3", {}, "Timeline"),
      picture,
      legend(),
      h("h3", {}, "Inventory details"),
      lines.map(lineDetails),
      h("p", { class: "muted small" }, `Loaded at ${timeNow()}.`),
    ),
  );
  drawInto(picture, steps, order.order_id);
}

/** Cancelling asks once more, in the page: what it does, then yes or no. */
function cancelConfirm(order) {
  const message = h("p", { class: "message", role: "alert", id: "cancel-error", hidden: true });
  const yes = h("button", { type: "button", class: "button primary", id: "cancel-yes" }, "Yes, cancel it");
  const keep = h("button", { type: "button", class: "button", onclick: () => { box.hidden = true; $("cancel-order")?.focus(); } }, "Keep it");
  const box = h("div", { class: "callout", "data-kind": "warning", id: "cancel-confirm", hidden: true, role: "group", "aria-labelledby": "cancel-question" },
    h("p", { id: "cancel-question" }, h("strong", {}, `Cancel order ${order.order_id}? `),
      "Its assigned stock goes back to the bins for the orders waiting longest, and what is still on order for it is cut from its purchase orders."),
    h("p", { class: "actions" }, yes, " ", keep),
    message);
  yes.addEventListener("click", async () => {
    yes.disabled = true;
    try {
      const route = path("sellers", session.accountId, "orders", order.order_id, "cancel");
      await api("POST", route, { key: session.key, body: { order_id: order.order_id } });
      await loadOrder(order.order_id);
      say($("order-announce"), `Order ${order.order_id} is cancelled.`);
      loadOrders({ replace: true });
    } catch (e) {
      if (failed(e)) return;
      yes.disabled = false;
      say(message, explain(e, `Order ${order.order_id}`), "error");
    }
  });
  return box;
}

function callout(order, steps, kind) {
  const at = waitingAt(steps);
  const all = waitingAtAll(steps);
  const [label, words] =
    order.status === "ready" ? ["Ready", "every unit is assigned."]
      : order.status === "cancelled" ? ["Cancelled", "nothing more will be assigned to this order."]
        : at ? [at.state === "blocked" ? "Stuck at" : "Waiting at", all.map((s) => `${s.title} — ${detailText(s)}`).join("; and at ") + "."]
          : ["In progress", "being processed."];
  return h("p", { class: "callout", "data-kind": kind, id: "order-callout" }, h("strong", {}, `${label}: `), words);
}

function figure(n, words) {
  return h("span", { class: "figure" }, h("strong", {}, String(n)), ` ${words}`);
}

function legend() {
  const item = (state, words) => h("li", {}, h("span", { class: `dot dot-${state}`, "aria-hidden": "true" }), words);
  return h("ul", { class: "legend", "aria-label": "Legend" },
    item("done", "done"), item("current", "waiting here"), item("blocked", "stuck: needs you"), item("todo", "still to come"));
}

let lastWidth = 0;
const resize = new ResizeObserver((entries) => {
  for (const entry of entries) {
    const width = Math.floor(entry.contentRect.width);
    if (shown && Math.abs(width - lastWidth) > 24) drawInto(entry.target, timelineSteps(shown.order, shown.pos), shown.order.order_id);
  }
});

function drawInto(container, steps, orderId) {
  lastWidth = Math.floor(container.clientWidth) || 320;
  clear(container, drawTimeline(steps, { width: lastWidth, id: "tl", label: `Timeline of order ${orderId}` }));
  resize.disconnect();
  resize.observe(container);
}

function lineDetails(line) {
  const poIds = line.purchase_order_ids || [line.purchase_order_id].filter(Boolean);
  const links = poIds.flatMap((po, i) => [i ? ", " : "", h("button", { type: "button", class: "link", onclick: () => revealPo(po) }, code(po))]);
  const onOrder = line.on_order_qty ? `${line.on_order_qty} on order, on purchase order${poIds.length > 1 ? "s" : ""} ` : "On purchase order ";
  const source = poIds.length
    ? [onOrder, ...links, line.no_po_reason && line.pending_qty > (line.on_order_qty || 0) ? ` (the rest: ${NO_PO_WORDS[line.no_po_reason] || line.no_po_reason})` : ""]
    : line.no_po_reason
      ? [line.no_po_reason === "stock_available" ? "No PO needed: stock was available." : `No PO: ${NO_PO_WORDS[line.no_po_reason] || line.no_po_reason}.`]
      : [];
  const allocations = line.allocations || [];
  return h("section", { class: "line", "aria-label": `Line ${line.line_id}, SKU ${line.sku}` },
    h("h4", {}, `Line ${line.line_id} · `, code(line.sku)),
    h("p", { class: "muted" },
      `${line.qty} ordered · ${line.assigned_qty || 0} assigned · ${line.pending_qty || 0} pending`,
      line.cancelled_qty ? ` · ${line.cancelled_qty} cancelled` : "",
      source.length ? h("br") : null, source),
    allocations.length
      ? h("div", { class: "table-wrap" }, h("table", { class: "lines" },
        h("caption", { class: "visually-hidden" }, `Where the stock of line ${line.line_id} came from`),
        h("thead", {}, h("tr", {},
          h("th", { scope: "col", class: "num" }, "Qty"),
          h("th", { scope: "col" }, "Location"),
          h("th", { scope: "col" }, "Bin"),
          h("th", { scope: "col" }, "GRN"),
          h("th", { scope: "col" }, "Why"))),
        h("tbody", {}, allocations.map((a) => h("tr", {},
          h("td", { class: "num" }, String(a.qty)),
          h("td", {}, a.location),
          h("td", {}, a.bin),
          h("td", {}, a.grn_id ? code(a.grn_id) : h("span", { class: "muted" }, "—")),
          h("td", {}, REASON_WORDS[a.reason] || a.reason || REASON_WORDS.in_stock),
        )))))
      : h("p", { class: "empty-line muted" }, "Nothing assigned to this line yet."),
    allocations.some((a) => a.location === "main" && a.bin === "default")
      ? h("p", { class: "hint" }, "main / default is the Default Bin of the main location, where received goods are inwarded.")
      : null,
  );
}

// --- the orders list: newest first, by status, a page at a time -----------------------

let ordersCursor = null;
let ordersRequest = 0;

$("orders-refresh").addEventListener("click", () => loadOrders({ replace: true, announce: true }));
$("orders-status").addEventListener("change", () => loadOrders({ replace: true }));
$("orders-more").addEventListener("click", () => loadOrders({ replace: false }));

async function loadOrders({ replace, announce = false }) {
  const box = $("orders");
  const request = ++ordersRequest;
  const status = $("orders-status").value;
  const query = new URLSearchParams({ limit: "20" });
  if (status) query.set("status", status);
  if (!replace && ordersCursor) query.set("cursor", ordersCursor);
  box.setAttribute("aria-busy", "true");
  try {
    const page = await call(`${path("sellers", session.accountId, "orders")}?${query}`);
    if (request !== ordersRequest) return; // a newer filter answers instead
    ordersCursor = page.next_cursor;
    $("orders-more").hidden = !ordersCursor;
    $("orders-updated").textContent = `Updated ${timeNow()}`;
    showOrders(page.items, { replace, status });
    if (announce) say($("orders-message"), `Orders refreshed at ${timeNow()}.`, "info");
  } catch (e) {
    if (failed(e) || request !== ordersRequest) return;
    say($("orders-message"), `Could not load the orders. ${explain(e)}`, "error");
  } finally {
    box.setAttribute("aria-busy", "false");
  }
}

/** "3 min", "5 h", "2 days": how long since `iso`. */
function age(iso) {
  const s = Math.max(0, Math.round((Date.now() - new Date(iso).getTime()) / 1000));
  if (!Number.isFinite(s)) return "";
  if (s < 90) return `${s} s`;
  if (s < 90 * 60) return `${Math.round(s / 60)} min`;
  if (s < 36 * 3600) return `${Math.round(s / 3600)} h`;
  return `${Math.round(s / 86400)} days`;
}

function showOrders(items, { replace, status }) {
  let body = $("orders-body");
  if (replace || !body) {
    if (!items.length) {
      clear($("orders"), h("div", { class: "empty card" },
        h("h3", {}, status ? `No ${status} orders` : "No orders yet"),
        h("p", {}, "Orders arrive from your marketplaces' webhooks. Each one shows here, newest first.")));
      return;
    }
    body = h("tbody", { id: "orders-body" });
    clear($("orders"), h("div", { class: "table-wrap" },
      h("table", { class: "lines orders-table" },
        h("caption", { class: "visually-hidden" }, "Your orders, newest first"),
        h("thead", {}, h("tr", {},
          h("th", { scope: "col" }, "Order"),
          h("th", { scope: "col" }, "Status"),
          h("th", { scope: "col", class: "num" }, "Ordered"),
          h("th", { scope: "col", class: "num" }, "Pending"),
          h("th", { scope: "col" }, "Received"),
          h("th", { scope: "col" }, "Waiting for"))),
        body)));
  }
  for (const order of items) {
    const ordered = order.lines.reduce((n, l) => n + l.qty, 0);
    const pending = order.lines.reduce((n, l) => n + (l.pending_qty || 0), 0);
    const waiting = order.status === "backordered" || order.status === "received";
    body.append(h("tr", { id: `order-row-${order.order_id}` },
      h("th", { scope: "row" }, h("a", { href: `#order=${encodeURIComponent(order.order_id)}` }, code(order.order_id))),
      h("td", { "data-label": "Status" }, badge(order.status)),
      h("td", { class: "num", "data-label": "Ordered" }, String(ordered)),
      h("td", { class: "num", "data-label": "Pending" }, String(pending)),
      h("td", { "data-label": "Received" }, timeTag(order.created_at)),
      h("td", { "data-label": "Waiting for" }, waiting ? age(order.created_at) : h("span", { class: "muted" }, "—"))));
  }
}

// --- CSV exports: every page of a list (up to CSV_MAX_ROWS), one row per line ------------

const CSV_MAX_ROWS = 10000;

/** A spreadsheet cell: quoted, and a leading = + - @ neutralised so no cell runs as a formula. */
function cell(value) {
  let text = value === null || value === undefined ? "" : String(value);
  if (/^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return `"${text.replaceAll('"', '""')}"`;
}

async function everyItem(route, status) {
  const items = [];
  let cursor = null;
  do {
    const query = new URLSearchParams({ limit: "100" });
    if (status) query.set("status", status);
    if (cursor) query.set("cursor", cursor);
    const page = await call(`${route}?${query}`);
    items.push(...page.items);
    cursor = page.next_cursor;
  } while (cursor && items.length < CSV_MAX_ROWS);
  return items;
}

async function download(button, name, header, rowsOf, route, status) {
  button.disabled = true;
  try {
    const items = await everyItem(route, status);
    const rows = [header, ...items.flatMap(rowsOf)].map((row) => row.map(cell).join(","));
    const blob = new Blob([`${rows.join("\r\n")}\r\n`], { type: "text/csv;charset=utf-8" });
    const link = h("a", { href: URL.createObjectURL(blob), download: name, id: `${button.id}-file`, hidden: true });
    document.getElementById(link.id)?.remove();
    document.body.append(link);
    link.click();
    return items.length;
  } finally {
    button.disabled = false;
  }
}

$("orders-csv").addEventListener("click", async () => {
  const status = $("orders-status").value;
  try {
    const n = await download($("orders-csv"), `orders-${session.accountId}${status ? `-${status}` : ""}.csv`,
      ["order_id", "status", "created_at", "updated_at", "line_id", "sku", "qty", "assigned_qty", "pending_qty", "cancelled_qty", "on_order_qty", "purchase_order_ids", "no_po_reason"],
      (o) => o.lines.map((l) => [o.order_id, o.status, o.created_at, o.updated_at, l.line_id, l.sku, l.qty, l.assigned_qty, l.pending_qty, l.cancelled_qty, l.on_order_qty, (l.purchase_order_ids || []).join(" "), l.no_po_reason]),
      path("sellers", session.accountId, "orders"), status);
    say($("orders-message"), `${plural(n, "order")} exported.`, "info");
  } catch (e) {
    if (failed(e)) return;
    say($("orders-message"), `Could not export the orders. ${explain(e)}`, "error");
  }
});

$("po-csv").addEventListener("click", async () => {
  try {
    const n = await download($("po-csv"), `purchase-orders-${session.accountId}.csv`,
      ["po_id", "status", "vendor_id", "vendor_order_id", "vendor_order_status", "source_order_id", "po_ref", "created_at", "sku", "qty", "received_qty", "cancelled_qty", "surplus_qty"],
      (po) => po.lines.map((l) => [po.po_id, po.status, po.vendor_id, po.vendor_order_id, po.vendor_order_status, po.source_order_id, po.po_ref, po.created_at, l.sku, l.qty, l.received_qty, l.cancelled_qty, l.surplus_qty]),
      path("sellers", session.accountId, "purchase-orders"));
    say($("po-message"), `${plural(n, "purchase order")} exported.`, "info");
  } catch (e) {
    if (failed(e)) return;
    say($("po-message"), `Could not export the purchase orders. ${explain(e)}`, "error");
  }
});

// --- purchase orders -------------------------------------------------------------------

$("po-refresh").addEventListener("click", async () => {
  const box = $("pos");
  box.setAttribute("aria-busy", "true");
  try {
    showPos((await call(path("sellers", session.accountId, "purchase-orders"))).items);
    say($("po-message"), `Purchase orders refreshed at ${timeNow()}.`, "info");
  } catch (e) {
    if (failed(e)) return;
    say($("po-message"), `Could not load the purchase orders. ${explain(e)}`, "error");
  } finally {
    box.setAttribute("aria-busy", "false");
  }
});

const PO_ORDER = { open: 0, approved: 1, partially_received: 2, received: 3, cancelled: 4 };

function showPos(items) {
  $("po-updated").textContent = `Updated ${timeNow()}`;
  const pos = [...(items || [])].sort((a, b) => (PO_ORDER[a.status] ?? 9) - (PO_ORDER[b.status] ?? 9));
  if (!pos.length) {
    clear($("pos"), h("div", { class: "empty card" },
      h("h3", {}, "No purchase orders yet"),
      h("p", {}, "A purchase order is raised automatically when an order needs more than is in stock and its SKU is mapped to a vendor. It appears here, approved, for the missing quantity only.")));
    return;
  }
  clear($("pos"), h("ul", { class: "po-list" }, pos.map((po) => h("li", {}, poCard(po)))));
}

function poCard(po) {
  const qty = po.lines.reduce((n, l) => n + l.qty, 0);
  const received = po.lines.reduce((n, l) => n + (l.received_qty || 0), 0);
  const details = h("details", { class: "po card", id: `po-${po.po_id}`, open: openPos.has(po.po_id) },
    h("summary", {},
      h("span", { class: "po-sum" },
        h("span", { class: "po-id" }, code(po.po_id)),
        badge(po.status, "po"),
        h("span", { class: "po-facts" }, `${po.source_order_id ? `Order ${po.source_order_id}` : `Raised by hand (${po.po_ref})`} · vendor ${po.vendor_id} · ${received} of ${qty} received · ${plural((po.grns || []).length, "GRN")}`),
      ),
      h("span", { class: "view" }, "View details"),
    ),
    h("div", { class: "po-body" },
      h("dl", { class: "meta" },
        po.source_order_id
          ? h("div", {}, h("dt", {}, "Order"), h("dd", {}, h("button", { type: "button", class: "link", onclick: () => openOrder(po.source_order_id) }, `Open order ${po.source_order_id}`)))
          : h("div", {}, h("dt", {}, "Reference"), h("dd", {}, code(po.po_ref))),
        h("div", {}, h("dt", {}, "Vendor"), h("dd", {}, po.vendor_id)),
        po.status === "open"
          ? h("div", {}, h("dt", {}, "Window closes"), h("dd", {}, timeTag(po.closes_at), " — then it is rounded to the vendor's terms and sent as one B2B order"))
          : h("div", {}, h("dt", {}, "Vendor's B2B order"), h("dd", {}, code(po.vendor_order_id))),
      ),
      h("div", { class: "table-wrap" }, h("table", { class: "lines po-lines" },
        h("caption", { class: "visually-hidden" }, `Lines of purchase order ${po.po_id}`),
        h("thead", {}, h("tr", {},
          h("th", { scope: "col" }, "SKU"),
          h("th", { scope: "col", class: "num" }, "Ordered"),
          h("th", { scope: "col", class: "num" }, "Handed over"),
          h("th", { scope: "col", class: "num" }, "Received"),
          h("th", { scope: "col", class: "num" }, "Open"))),
        h("tbody", {}, po.lines.map((l) => h("tr", {},
          h("th", { scope: "row" }, code(l.sku)),
          h("td", { class: "num", "data-label": "Ordered" }, String(l.qty)),
          h("td", { class: "num", "data-label": "Handed over" }, String(l.handed_over_qty || 0)),
          h("td", { class: "num", "data-label": "Received" }, String(l.received_qty || 0)),
          h("td", { class: "num", "data-label": "Open" }, String(Math.max(0, l.qty - (l.received_qty || 0))))))))),
      grnForm(po),
      h("h4", {}, "Goods received (GRNs)"),
      (po.grns || []).length
        ? h("ul", { class: "grns" }, po.grns.map((g) => h("li", {},
          code(g.grn_id), " — ", g.lines.map((l) => `${l.qty} × ${l.sku}`).join(", "), ` into ${g.location} / ${g.bin}`)))
        : h("p", { class: "muted empty-line" }, "Nothing received yet: goods arrive when the vendor hands them over."),
    ),
  );
  details.addEventListener("toggle", () => (details.open ? openPos.add(po.po_id) : openPos.delete(po.po_id)));
  return details;
}

/** Goods the vendor handed over that no GRN inwarded yet (auto GRN was off): a form to
 * inward them, filled in with what is waiting, never more. */
function grnForm(po) {
  const waiting = po.lines.map((l) => ({ sku: l.sku, open: Math.max(0, (l.handed_over_qty || 0) - (l.received_qty || 0)) })).filter((l) => l.open);
  if (!waiting.length || po.status === "cancelled") return null;
  const error = h("p", { class: "message", "data-kind": "error", role: "alert", hidden: true });
  const inputs = waiting.map((l) => h("input", {
    type: "number", class: "qty", min: "0", max: String(l.open), value: String(l.open), inputmode: "numeric",
    "aria-label": `Quantity of ${l.sku} to inward (at most ${l.open})`,
  }));
  const ref = h("input", { type: "text", id: `grn-ref-${po.po_id}`, class: "ship-input", value: newId("GRN"), maxlength: "64", spellcheck: "false" });
  const button = h("button", { type: "submit", class: "button primary" }, "Inward into the Default Bin");
  const form = h("form", { class: "card grn-form", id: `grn-form-${po.po_id}`, novalidate: true, "aria-label": `Inward goods of ${po.po_id}` },
    h("h4", {}, "Handed over, not yet received"),
    h("p", { class: "hint" }, "The vendor handed these over while automatic GRNs were off. Inward what arrived; it goes to the Default Bin of the main location and to this order."),
    h("ul", { class: "grn-lines" }, waiting.map((l, i) => h("li", {}, code(l.sku), " ", inputs[i], h("span", { class: "muted" }, ` of ${l.open}`)))),
    h("p", {}, h("label", { for: ref.id }, "GRN reference "), ref),
    h("p", { class: "actions" }, button),
    error);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const lines = waiting.map((l, i) => ({ sku: l.sku, qty: Number(inputs[i].value) })).filter((l) => l.qty);
    const bad = lines.find((l, i) => !Number.isInteger(l.qty) || l.qty < 0 || l.qty > waiting[i].open);
    if (!lines.length || bad) {
      say(error, lines.length ? `At most what was handed over and not received, in whole units (${bad.sku}).` : "Enter a quantity to inward.", "error");
      return;
    }
    button.disabled = true;
    try {
      const route = path("sellers", session.accountId, "purchase-orders", po.po_id, "grns");
      const grn = await api("POST", route, { key: session.key, body: { grn_ref: ref.value.trim(), lines } });
      openPos.add(po.po_id);
      showPos((await call(path("sellers", session.accountId, "purchase-orders"))).items);
      say($("po-message"), `GRN ${grn.grn_id} inwarded ${lines.map((l) => `${l.qty} × ${l.sku}`).join(", ")}.`, "info");
    } catch (e) {
      if (failed(e)) return;
      button.disabled = false;
      say(error, explain(e, `Purchase order ${po.po_id}`), "error");
    }
  });
  return form;
}

function revealPo(poId) {
  const card = document.getElementById(`po-${poId}`);
  if (!card) return;
  card.open = true;
  card.scrollIntoView({ block: "start" });
  card.querySelector("summary").focus();
}

// --- stock -----------------------------------------------------------------------------

$("stock-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const input = $("sku");
  const sku = input.value.trim(); // a SKU never starts or ends with a space
  const problem = skuProblem(sku);
  if (problem) {
    say($("stock-error"), problem, "error");
    input.setAttribute("aria-invalid", "true");
    input.focus();
    return;
  }
  input.removeAttribute("aria-invalid");
  loadStock([sku], { replace: false });
});

let stockRequest = 0;

async function loadStock(skus, { replace }) {
  say($("stock-error"), "");
  stockSkus = replace ? skus : [...skus, ...stockSkus.filter((s) => !skus.includes(s))].slice(0, MAX_STOCK_CARDS);
  const request = ++stockRequest;
  const results = await Promise.all(stockSkus.map(async (sku) => {
    try {
      return { sku, figures: await call(path("sellers", session.accountId, "skus", sku, "stock")) };
    } catch (error) {
      return { sku, error };
    }
  }));
  if (request !== stockRequest) return; // a newer lookup answers instead
  if (results.some((r) => failed(r.error))) return;
  clear($("stock"), results.map(stockCard));
  if (!replace) say($("stock-announce"), `Stock of ${skus.join(", ")} shown.`);
}

function stockCard({ sku, figures, error }) {
  if (error) return h("article", { class: "card stock" }, h("h3", {}, code(sku)), h("p", { class: "message", "data-kind": "error" }, explain(error, `SKU ${sku}`)));
  const row = (label, value, hint) => h("div", {}, h("dt", {}, label, hint ? h("span", { class: "visually-hidden" }, ` (${hint})`) : null), h("dd", {}, String(value)));
  const buy = figures.quantity_to_purchase;
  return h("article", { class: "card stock", "aria-label": `Stock of ${sku}` },
    h("h3", {}, code(sku)),
    h("dl", { class: "stock-figures" },
      row("On hand", figures.on_hand),
      row("Assigned", figures.assigned),
      row("Available", figures.available),
      row("Pending backorders", figures.pending_backorders),
      row("Open on POs", figures.open_po_qty, "ordered minus received"),
      row("Expected returns", figures.expected_returns),
      figures.surplus_on_order ? row("Surplus on order", figures.surplus_on_order, "on order beyond what waiting orders need") : null,
    ),
    h("p", { class: "callout", "data-kind": buy > 0 ? "warning" : "success" },
      h("strong", {}, buy > 0 ? `Buy ${buy} more` : "Nothing to buy"),
      buy > 0 ? " — pending backorders exceed what is available, on order and expected back." : " — what is pending is covered."),
  );
}
