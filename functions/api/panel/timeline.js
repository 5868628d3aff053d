// An order's timeline: from the order and its purchase orders, the steps a backorder goes
// through (order received -> stock assigned -> PO approved -> vendor order -> each GRN ->
// ready), drawn as an SVG picture so a person sees at a glance where it waits.

const SVG = "http://www.w3.org/2000/svg";

/** Why a line has no purchase order, in words. */
export const NO_PO_WORDS = {
  stock_available: "stock was available",
  sku_not_mapped: "the SKU is not mapped to a vendor",
  auto_po_disabled: "automatic POs are off for this seller",
  vendor_not_eligible: "the mapped vendor cannot take B2B orders (check its settings)",
};

const sum = (items, f) => items.reduce((n, x) => n + f(x), 0);
/** Ids are long hashes: the picture shows their start, its description the whole id. */
const short = (id) => (String(id).length > 13 ? `${String(id).slice(0, 12)}…` : String(id));
const units = (n) => `${n} unit${n === 1 ? "" : "s"}`;
const clock = (iso) => {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? String(iso || "") : date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
};

/**
 * The steps, in order. Each: {state, title, detail: [text or {id}], lane}, state one of
 * done | current (it waits here) | blocked (it waits and nothing will move it) | todo | cancelled;
 * `lane` is the PO a step belongs to (each PO, so each vendor, is a branch), else undefined.
 */
export function timelineSteps(order, purchaseOrders) {
  const lines = order.lines || [];
  const allocations = lines.flatMap((line) => line.allocations || []);
  const ordered = sum(lines, (l) => l.qty);
  const pending = sum(lines, (l) => l.pending_qty || 0);
  const steps = [{ state: "done", title: "Order received", detail: [`${units(ordered)} on ${lines.length} line${lines.length === 1 ? "" : "s"}`] }];

  if (order.status === "received") {
    steps.push({ state: "current", title: "Stock assignment", detail: ["being processed"] });
    steps.push({ state: "todo", title: "Ready", detail: ["when all is assigned"] });
    return steps;
  }

  const fromStock = sum(allocations.filter((a) => (a.reason || "in_stock") === "in_stock"), (a) => a.qty);
  steps.push({ state: "done", title: "Stock assigned", detail: [fromStock ? `${units(fromStock)} from stock` : "none in stock"] });

  for (const line of lines) {
    if (line.no_po_reason && line.no_po_reason !== "stock_available" && line.pending_qty) {
      steps.push({ state: order.status === "cancelled" ? "cancelled" : "blocked", title: `No PO for ${line.sku}`, detail: [NO_PO_WORDS[line.no_po_reason] || line.no_po_reason, `${units(line.pending_qty)} waiting for stock`] });
    }
  }

  for (const po of purchaseOrders) {
    const first = steps.length;
    const qty = sum(po.lines, (l) => l.qty);
    const received = sum(po.lines, (l) => l.received_qty || 0);
    if (po.status === "open") { // in its consolidation window: the vendor gets it when the window closes
      steps.push({ state: "current", title: "PO open", detail: [{ id: po.po_id }, `${units(qty)} from ${po.vendor_id}`, `joins other orders until ${clock(po.closes_at)}`], lane: po.po_id });
      steps.push({ state: "todo", title: "Vendor order", detail: ["when the window closes"], lane: po.po_id });
      continue;
    }
    steps.push({ state: po.status === "cancelled" ? "cancelled" : "done", title: po.status === "cancelled" ? "PO cancelled" : "PO approved", detail: [{ id: po.po_id }, `${units(qty)} from ${po.vendor_id}`] });
    // the vendor's own answer: a PO approved on our side may still wait for the vendor to accept it
    const vendorSays = po.vendor_order_status;
    const closed = po.status === "cancelled" || order.status === "cancelled";
    if (vendorSays === "unapproved" && !closed) {
      steps.push({ state: "current", title: "Vendor approval", detail: [{ id: po.vendor_order_id }, `waiting for ${po.vendor_id} to accept it`] });
    } else if (vendorSays === "declined") {
      steps.push({ state: order.status === "cancelled" ? "cancelled" : "blocked", title: "Vendor declined", detail: [{ id: po.vendor_order_id }, `by ${po.vendor_id}`] });
    } else {
      steps.push({ state: po.status === "cancelled" ? "cancelled" : "done", title: "Vendor order", detail: [{ id: po.vendor_order_id }] });
    }
    for (const grn of po.grns || []) {
      const n = sum(grn.lines, (l) => l.qty);
      steps.push({ state: "done", title: `Handover · GRN`, detail: [`${units(n)} received`, { id: grn.grn_id }, `into ${grn.location} / ${grn.bin}`] });
    }
    if (received < qty && !closed && vendorSays !== "declined") {
      const state = vendorSays === "unapproved" ? "todo" : "current"; // nothing is handed over before approval
      steps.push({ state, title: "Vendor handover", detail: [`${qty - received} of ${qty} still open`, `at ${po.vendor_id}`] });
    }
    for (const s of steps.slice(first)) s.lane = po.po_id; // each PO is a branch of its own
  }

  const freed = sum(allocations.filter((a) => a.reason === "freed_stock_oldest_first"), (a) => a.qty);
  if (freed) steps.push({ state: "done", title: "Freed stock", detail: [`${units(freed)} assigned later`] });

  if (order.status === "ready") steps.push({ state: "done", title: "Ready", detail: ["all units assigned"] });
  else if (order.status === "cancelled") steps.push({ state: "cancelled", title: "Cancelled", detail: ["by the marketplace"] });
  else {
    const waiting = steps.some((s) => s.state === "current" || s.state === "blocked");
    steps.push({ state: waiting ? "todo" : "current", title: "Ready", detail: [`${units(pending)} pending`] });
  }
  return steps;
}

/** A step's detail as text, ids in full. */
export function detailText(step) {
  return step.detail.map((d) => (typeof d === "string" ? d : d.id)).join(", ");
}

/** The first step the order waits at, or null when nothing waits. */
export function waitingAt(steps) {
  return steps.find((s) => s.state === "current" || s.state === "blocked") || null;
}

/** Every step the order waits at (one per vendor it waits for, and each stuck line). */
export function waitingAtAll(steps) {
  return steps.filter((s) => s.state === "current" || s.state === "blocked");
}

const STATE_WORDS = { done: "done", current: "waiting here", blocked: "stuck here", todo: "still to come", cancelled: "cancelled" };
const COLORS = { done: "#1a7f37", current: "#9a6700", blocked: "#cf222e", todo: "#6e7781", cancelled: "#57606a" };

function el(name, attrs = {}, ...children) {
  const node = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return node;
}

/** Words wrapped to `width` characters; a long id is cut where it must be. At most `max` lines. */
function wrap(text, width, max = 2) {
  const out = [];
  let line = "";
  // Counted and cut by code point, so a SKU's emoji or accent is never cut in half.
  const chars = (s) => Array.from(s);
  for (const piece of String(text).split(/\s+/)) {
    let word = chars(piece);
    while (word.length > width) {
      if (line) out.push(line), (line = "");
      out.push(word.slice(0, width).join(""));
      word = word.slice(width);
    }
    const rest = word.join("");
    if (!line) line = rest;
    else if (chars(line).length + 1 + word.length <= width) line += ` ${rest}`;
    else out.push(line), (line = rest);
  }
  if (line) out.push(line);
  if (out.length > max) {
    out.length = max;
    out[max - 1] = `${chars(out[max - 1]).slice(0, Math.max(0, width - 1)).join("")}…`;
  }
  return out;
}

function marker(state, cx, cy) {
  const color = COLORS[state];
  const g = el("g", { "aria-hidden": "true" });
  if (state === "current" || state === "blocked") g.append(el("circle", { cx, cy, r: 18, fill: state === "current" ? "#fff1c2" : "#ffe2e0" }));
  const filled = state !== "todo";
  g.append(el("circle", { cx, cy, r: 13, fill: filled ? color : "#ffffff", stroke: color, "stroke-width": 2 }));
  const icon = { fill: "none", stroke: "#ffffff", "stroke-width": 2.5, "stroke-linecap": "round", "stroke-linejoin": "round" };
  if (state === "done") g.append(el("path", { d: `M${cx - 5.5} ${cy + 0.5} l3.8 3.8 l7.2 -7.6`, ...icon }));
  if (state === "current") {
    g.append(el("circle", { cx, cy, r: 6.5, ...icon, "stroke-width": 2 }));
    g.append(el("path", { d: `M${cx} ${cy - 3.5} V${cy} l2.6 2`, ...icon, "stroke-width": 2 }));
  }
  if (state === "blocked") {
    g.append(el("path", { d: `M${cx} ${cy - 6} V${cy + 1.5}`, ...icon }));
    g.append(el("circle", { cx, cy: cy + 5.5, r: 1.6, fill: "#ffffff" }));
  }
  if (state === "cancelled") g.append(el("path", { d: `M${cx - 4.5} ${cy - 4.5} l9 9 m0 -9 l-9 9`, ...icon }));
  if (state === "todo") g.append(el("circle", { cx, cy, r: 3, fill: color }));
  return g;
}

/**
 * The picture: left to right when `width` allows, top to bottom on a narrow screen.
 * `id` prefixes the ids of its <title> and <desc>.
 */
export function drawTimeline(steps, { width, id, label }) {
  const n = steps.length;
  // Left to right: the steps before the first branch, the branches one under the other,
  // then the steps after them. Top to bottom (in order) when that does not fit.
  const lanes = [...new Set(steps.map((s) => s.lane).filter(Boolean))];
  const firstLane = steps.findIndex((s) => s.lane);
  const head = firstLane < 0 ? n : firstLane;
  const laneLength = (lane) => steps.filter((s) => s.lane === lane).length;
  const longest = Math.max(0, ...lanes.map(laneLength));
  const tail = n - head - lanes.reduce((k, lane) => k + laneLength(lane), 0);
  const columns = head + longest + tail;
  const horizontal = width >= 640 && columns * 112 <= width;
  const desc = steps.map((s, i) => `${i + 1}. ${s.title} (${STATE_WORDS[s.state]}): ${detailText(s)}.`).join(" ");
  const shown = (d) => (typeof d === "string" ? d : short(d.id));
  const svg = el("svg", { role: "img", "aria-labelledby": `${id}-title ${id}-desc`, class: "timeline-svg", xmlns: SVG },
    el("title", { id: `${id}-title` }, label),
    el("desc", { id: `${id}-desc` }, desc));
  const connectors = el("g", { "aria-hidden": "true" });
  const nodes = el("g", {});
  svg.append(connectors, nodes);

  const centers = [];
  let totalW;
  let totalH;
  if (horizontal) {
    const step = Math.floor(width / columns);
    const titleChars = Math.floor((step - 14) / 8);
    const detailChars = Math.floor((step - 14) / 7);
    const rowHeight = 148;
    // (column, row) of each step
    const seen = new Map();
    const place = steps.map((s, i) => {
      if (i < head) return [i, 0];
      if (s.lane) {
        const k = seen.get(s.lane) || 0;
        seen.set(s.lane, k + 1);
        return [head + k, lanes.indexOf(s.lane)];
      }
      return [head + longest + (i - (n - tail)), 0];
    });
    let maxY = 0;
    steps.forEach((s, i) => {
      const [column, row] = place[i];
      const cx = step * column + step / 2;
      const cy = 26 + row * rowHeight;
      centers.push([cx, cy]);
      const text = el("text", { x: cx, "text-anchor": "middle", class: `tl-text tl-${s.state}` });
      let y = cy + 38;
      for (const t of wrap(s.title, titleChars, 2)) text.append(el("tspan", { x: cx, y, class: "tl-title" }, t)), (y += 16);
      y += 2;
      for (const d of s.detail) for (const t of wrap(shown(d), detailChars, 2)) text.append(el("tspan", { x: cx, y, class: "tl-detail" }, t)), (y += 15);
      maxY = Math.max(maxY, y);
      nodes.append(el("g", { class: `tl-step tl-${s.state}` }, marker(s.state, cx, cy), text));
    });
    totalW = step * columns;
    totalH = maxY + 4;
  } else {
    const chars = Math.floor((width - 58) / 7);
    let y = 22;
    steps.forEach((s) => {
      const cx = 22;
      const cy = y;
      centers.push([cx, cy]);
      const text = el("text", { x: 50, class: `tl-text tl-${s.state}` });
      let ty = cy + 5;
      for (const t of wrap(s.title, chars, 2)) text.append(el("tspan", { x: 50, y: ty, class: "tl-title" }, t)), (ty += 17);
      for (const d of s.detail) for (const t of wrap(shown(d), chars, 2)) text.append(el("tspan", { x: 50, y: ty, class: "tl-detail" }, t)), (ty += 15);
      nodes.append(el("g", { class: `tl-step tl-${s.state}` }, marker(s.state, cx, cy), text));
      y = Math.max(ty + 14, cy + 52);
    });
    totalW = width;
    totalH = y - 10;
  }
  const links = [];
  if (horizontal && lanes.length) {
    const laneSteps = lanes.map((lane) => steps.map((s, i) => (s.lane === lane ? i : -1)).filter((i) => i >= 0));
    for (let i = 0; i + 1 < head; i++) links.push([i, i + 1]);
    for (const idx of laneSteps) {
      if (head > 0) links.push([head - 1, idx[0]]);
      for (let k = 0; k + 1 < idx.length; k++) links.push([idx[k], idx[k + 1]]);
      if (tail) links.push([idx[idx.length - 1], n - tail]);
    }
    for (let i = n - tail; i + 1 < n; i++) links.push([i, i + 1]);
  } else {
    for (let i = 0; i + 1 < n; i++) links.push([i, i + 1]);
  }
  for (const [from, to] of links) {
    const [x1, y1] = centers[from];
    const [x2, y2] = centers[to];
    const done = steps[to].state === "done";
    const gap = 19;
    const line = horizontal
      ? { x1: x1 + gap, y1, x2: x2 - gap, y2 }
      : { x1, y1: y1 + gap, x2, y2: y2 - gap };
    connectors.append(el("line", { ...line, stroke: done ? COLORS.done : "#8c959f", "stroke-width": done ? 3 : 2, "stroke-dasharray": done ? "none" : "5 5", "stroke-linecap": "round" }));
  }
  svg.setAttribute("viewBox", `0 0 ${totalW} ${totalH}`);
  svg.setAttribute("width", totalW);
  svg.setAttribute("height", totalH);
  return svg;
}
