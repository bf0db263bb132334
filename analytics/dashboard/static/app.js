// botwarden dashboard. Every value from a request is put into the page as
// text (text nodes, DOM properties), never parsed as HTML: el() is the only
// way this file builds elements, and it never parses a string as HTML.
"use strict";

const SVG = "http://www.w3.org/2000/svg";
const CATEGORIES = ["automated", "likely_automated", "likely_human", "verified_bot", "not_computed"];
const ACTIONS = ["allow", "block", "managed_challenge", "js_challenge", "rate_limit", "log", "skip"];
const SOURCES = ["heuristics", "machine_learning", "behavioral_analysis", "verified_bot", "js_detection", "anomaly_detection", "reputation", "not_computed"];
const MODES = ["monitor", "inject", "mitigate"];
const RANGES = ["30m", "1h", "6h", "24h", "7d", "30d"];
const TOP = [
  ["user_agent", "User agents"], ["ip", "Client IPs"], ["prefix", "/24 and /64 prefixes"], ["asn", "ASNs"],
  ["country", "Countries"], ["host", "Hosts"], ["path", "Paths"], ["ja4", "JA4"],
  ["detection_id", "Detection IDs"], ["tag", "Tags"], ["verified_bot", "Verified bots"],
  ["verified_category", "Verified bot categories"], ["ai_category", "AI categories"], ["rule", "Rules"],
];
// Filter keys the bar edits itself; any other attribute is shown as a chip.
const BAR_KEYS = ["since", "from", "to", "score", "score_below", "score_above", "category", "source", "action", "mode", "host", "path_prefix"];

// el builds an element: attrs are DOM properties or attributes (never
// markup), children are nodes or strings (become text nodes).
function el(tag, attrs, ...children) {
  const e = tag.startsWith("svg:") ? document.createElementNS(SVG, tag.slice(4)) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "onclick" || k === "onchange" || k === "onsubmit") e.addEventListener(k.slice(2), v);
    else if (k === "text") e.textContent = String(v);
    else if (k === "className" && !(e instanceof SVGElement)) e.className = v;
    else e.setAttribute(k === "className" ? "class" : k, String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    e.append(typeof c === "string" || typeof c === "number" ? document.createTextNode(String(c)) : c);
  }
  return e;
}

function params() { return new URLSearchParams(location.search); }

// filterParams is the current filter (the URL's query string minus page
// navigation parameters).
function filterParams() {
  const p = params();
  p.delete("page");
  if (!p.has("since") && !p.has("from")) p.set("since", "1h");
  return p;
}

function go(path, p) {
  const qs = p.toString();
  history.pushState(null, "", path + (qs ? "?" + qs : ""));
  render();
}

function link(path, p, text, title) {
  const href = path + "?" + p.toString();
  return el("a", { href, title, onclick: (ev) => { ev.preventDefault(); go(path, p); } }, text);
}

function withTerm(key, value) {
  const p = filterParams();
  if (!p.getAll(key).includes(value)) p.append(key, value);
  return p;
}

async function api(path, p, init) {
  const resp = await fetch("/api/v1/" + path + (p ? "?" + p.toString() : ""), init);
  let body;
  try { body = await resp.json(); } catch (e) { throw new Error(path + ": HTTP " + resp.status); }
  if (!resp.ok) throw new Error(body.error || ("HTTP " + resp.status));
  return body;
}

const fmt = new Intl.NumberFormat("en");
function num(n) { return fmt.format(n); }
function when(t) { return new Date(t).toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z"); }

function showError(err) {
  const b = document.getElementById("banner");
  b.hidden = false;
  b.className = "error";
  b.textContent = "Cannot show numbers: " + err.message;
}

// ---- filter bar ----------------------------------------------------------

function select(name, options, current, label) {
  return el("label", {}, label, " ",
    el("select", { name, onchange: applyBar },
      el("option", { value: "", text: "any" }),
      options.map((o) => el("option", { value: o, selected: o === current, text: o }))));
}

function applyBar() {
  const bar = document.getElementById("filters");
  const p = filterParams();
  for (const k of ["since", "from", "to", "score", "score_below", "score_above", "category", "source", "action", "mode", "host", "path_prefix"]) p.delete(k);
  for (const input of bar.querySelectorAll("select, input")) {
    if (input.value !== "") p.set(input.name, input.value);
  }
  go(location.pathname, p);
}

function renderFilters() {
  const p = filterParams();
  const bar = document.getElementById("filters");
  bar.replaceChildren();
  bar.append(
    select("since", RANGES, p.get("since") || "", "Last"),
    el("label", {}, "Score ", el("input", { name: "score", size: 6, placeholder: "1-29", value: p.get("score") || "", onchange: applyBar })),
    select("category", CATEGORIES, p.get("category"), "Category"),
    select("source", SOURCES, p.get("source"), "Source"),
    select("action", ACTIONS, p.get("action"), "Action"),
    select("mode", MODES, p.get("mode"), "Mode"),
    el("label", {}, "Host ", el("input", { name: "host", size: 16, value: p.get("host") || "", onchange: applyBar })),
    el("label", {}, "Path prefix ", el("input", { name: "path_prefix", size: 12, value: p.get("path_prefix") || "", onchange: applyBar })),
  );
  if (p.get("score_below")) bar.append(el("input", { type: "hidden", name: "score_below", value: p.get("score_below") }));
  if (p.get("from")) bar.append(el("input", { type: "hidden", name: "from", value: p.get("from") }), el("input", { type: "hidden", name: "to", value: p.get("to") || "" }));
  const chips = el("span", { className: "chips" });
  for (const [k, v] of p.entries()) {
    if (BAR_KEYS.includes(k)) continue;
    const rest = filterParams();
    const keep = rest.getAll(k).filter((x) => x !== v);
    rest.delete(k);
    keep.forEach((x) => rest.append(k, x));
    chips.append(el("span", { className: "chip", "data-key": k }, k + " = " + v, " ", link(location.pathname, rest, "×", "remove")));
  }
  bar.append(chips);
  const expr = el("code", { id: "expression" }, "…");
  bar.append(el("div", { className: "expr" }, "Policy expression: ", expr, " ", link("/rule", filterParams(), "try as a rule →")));
  api("expression", filterParams()).then((r) => {
    expr.textContent = r.expression;
    if (r.not_expressible.length) expr.after(el("small", {}, " (not expressible: " + r.not_expressible.join(", ") + ")"));
  }).catch(showError);
}

// ---- charts --------------------------------------------------------------

const COLORS = {
  automated: "#c62828", likely_automated: "#ef6c00", likely_human: "#2e7d32", verified_bot: "#1565c0", not_computed: "#9e9e9e",
  allow: "#2e7d32", block: "#c62828", managed_challenge: "#ef6c00", js_challenge: "#f9a825", rate_limit: "#6a1b9a", log: "#546e7a", skip: "#9e9e9e",
  solved: "#2e7d32", failed: "#c62828", rejected: "#9e9e9e",
};
function color(k, i) { return COLORS[k] || ["#00838f", "#5d4037", "#ad1457", "#283593", "#558b2f", "#4e342e"][i % 6]; }

// stacked draws counts over time, one colour per value.
function stacked(points, stepMs, from, to, id) {
  const W = 720, H = 180, L = 48, B = 20;
  const buckets = new Map();
  const keys = [];
  for (const pt of points) {
    const t = Date.parse(pt.time);
    if (!buckets.has(t)) buckets.set(t, new Map());
    buckets.get(t).set(pt.value, (buckets.get(t).get(pt.value) || 0) + pt.count);
    if (!keys.includes(pt.value)) keys.push(pt.value);
  }
  keys.sort((a, b) => (CATEGORIES.indexOf(a) + ACTIONS.indexOf(a)) - (CATEGORIES.indexOf(b) + ACTIONS.indexOf(b)));
  let max = 1;
  for (const m of buckets.values()) max = Math.max(max, [...m.values()].reduce((a, b) => a + b, 0));
  const n = Math.max(1, Math.ceil((to - from) / stepMs));
  const bw = (W - L) / n;
  const svg = el("svg:svg", { viewBox: `0 0 ${W} ${H + B}`, className: "chart", id });
  svg.append(el("svg:text", { x: 0, y: 12, className: "axis" }, num(max)), el("svg:text", { x: 0, y: H, className: "axis" }, "0"));
  svg.append(el("svg:line", { x1: L, y1: H, x2: W, y2: H, className: "base" }));
  for (const [t, m] of buckets) {
    const i = Math.floor((t - from) / stepMs);
    let y = H;
    keys.forEach((k, ki) => {
      const c = m.get(k) || 0;
      if (!c) return;
      const h = (c / max) * (H - 14);
      y -= h;
      svg.append(el("svg:rect", { x: L + i * bw, y, width: Math.max(1, bw - 1), height: h, fill: color(k, ki) },
        el("svg:title", {}, `${when(t)} ${k}: ${num(c)}`)));
    });
  }
  svg.append(el("svg:text", { x: L, y: H + 15, className: "axis" }, when(from)), el("svg:text", { x: W, y: H + 15, className: "axis end" }, when(to)));
  const legend = el("div", { className: "legend" });
  keys.forEach((k, ki) => {
    let total = 0;
    for (const m of buckets.values()) total += m.get(k) || 0;
    legend.append(el("span", { "data-value": k }, el("i", { style: "" , className: "sw sw-" + ki }), k + " " + num(total)));
    legend.lastChild.firstChild.style.background = color(k, ki);
  });
  return el("div", {}, svg, legend);
}

// histogram draws the score distribution 1–99 (0, not computed, apart).
function histogram(rows) {
  const W = 720, H = 160;
  const counts = new Array(100).fill(0);
  for (const r of rows) counts[Number(r.value)] = r.count;
  const max = Math.max(1, ...counts.slice(1));
  const svg = el("svg:svg", { viewBox: `0 0 ${W} ${H + 20}`, className: "chart", id: "histogram" });
  const bw = W / 99;
  for (let s = 1; s <= 99; s++) {
    const h = (counts[s] / max) * (H - 10);
    const cat = s === 1 ? "automated" : s < 30 ? "likely_automated" : "likely_human";
    svg.append(el("svg:rect", { x: (s - 1) * bw, y: H - h, width: Math.max(1, bw - 1), height: h, fill: COLORS[cat] },
      el("svg:title", {}, `score ${s}: ${num(counts[s])}`)));
  }
  for (const s of [1, 30, 99]) svg.append(el("svg:text", { x: s * bw, y: H + 15, className: s === 99 ? "axis end" : "axis" }, String(s)));
  return el("div", {}, svg, el("p", { className: "note" }, `not computed (score 0): ${num(counts[0])}`));
}

// hbars draws a breakdown as horizontal bars with their numbers.
function hbars(rows, id) {
  const total = rows.reduce((a, r) => a + r.count, 0) || 1;
  return el("table", { className: "bars", id }, rows.map((r, i) => {
    const bar = el("span", { className: "bar" });
    bar.style.width = (100 * r.count / total).toFixed(1) + "%";
    bar.style.background = color(r.value, i);
    return el("tr", {}, el("td", {}, r.value), el("td", { className: "n" }, num(r.count)), el("td", { className: "w" }, bar));
  }));
}

// ---- pages ---------------------------------------------------------------

function card(title, ...body) { return el("section", { className: "card" }, el("h2", {}, title), ...body); }

function sampled(series) {
  if (!series.interval95) return null;
  return el("p", { className: "sampled" }, `Sampled: counts are scaled from a sample (±${num(Math.round(series.interval95))} at 95% confidence).`);
}

async function overview(main) {
  const p = filterParams();
  const [cats, acts, hist, srcs, status] = await Promise.all([
    api("timeseries", withBy(p, "category")), api("timeseries", withBy(p, "action")), api("histogram", p),
    api("top", withBy(withLimit(p, 20), "source")), api("status"),
  ]);
  const [from, to] = range(p, status);
  const step = parseStep(cats.step);
  const challenges = acts.points.filter((x) => x.value === "managed_challenge" || x.value === "js_challenge").reduce((a, x) => a + x.count, 0);
  main.append(...[
    el("div", { className: "stats" },
      stat("Requests", cats.total, "total"), stat("Blocked", sumOf(acts, "block"), "blocked"),
      stat("Challenged", challenges, "challenged"), stat("Rate limited", sumOf(acts, "rate_limit"), "rate-limited"),
      stat("Sample interval", status.sample_interval, "sample-interval")),
    sampled(cats),
    card("Requests by category", stacked(cats.points, step, from, to, "by-category")),
    el("div", { className: "row" },
      card("Bot score distribution", histogram(hist.rows)),
      card("Score sources", hbars(srcs.rows, "sources"))),
    card("Actions over time", stacked(acts.points, step, from, to, "by-action")),
  ].filter(Boolean));
  // Challenge answers come from the challenge handler, not from requests:
  // only the time range and a single host filter them.
  const ccard = card("Challenges");
  main.append(ccard);
  api("challenges", p).then((c) => {
    const rate = c.issued ? Math.round(100 * c.solved / c.issued) + "%" : "–";
    ccard.append(...[el("div", { className: "stats" },
      stat("Issued", c.issued, "challenges-issued"), stat("Solved", c.solved, "challenges-solved"),
      stat("Failed", c.failed, "challenges-failed"), stat("Rejected answers", c.rejected, "challenges-rejected"),
      el("div", { className: "stat" }, el("div", { className: "n", id: "stat-challenges-rate" }, rate), el("div", {}, "solved / issued")),
      el("div", { className: "stat" }, el("div", { className: "n", id: "stat-challenges-median" }, c.median_solve_ms ? Math.round(c.median_solve_ms) + " ms" : "–"), el("div", {}, "median time to pass"))),
      c.series.length ? stacked(c.series, parseStep(c.step), from, to, "challenge-outcomes") : el("p", { className: "note" }, "no answers in this range"),
      c.results.length ? el("table", { className: "events", id: "challenge-results" },
        el("tr", {}, ["Kind", "Result", "Outcome", "Answers", "Median time"].map((h) => el("th", {}, h))),
        c.results.map((r) => el("tr", {}, el("td", {}, r.kind), el("td", {}, r.result), el("td", {}, r.outcome), el("td", {}, num(r.count)),
          el("td", {}, r.median_solve_ms ? Math.round(r.median_solve_ms) + " ms" : "")))) : null].filter(Boolean));
  }).catch(showError);
  const vcard = card("Verdicts published");
  main.append(vcard);
  api("verdicts", p).then((v) => vcard.append(el("p", {}, num(v.verdicts.length) + " in this range ", link("/verdicts", filterParams(), "see them →")))).catch(showError);
  const grid = el("div", { className: "grid", id: "top" });
  main.append(el("h2", {}, "Top attributes"), grid);
  await Promise.all(TOP.map(async ([by, title]) => {
    const c = card(title);
    c.dataset.by = by;
    grid.append(c);
    const r = await api("top", withBy(p, by));
    c.append(topTable(by, r.rows));
  }));
}

function topTable(by, rows) {
  if (!rows.length) return el("p", { className: "note" }, "none");
  return el("table", { className: "top" }, rows.map((r) => el("tr", {},
    el("td", { className: "v" }, link(location.pathname, withTerm(by, r.value), r.value, "add to the filter"),
      r.text ? el("div", { className: "note" }, r.text) : null),
    el("td", { className: "n" }, num(r.count)),
    el("td", {}, link("/explorer", withTerm(by, r.value), "log", "requests with this value")))));
}

function stat(label, n, id) { return el("div", { className: "stat" }, el("div", { className: "n", id: "stat-" + id }, num(n)), el("div", {}, label)); }
function sumOf(series, v) { return series.points.filter((x) => x.value === v).reduce((a, x) => a + x.count, 0); }
function withBy(p, by) { const q = new URLSearchParams(p); q.set("by", by); return q; }
function withLimit(p, n) { const q = new URLSearchParams(p); q.set("limit", n); return q; }
function parseStep(s) {
  const m = /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/.exec(s) || [];
  return ((+m[1] || 0) * 3600 + (+m[2] || 0) * 60 + (+m[3] || 0)) * 1000 || 60000;
}
function range(p) {
  const to = p.get("to") ? Date.parse(p.get("to")) || Number(p.get("to")) * 1000 : Date.now();
  if (p.get("from")) return [Date.parse(p.get("from")) || Number(p.get("from")) * 1000, to];
  const s = p.get("since") || "1h";
  const m = /^(\d+)([mhd])$/.exec(s);
  const ms = m ? Number(m[1]) * { m: 60000, h: 3600000, d: 86400000 }[m[2]] : 3600000;
  return [to - ms, to];
}

// fieldText renders a record field. Numbers whose 0 means "not known"
// (ClientASN when the address is in no database, EdgeResponseStatus when no
// access-log entry joined) read as unknown, never as ASN 0 or status 0.
const UNKNOWN_WHEN_ZERO = ["ClientASN", "EdgeResponseStatus"];
// detectionList shows each detection ID with its catalogue text (why the
// request was decided), one per line.
function detectionList(ids, text) {
  if (!ids || !ids.length) return "";
  return (ids || []).map((id) => el("div", { className: "detection" }, String(id), text && text[id] ? " — " + text[id] : ""));
}

function fieldText(k, v) {
  if (v === undefined || v === null) return "";
  if (v === 0 && UNKNOWN_WHEN_ZERO.includes(k)) return "unknown";
  return Array.isArray(v) ? v.join(", ") : String(v);
}

const FIELDS = ["EdgeStartTimestamp", "RayID", "BotScore", "BotCategory", "BotScoreSrc", "BotAction", "BotRuleID", "ClientIP", "ClientRequestHost", "ClientRequestPath", "ClientRequestUserAgent", "EdgeResponseStatus"];

async function explorer(main) {
  const p = filterParams();
  const q = new URLSearchParams(p);
  q.set("limit", "50");
  if (params().get("page")) q.set("page", params().get("page"));
  const page = await api("events", q);
  const search = el("form", { className: "search", onsubmit: (ev) => {
    ev.preventDefault();
    const v = ev.target.elements.ray.value.trim();
    if (v) go("/explorer", withTerm("ray_id", v));
  } }, el("label", {}, "Find a request by its reference ", el("input", { name: "ray", size: 18, placeholder: "RayID" })), el("button", { type: "submit" }, "Find"));
  const table = el("table", { className: "events", id: "events" },
    el("tr", {}, FIELDS.map((f) => el("th", {}, f))),
    page.records.map((r) => {
      const row = el("tr", { className: "ev", onclick: () => row.nextSibling.hidden = !row.nextSibling.hidden },
        FIELDS.map((f) => el("td", {}, f === "EdgeStartTimestamp" ? when(r[f]) : fieldText(f, r[f]))));
      const detail = el("tr", { className: "detail", hidden: true }, el("td", { colspan: FIELDS.length },
        el("table", {}, Object.entries(r).map(([k, v]) => el("tr", {}, el("th", {}, k), el("td", {}, k === "BotDetectionIDs" ? detectionList(v, page.detections) : fieldText(k, v))))),
        reportForm(withTerm("ray_id", r.RayID), "This request", r.ClientIP ? "ip:" + r.ClientIP : "")));
      return [row, detail];
    }));
  main.append(card("Requests, newest first", search, table,
    page.records.length ? null : el("p", { className: "note" }, "no requests match"),
    page.next ? el("p", {}, link("/explorer", (() => { const n = params(); n.set("page", page.next); return n; })(), "next page →")) : null),
    card("Report this view", reportForm(p, "Everything this filter selects")));
}

function reportForm(p, what, key) {
  const out = el("span", { className: "note" });
  return el("form", { className: "report", onsubmit: async (ev) => {
    ev.preventDefault();
    const f = ev.target.elements;
    try {
      const fn = f.kind.value === "false_negative";
      const body = { kind: f.kind.value, abuse: fn ? f.abuse.value : "", description: f.description.value,
        key: f.key.value.trim(), ttl: f.ttl.value.trim() };
      const q = new URLSearchParams(p);
      const r = await api("feedback", q, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
      out.textContent = `Reported (${r.id}): ${num(r.requests)} requests` + (r.expression ? `, expression ${r.expression}` : "") +
        (r.applied ? `; ${fn ? "verdict" : "exemption"} on ${r.key} until ${when(r.applied.expiry)}` : "; nothing applied (no client key)");
    } catch (e) { out.textContent = e.message; }
  } }, what + ": ",
    el("select", { name: "kind" }, el("option", { value: "false_positive", text: "false positive (a human was stopped)" }), el("option", { value: "false_negative", text: "false negative (a bot got through)" })),
    el("select", { name: "abuse" }, ["scraping", "credential_stuffing", "inventory_hoarding", "card_testing", "spam", "other"].map((a) => el("option", { value: a, text: a }))),
    el("input", { name: "key", size: 22, value: key || "", placeholder: "client key: ip:… net:… session:… ja4:…", title: "a false positive exempts this client from verdicts and challenges; a false negative publishes a verdict on it" }),
    el("input", { name: "ttl", size: 5, placeholder: "24h", title: "how long the exemption or verdict lasts (1m to 720h)" }),
    el("input", { name: "description", size: 30, placeholder: "what happened" }), el("button", { type: "submit" }, "Report"), out);
}

// exemptButton turns a visitor's "I am human" report into an operator's
// false positive about the same client (visitor reports apply nothing).
function exemptButton(x) {
  const out = el("span", { className: "note" });
  return el("span", {}, el("button", { type: "button", onclick: async () => {
    try {
      const r = await api("feedback", new URLSearchParams(), { method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ kind: "false_positive", ray_id: x.ray_id || "", key: x.key || "", description: "exempted from visitor report " + x.id }) });
      out.textContent = r.applied ? ` exempt until ${when(r.applied.expiry)}` : " nothing applied";
    } catch (e) { out.textContent = " " + e.message; }
  } }, "Exempt 24h"), out);
}

function applied(x) {
  if (!x.applied) return x.origin === "visitor" ? exemptButton(x) : "";
  return `${x.applied.key} (${x.applied.tags.join(", ")}) until ${when(x.applied.expiry)}`;
}

function keyFilter(key) {
  const [kind, ...rest] = key.split(":");
  const v = rest.join(":");
  return { ip: "ip", net: "prefix", ja4: "ja4", session: "session" }[kind] ? withTerm({ ip: "ip", net: "prefix", ja4: "ja4", session: "session" }[kind], v) : filterParams();
}

async function verdicts(main) {
  const p = filterParams();
  const [v, fb] = await Promise.all([api("verdicts", p), api("feedback")]);
  main.append(card("Behavioural verdicts published", el("table", { className: "events", id: "verdicts" },
    el("tr", {}, ["When", "Key", "Score", "Source", "Tags", "Expires", ""].map((h) => el("th", {}, h))),
    v.verdicts.map((x) => el("tr", {}, el("td", {}, when(x.time)), el("td", {}, x.key), el("td", {}, String(x.score)), el("td", {}, x.source),
      el("td", {}, (x.tags || []).join(", ")), el("td", {}, when(x.expiry)), el("td", {}, link("/explorer", keyFilter(x.key), "requests")))))),
    card("Feedback", el("table", { className: "events", id: "feedback" },
      el("tr", {}, ["When", "From", "Kind", "Abuse", "Requests", "By score", "Top IPs", "Expression", "Description", "Applied"].map((h) => el("th", {}, h))),
      fb.feedback.map((x) => el("tr", {}, el("td", {}, when(x.time)), el("td", {}, x.origin || ""), el("td", {}, x.kind), el("td", {}, x.abuse || ""), el("td", {}, num(x.requests)),
        el("td", {}, (x.by_score || []).map((c) => `${c.value}: ${num(c.count)}`).join(", ")),
        el("td", {}, (x.top_ips || []).map((c) => `${c.value} (${num(c.count)})`).join(", ")),
        el("td", {}, el("code", {}, x.expression || "")), el("td", {}, x.description), el("td", {}, applied(x)))))));
}

async function rule(main) {
  const p = filterParams();
  const e = await api("expression", p);
  const out = el("div", { id: "draft-result" });
  const form = el("form", { className: "draft", onsubmit: async (ev) => {
    ev.preventDefault();
    out.replaceChildren("running…");
    try {
      const r = await api("draft", p, { method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ expression: form.elements.expression.value, action: form.elements.action.value }) });
      out.replaceChildren(
        el("p", {}, `Over ${num(r.requests)} stored requests in this range, the rule matches `, el("strong", { id: "draft-matched" }, num(r.matched)),
          ` requests from ${num(r.clients)} clients (${num(r.already_same)} already got this action).`),
        hbars(Object.entries(r.by_category).map(([value, count]) => ({ value, count })).sort((a, b) => b.count - a.count), "draft-categories"),
        el("h3", {}, "Top clients"), topTable("ip", r.top_clients || []),
        el("p", {}, "Examples: ", (r.examples || []).map((ref) => [link("/explorer", withTerm("ray_id", ref), ref), " "])),
        r.truncated ? el("p", { className: "note" }, "stopped after the newest records; narrow the range") : null,
        el("p", { className: "note" }, r.note));
    } catch (err) { out.replaceChildren(el("p", { className: "error" }, err.message)); }
  } },
  el("label", {}, "Expression", el("textarea", { name: "expression", rows: 3, cols: 90 }, e.expression)),
  el("label", {}, "Action ", el("select", { name: "action" }, ["block", "managed_challenge", "js_challenge", "log", "allow"].map((a) => el("option", { value: a, text: a })))),
  el("button", { type: "submit" }, "Run over stored traffic"));
  main.append(card("From filter to rule", el("p", { className: "note" }, "The expression selects the same requests as the filter. Edit it and run it over the stored traffic of the range to see what it would have done before you paste it into the policy file."), form, out));
}

async function render() {
  for (const a of document.querySelectorAll("nav a")) {
    a.classList.toggle("active", a.dataset.page === location.pathname);
    a.href = a.dataset.page + location.search.replace(/([?&])page=[^&]*/, "$1");
  }
  renderFilters();
  const banner = document.getElementById("banner");
  banner.hidden = true;
  const main = document.getElementById("main");
  main.replaceChildren();
  try {
    const status = await api("status");
    if (status.error) {
      banner.hidden = false;
      banner.className = status.available ? "warn" : "error";
      banner.textContent = (status.available ? "Store error: " : "Analytics unavailable: ") + status.error;
      if (!status.available) return;
    } else if (status.sample_interval > 1) {
      banner.hidden = false;
      banner.className = "warn";
      banner.textContent = `The store is behind: 1 request in ${status.sample_interval} is being recorded; counts are scaled.`;
    }
    const page = { "/": overview, "/explorer": explorer, "/verdicts": verdicts, "/rule": rule }[location.pathname] || overview;
    await page(main);
    document.body.dataset.ready = "1";
  } catch (err) {
    main.replaceChildren();
    showError(err);
    document.body.dataset.ready = "error";
  }
}

window.addEventListener("popstate", render);
document.addEventListener("DOMContentLoaded", render);
