// The Linli staff console: one ES module, no build step. It calls only the services' public
// /v1 APIs with a bearer token held in memory.
import { WORDS } from "./i18n.js";
import { oidcSignIn, oidcCallback, oidcRefresh } from "./oidc.js";

const OUTBOX = "linli.console.outbox";
// Kept on the device so an inspector can record without a connection (nothing personal): the
// checklists' definitions and the user name of the last inspector signed in on it.
const CHECKLISTS = "linli.console.checklists";
const INSPECTOR = "linli.console.inspector";
const UUID = "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}";
const UPLOADED = "linli:evidence/"; // a photo_ref naming a photo uploaded to inspections
const state = { config: null, token: null, refresh: null, claims: null, lang: localStorage.getItem("linli.console.lang") || "zh-CN", sync: [] };

// --- small helpers ------------------------------------------------------------------------------

const t = (key, values = {}) =>
  (WORDS[state.lang][key] ?? key).replace(/\{(\w+)\}/g, (_, name) => String(values[name] ?? ""));
const esc = (value) =>
  String(value ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
const $ = (selector) => document.querySelector(selector);
const main = () => $("#main");

function when(iso) {
  if (!iso) return "";
  return new Intl.DateTimeFormat(state.lang, {
    dateStyle: "medium", timeStyle: "short", timeZone: state.config.time_zone,
  }).format(new Date(iso));
}

function day(iso) {
  if (!iso) return "";
  return new Intl.DateTimeFormat(state.lang, { dateStyle: "medium", timeZone: state.config.time_zone }).format(new Date(iso));
}

// A datetime-local value ("2026-03-03T09:00"), read as the wall time in `timeZone`, with that
// zone's UTC offset at that moment, so the API gets the instant the staff member meant.
function zoned(local, timeZone) {
  const wall = `${local.slice(0, 16)}:00`;
  const asUtc = Date.parse(`${wall}Z`);
  const offsetAt = (instant) => {
    const parts = Object.fromEntries(new Intl.DateTimeFormat("en-US", {
      timeZone, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit", second: "2-digit",
    }).formatToParts(new Date(instant)).map((p) => [p.type, p.value]));
    return (Date.UTC(parts.year, parts.month - 1, parts.day, parts.hour, parts.minute, parts.second) - instant) / 60000;
  };
  const offset = offsetAt(asUtc - offsetAt(asUtc) * 60000);
  const pad = (n) => String(Math.floor(n)).padStart(2, "0");
  return `${wall}${offset < 0 ? "-" : "+"}${pad(Math.abs(offset) / 60)}:${pad(Math.abs(offset) % 60)}`;
}

function alertText(text) { $("#alert").textContent = text || ""; }

class ApiError extends Error {
  constructor(status, problem) {
    super(problem?.detail || problem?.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
  }
}

let refreshing = null;

// `body`: JSON, or a Blob (a photo) sent as it is with its own type; `as: "blob"` answers the
// body as a Blob (a photo) instead of JSON.
async function api(service, path, { method = "GET", body, query, extra = {}, as = "json" } = {}) {
  const base = state.config.apis[service].replace(/\/$/, "");
  const url = new URL(`${base}/v1${path}`, location.href);
  for (const [key, value] of Object.entries(query || {})) {
    if (value !== undefined && value !== null && value !== "") url.searchParams.set(key, value);
  }
  const sent = state.token;
  const headers = { Authorization: `Bearer ${sent}`, ...extra };
  const blob = body instanceof Blob;
  if (body !== undefined) headers["Content-Type"] = blob ? body.type || "application/octet-stream" : "application/json";
  const payload = body === undefined || blob ? body : JSON.stringify(body);
  let response = await fetch(url, { method, headers, body: payload });
  if (response.status === 401 && state.refresh) {
    // One refresh for all the calls refused together; a call refused with an older token
    // simply tries again with the newer one.
    if (state.token === sent) {
      refreshing ??= state.refresh().finally(() => { refreshing = null; });
      await refreshing;
    }
    headers.Authorization = `Bearer ${state.token}`;
    response = await fetch(url, { method, headers, body: payload });
  }
  if (response.ok && as === "blob") return response.blob();
  const text = await response.text();
  const data = text ? JSON.parse(text) : null;
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

function problemText(error) {
  if (error instanceof ApiError) {
    if (error.status === 404) return t("notFound");
    const fields = (error.problem?.errors || []).map((e) => `${e.field || e.loc || ""}: ${e.message || e.msg || ""}`);
    return [`${error.problem?.title || error.status}: ${error.message}`, ...fields].join(" · ");
  }
  return String(error.message || error);
}

function pager(page, href) {
  const from = page.total === 0 ? 0 : page.offset + 1;
  const to = page.offset + page.items.length;
  const prev = page.offset > 0 ? `<a href="${href(Math.max(0, page.offset - page.limit))}">${t("prev")}</a>` : "";
  const next = to < page.total ? `<a href="${href(page.offset + page.limit)}">${t("next")}</a>` : "";
  return `<p class="pager">${prev} <span>${t("page", { from, to, total: page.total })}</span> ${next}</p>`;
}

function decodeClaims(token) {
  const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
  const json = decodeURIComponent(escape(atob(part.padEnd(part.length + ((4 - (part.length % 4)) % 4), "="))));
  return JSON.parse(json);
}

const roles = () => new Set(state.claims?.[state.config.roles_claim] || []);
const myGrids = () => state.claims?.[state.config.grids_claim] || [];
const hasRole = (...wanted) => roles().has("admin") || wanted.some((r) => roles().has(r));

function params() {
  const [, query = ""] = location.hash.slice(1).split("?");
  return new URLSearchParams(query);
}

// --- sign-in ------------------------------------------------------------------------------------

export function signedIn(token, refresh = null) {
  state.token = token;
  state.refresh = refresh;
  state.claims = decodeClaims(token);
  if (hasRole("inspector", "grid_worker")) localStorage.setItem(INSPECTOR, state.claims.sub);
}

function signOut() {
  state.token = null;
  state.refresh = null;
  state.claims = null;
  alertText("");
  location.hash = "#/sign-in";
  render();
}

function signInPage() {
  const { config } = state;
  const options = config.roles.map((r) => `<option value="${r}">${r}</option>`).join("");
  const dev = config.dev_sign_in
    ? `<form class="stack" id="dev-sign-in">
        <h2>${t("devSignIn")}</h2><p class="muted">${t("devOnly")}</p>
        <label for="dev-subject">${t("subject")}</label><input id="dev-subject" name="subject" value="staff-liu" required>
        <label for="dev-role">${t("role")}</label><select id="dev-role" name="role">${options}</select>
        <label for="dev-grids">${t("grids")}</label><input id="dev-grids" name="grids" value="grid-01">
        <button type="submit">${t("signIn")}</button></form>`
    : "";
  const oidc = config.oidc ? `<p><button type="button" id="oidc-sign-in">${t("oidcSignIn")}</button></p>` : "";
  main().innerHTML = `<h1>${t("signIn")}</h1><div id="device"></div>${oidc}${dev}`;
  deviceSection();
  $("#oidc-sign-in")?.addEventListener("click", () => oidcSignIn(config.oidc).catch((e) => alertText(problemText(e))));
  $("#dev-sign-in")?.addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = new FormData(event.target);
    const grids = String(form.get("grids")).split(",").map((g) => g.trim()).filter(Boolean);
    let response;
    try {
      response = await fetch("dev-token", {
        method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ subject: form.get("subject"), roles: [form.get("role")], grids }),
      });
    } catch { return alertText(t("signInNeedsNetwork")); }
    const body = await response.json();
    if (!response.ok) return alertText(`${body.title}: ${body.detail}`);
    signedIn(body.access_token);
    location.hash = "#/today";
    flushOutbox().catch(showError); // what waited on the device for a signed-in user
  });
}

// Signed out: what the device keeps, and (offline) recording onto the device.
function deviceSection() {
  const element = $("#device");
  if (!element) return;
  const offline = !navigator.onLine;
  const canRecord = offline && localStorage.getItem(INSPECTOR) && cachedChecklists().length;
  element.innerHTML = offline || outbox().length
    ? `${offline ? `<p class="notice" id="offline-note">${t("offlineSignedOut")}</p>` : ""}
       ${canRecord ? `<p><a href="#/device" id="record-on-device">${t("recordOnDevice")}</a></p>` : ""}
       <section aria-labelledby="queue-h"><h2 id="queue-h">${t("queue")}</h2><div id="queue"></div></section>`
    : "";
  showQueue();
}

// --- today --------------------------------------------------------------------------------------

async function gridsInReach() {
  if (myGrids().length) return myGrids();
  const page = await api("registry", "/grids", { query: { limit: 50 } });
  return page.items.map((g) => g.id);
}

async function count(status, grid) {
  const page = await api("inspections", "/rectifications", { query: { status, grid_id: grid, limit: 1 } });
  return page.total;
}

async function todayPage() {
  main().innerHTML = `<h1>${t("today")}</h1><div class="cards" id="cards"></div>`;
  const grids = await gridsInReach();
  const cards = [];
  for (const grid of grids) {
    const [coverage, open, ready, overdue, escalated, pest] = await Promise.all([
      api("inspections", "/coverage", { query: { grid_id: grid } }),
      count("open", grid), count("ready", grid), count("overdue", grid),
      api("inspections", "/rectifications", { query: { status: "overdue", grid_id: grid, limit: 200 } })
        .then((p) => p.items.filter((c) => c.escalation !== "none").length),
      pestOver(grid),
    ]);
    const share = coverage.due ? `${Math.round((100 * coverage.done) / coverage.due)}%` : "—";
    const cases = (status) => `#/cases?grid=${encodeURIComponent(grid)}&status=${status}`;
    cards.push(`<section class="card" aria-labelledby="g-${esc(grid)}"><h2 id="g-${esc(grid)}">${t("grid")} ${esc(grid)}</h2>
      <p class="muted">${t("target")} · ${day(coverage.week_starting)}</p>
      <dl>
        <dt>${t("inspectionsDue")}</dt><dd><a href="#/record?grid=${encodeURIComponent(grid)}" data-stat="due">${coverage.due}</a></dd>
        <dt>${t("done")}</dt><dd data-stat="done">${coverage.done}</dd>
        <dt>${t("coverage")}</dt><dd data-stat="coverage">${share}</dd>
        <dt>${t("open")}</dt><dd><a href="${cases("open")}" data-stat="open">${open}</a></dd>
        <dt>${t("ready")}</dt><dd><a href="${cases("ready")}" data-stat="ready">${ready}</a></dd>
        <dt>${t("overdue")}</dt><dd><a class="${overdue ? "bad" : ""}" href="${cases("overdue")}" data-stat="overdue">${overdue}</a></dd>
        <dt>${t("escalated")}</dt><dd><a href="${cases("overdue")}" data-stat="escalated">${escalated}</a></dd>
        <dt>${t("pestOver")}</dt><dd data-stat="pest">${pest}</dd>
      </dl></section>`);
  }
  $("#cards").innerHTML = cards.join("") || `<p>${t("none")}</p>`;
}

async function pestOver(grid) {
  const points = await api("inspections", "/pest-points", { query: { grid_id: grid, limit: 100 } });
  let over = 0;
  for (const point of points.items) {
    const readings = await api("inspections", `/pest-points/${encodeURIComponent(point.id)}/readings`, { query: { limit: 1 } });
    if (readings.items[0]?.over_threshold) over += 1;
  }
  return over;
}

// --- households ---------------------------------------------------------------------------------

async function householdsPage() {
  const q = params();
  main().innerHTML = `<h1>${t("households")}</h1>
    <form class="stack" id="search" role="search">
      <label for="s-name">${t("name")}</label><input id="s-name" name="name" value="${esc(q.get("name"))}">
      <label for="s-address">${t("address")}</label><input id="s-address" name="address" value="${esc(q.get("address"))}">
      ${hasRole("community_staff") ? `<label for="s-id">${t("idTail")}</label><input id="s-id" name="id_tail" inputmode="numeric" maxlength="4" value="${esc(q.get("id_tail"))}">` : ""}
      <button type="submit">${t("search")}</button></form>
    <section aria-labelledby="results-h"><h2 id="results-h">${t("results")}</h2><div id="results"></div></section>`;
  $("#search").addEventListener("submit", (event) => {
    event.preventDefault();
    const form = new URLSearchParams(new FormData(event.target));
    for (const [key, value] of [...form]) if (!value) form.delete(key);
    location.hash = `#/households?${form}`;
  });
  const offset = Number(q.get("offset") || 0);
  const page = await api("registry", "/households", {
    query: { name: q.get("name"), address: q.get("address"), id_tail: q.get("id_tail"), limit: 20, offset },
  });
  const rows = page.items.map((h) => `<tr><td><a href="#/household/${h.id}">${esc(h.address)}</a></td>
    <td>${esc(h.members.map((m) => m.name).join("、"))}</td><td>${esc(h.grid_id)}</td></tr>`);
  $("#results").innerHTML = page.items.length
    ? `<div class="wide"><table><thead><tr><th scope="col">${t("address")}</th><th scope="col">${t("members")}</th><th scope="col">${t("grid")}</th></tr></thead>
       <tbody>${rows.join("")}</tbody></table></div>${pager(page, (o) => { q.set("offset", o); return `#/households?${q}`; })}`
    : `<p>${t("none")}</p>`;
}

async function householdPage(id) {
  const reveal = state.revealed === id;
  let household;
  try {
    household = await api("registry", `/households/${id}`, { query: reveal ? { reveal: "true", reason: state.revealReason } : {} });
  } catch (error) {
    main().innerHTML = `<h1>${t("household")}</h1><p class="bad" id="not-found">${esc(problemText(error))}</p>`;
    return;
  }
  const members = household.members.map((m) => `<tr><td>${esc(m.name)}</td><td>${esc(m.relation)}</td>
    <td class="id-number">${esc(m.id_number)}</td><td>${esc(m.phone)}</td></tr>`).join("");
  const revealForm = hasRole("community_staff") && !reveal
    ? `<form class="stack" id="reveal"><label for="reveal-reason">${t("reason")}</label>
        <input id="reveal-reason" name="reason" required minlength="2" maxlength="150">
        <button type="submit">${t("reveal")}</button></form>`
    : reveal ? `<p class="notice" role="status">${t("revealed")}</p>` : "";
  main().innerHTML = `<h1>${esc(household.address)}</h1>
    <dl><dt>${t("grid")}</dt><dd>${esc(household.grid_id)}</dd><dt>${t("status")}</dt><dd>${esc(household.status)}</dd>
      <dt>${t("version")}</dt><dd>${household.version}</dd><dt>${t("phone")}</dt><dd>${esc(household.contact_phone)}</dd>
      <dt>${t("scoring")}</dt><dd>${household.consent.integrity_scoring ? t("yes") : t("no")}</dd>
      <dt>${t("channels")}</dt><dd>${esc(household.consent.notice_channels.join(", "))}</dd></dl>
    <p><a href="#/credit?subject=${id}">${t("credit")}</a> · <a href="#/notices?recipient=${id}">${t("notices")}</a>
      ${hasRole("inspector", "grid_worker") ? `· <a href="#/record?grid=${encodeURIComponent(household.grid_id)}&household=${id}">${t("record")}</a>` : ""}</p>
    <h2>${t("members")}</h2><div class="wide"><table id="members"><thead><tr><th scope="col">${t("name")}</th><th scope="col">${t("relation")}</th>
      <th scope="col">${t("idNumber")}</th><th scope="col">${t("phone")}</th></tr></thead><tbody>${members}</tbody></table></div>
    ${revealForm}
    <h2>${t("history")}</h2><div id="history"></div>
    <h2>${t("timeline")}</h2><div id="timeline"></div>`;
  $("#reveal")?.addEventListener("submit", (event) => {
    event.preventDefault();
    state.revealed = id;
    state.revealReason = new FormData(event.target).get("reason");
    householdPage(id).catch(showError);
  });
  state.revealed = null;
  api("registry", `/households/${id}/history`, { query: { limit: 200 } }).then(({ items: versions }) => {
    $("#history").innerHTML = `<table><thead><tr><th scope="col">${t("version")}</th><th scope="col">${t("change")}</th>
      <th scope="col">${t("changedAt")}</th><th scope="col">${t("changedBy")}</th></tr></thead><tbody>${versions.map((v) =>
        `<tr><td>${v.version}</td><td>${esc(v.change)}</td><td>${when(v.changed_at)}</td><td>${esc(v.changed_by)}</td></tr>`).join("")}</tbody></table>`;
  }).catch((e) => { $("#history").textContent = problemText(e); });
  timeline(id).catch((e) => { $("#timeline").textContent = problemText(e); });
}

async function timeline(id) {
  const safe = (promise) => promise.catch(() => null);
  const [cases, entries, notices] = await Promise.all([
    safe(api("inspections", "/rectifications", { query: { subject_id: id, limit: 100 } })),
    safe(api("credit", `/subjects/${id}/entries`)),
    safe(api("notify", "/notices", { query: { recipient_id: id, limit: 100 } })),
  ]);
  const events = [];
  for (const c of cases?.items || []) {
    events.push({ at: c.requested_at, what: `${t("inspection")} ${t("failed")}`, link: `#/case/${c.id}`, text: `${c.checklist} · ${t(c.status)}` });
  }
  for (const e of entries?.items || []) {
    events.push({ at: e.recorded_at, what: t("ledger"), link: `#/credit?subject=${id}`, text: `${e.points > 0 ? "+" : ""}${e.points} ${e.reason_code}` });
  }
  for (const n of notices?.items || []) {
    events.push({ at: n.created_at, what: t("notice"), link: `#/notices?recipient=${id}`, text: `${n.notice_type} · ${n.status}${n.delivered_at ? ` · ${t("delivered")} ${when(n.delivered_at)}` : ""}` });
  }
  events.sort((a, b) => (a.at < b.at ? 1 : -1));
  $("#timeline").innerHTML = events.length
    ? `<ul>${events.map((e) => `<li><time datetime="${e.at}">${when(e.at)}</time> · <a href="${e.link}">${esc(e.what)}</a> · ${esc(e.text)}</li>`).join("")}</ul>`
    : `<p>${t("none")}</p>`;
}

// --- recording inspections (online and offline) --------------------------------------------------

const outbox = () => JSON.parse(localStorage.getItem(OUTBOX) || "[]");
const cachedChecklists = () => JSON.parse(localStorage.getItem(CHECKLISTS) || "[]");
const saveOutbox = (items) => { localStorage.setItem(OUTBOX, JSON.stringify(items)); showNet(); };

async function sha256(file) {
  const digest = await crypto.subtle.digest("SHA-256", await file.arrayBuffer());
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

// Photos of inspections recorded offline, by SHA-256, until the outbox is sent (next to the
// outbox in localStorage, which cannot hold files).
const PHOTOS = "linli.console.photos";
let photoDb = null;
function photoStore(mode) {
  photoDb ??= new Promise((resolve, reject) => {
    const request = indexedDB.open(PHOTOS, 1);
    request.onupgradeneeded = () => request.result.createObjectStore("photos");
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => { photoDb = null; reject(request.error); };
  });
  return photoDb.then((db) => db.transaction("photos", mode).objectStore("photos"));
}
const idbRequest = (request) => new Promise((resolve, reject) => {
  request.onsuccess = () => resolve(request.result);
  request.onerror = () => reject(request.error);
});

async function keepPhoto(file) {
  const hash = await sha256(file);
  await idbRequest((await photoStore("readwrite")).put(file, hash));
  return { photo_ref: `${UPLOADED}${hash}`, sha256: hash };
}

const keptHashes = (inspection) => inspection.findings.flatMap((f) => f.evidence || [])
  .filter((e) => e.photo_ref.startsWith(UPLOADED)).map((e) => e.sha256);

// Upload an offline inspection's kept photos (the same bytes again are answered the same).
async function uploadKept(inspection) {
  for (const hash of keptHashes(inspection)) {
    const file = await idbRequest((await photoStore("readonly")).get(hash));
    if (file) await api("inspections", "/evidence", { method: "POST", body: file });
  }
}

async function forgetKept(inspection) {
  for (const hash of keptHashes(inspection)) await idbRequest((await photoStore("readwrite")).delete(hash));
}

async function uploadPhoto(file) {
  const status = $("#r-photo-status");
  if (status) status.textContent = t("photoUploading");
  try {
    const stored = await api("inspections", "/evidence", { method: "POST", body: file });
    if (status) status.textContent = t("photoUploaded");
    return stored;
  } catch (error) {
    if (status) status.textContent = problemText(error);
    throw error;
  }
}

async function recordPage() {
  const q = params();
  const reinspection = q.get("reinspect");
  const grids = await gridsInReach();
  const grid = q.get("grid") || grids[0] || "";
  const [{ items: checklists }, households] = await Promise.all([
    api("inspections", "/checklists", { query: { limit: 200 } }).then((page) => {
      localStorage.setItem(CHECKLISTS, JSON.stringify(page.items));
      return page;
    }),
    reinspection ? { items: [] } : api("registry", "/households", { query: { grid_id: grid, limit: 100 } }),
  ]);
  let failedItems = null;
  if (reinspection) {
    const c = await api("inspections", `/rectifications/${reinspection}`);
    failedItems = c.failed_findings.map((f) => ({ code: f.item, text: f.item, severity: f.severity }));
  }
  const checklistName = q.get("checklist") || checklists[0]?.name;
  const checklist = checklists.find((c) => c.name === checklistName);
  const items = failedItems || checklist?.items || [];
  const gridOptions = grids.map((g) => `<option ${g === grid ? "selected" : ""}>${esc(g)}</option>`).join("");
  const householdOptions = households.items.map((h) => `<option value="${h.id}" ${h.id === q.get("household") ? "selected" : ""}>${esc(h.address)} · ${esc(h.members[0]?.name)}</option>`).join("");
  const checklistOptions = checklists.map((c) => `<option value="${esc(c.name)}" ${c.name === checklistName ? "selected" : ""}>${esc(c.title)} (v${c.version})</option>`).join("");
  const itemRows = itemFieldsets(items);
  const target = reinspection
    ? `<p class="notice">${t("reinspectionOf")} <a href="#/case/${reinspection}">${reinspection.slice(0, 8)}</a></p>`
    : `<label for="r-grid">${t("grid")}</label><select id="r-grid" name="grid">${gridOptions}</select>
       <label for="r-household">${t("selectHousehold")}</label><select id="r-household" name="household" required>${householdOptions}</select>
       <label for="r-checklist">${t("checklist")}</label><select id="r-checklist" name="checklist">${checklistOptions}</select>`;
  main().innerHTML = `<h1>${reinspection ? t("reinspect") : t("record")}</h1>
    <form class="stack" id="record">${target}${itemRows}${evidenceFields()}
      <button type="submit">${t("submit")}</button></form>
    <div id="outcome" role="status" aria-live="polite"></div>
    <section aria-labelledby="queue-h"><h2 id="queue-h">${t("queue")}</h2><div id="queue"></div></section>`;
  $("#r-grid")?.addEventListener("change", (e) => { location.hash = `#/record?grid=${encodeURIComponent(e.target.value)}`; });
  $("#r-checklist")?.addEventListener("change", (e) => { q.set("checklist", e.target.value); location.hash = `#/record?${q}`; });
  const findingsOf = locatedFindings(items);
  $("#record").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = new FormData(event.target);
    const findings = await findingsOf(form);
    if (!findings) return; // the API refused the photo: the reason is shown
    const inspection = { id: crypto.randomUUID(), inspected_at: new Date().toISOString(), findings };
    if (reinspection) inspection.reinspection_of = reinspection;
    else Object.assign(inspection, { subject_id: form.get("household"), subject_kind: "household", checklist: checklistName, checklist_version: checklist.version });
    const label = reinspection ? `${t("reinspectionOf")} ${reinspection.slice(0, 8)}` : $("#r-household").selectedOptions[0]?.textContent;
    await submitInspection(inspection, label);
  });
  showQueue();
}

function itemFieldsets(items) {
  return items.map((item, i) => `<fieldset><legend>${esc(item.text)}</legend>
      <label class="inline"><input type="radio" name="item-${i}" value="pass" checked> ${t("pass")}</label>
      <label class="inline"><input type="radio" name="item-${i}" value="fail" data-item="${i}"> ${t("fail")}</label></fieldset>`).join("");
}

function evidenceFields() {
  return `<label for="r-note">${t("note")}</label><textarea id="r-note" name="note" rows="2"></textarea>
      <label for="r-photo">${t("photo")}</label><input id="r-photo" name="photo" type="file" accept="image/jpeg,image/png,image/webp" capture="environment" aria-describedby="r-photo-status">
      <span id="r-photo-status" class="muted" role="status"></span>
      <button type="button" class="secondary" id="r-locate">${t("useLocation")}</button><span id="r-where" class="muted"></span>`;
}

// Wires the photo and location fields of evidenceFields(); the returned function reads a
// submitted form's findings (a failed item carries the note and the photo's evidence), or null
// when the API refused the photo (its reason is shown). With `upload`, a photo chosen online is
// uploaded at once and the inspection names it; otherwise, or when the network fails, it waits in
// IndexedDB under its hash and is uploaded before the batch is sent.
function locatedFindings(items, { upload = true } = {}) {
  let where = null;
  let uploading = null;
  $("#r-locate").addEventListener("click", () => navigator.geolocation?.getCurrentPosition((p) => {
    where = { latitude: p.coords.latitude, longitude: p.coords.longitude };
    $("#r-where").textContent = `${where.latitude.toFixed(5)}, ${where.longitude.toFixed(5)}`;
  }));
  $("#r-photo").addEventListener("change", (e) => {
    const file = e.target.files[0];
    uploading = upload && file && navigator.onLine ? uploadPhoto(file) : null;
    uploading?.catch(() => {}); // shown in #r-photo-status; submitting asks again
  });
  return async (form) => {
    const note = String(form.get("note") || "") || undefined;
    const photo = form.get("photo");
    let evidence = [];
    if (photo && photo.size) {
      let stored = null;
      try {
        if (upload && navigator.onLine) stored = await (uploading || uploadPhoto(photo));
      } catch (error) {
        if (error instanceof ApiError) { $("#outcome").innerHTML = `<p class="bad">${esc(problemText(error))}</p>`; return null; }
        // the network failed: the photo is kept on this device, as offline
      }
      stored ??= await keepPhoto(photo);
      evidence = [{ photo_ref: stored.photo_ref, sha256: stored.sha256, ...(where || {}), taken_at: new Date().toISOString() }];
    }
    return items.map((item, i) => {
      const passed = form.get(`item-${i}`) !== "fail";
      const finding = { item: item.code, passed };
      if (!passed) Object.assign(finding, { severity: item.severity, note, evidence });
      return finding;
    });
  };
}

function keepOnDevice(inspection, label) {
  saveOutbox([...outbox(), { inspection, label, by: state.claims?.sub || localStorage.getItem(INSPECTOR), status: "pending" }]);
  $("#outcome").innerHTML = `<p class="notice" id="saved-offline">${t(state.token ? "savedOffline" : "savedUntilSignIn")}</p>`;
  showQueue();
}

// Signed out (a cold start without a connection): an inspection recorded onto the device with
// the checklists kept from an online visit. The household is named by its number (on its door
// plate, or in its case), since the device keeps no household list: that is personal data.
function devicePage() {
  const checklists = cachedChecklists();
  const by = localStorage.getItem(INSPECTOR);
  const q = params();
  const checklistName = q.get("checklist") || checklists[0]?.name;
  const checklist = checklists.find((c) => c.name === checklistName);
  if (!checklist || !by) {
    main().innerHTML = `<h1>${t("recordOnDevice")}</h1><p>${t("deviceNeedsVisit")}</p><p><a href="#/sign-in">${t("signIn")}</a></p>`;
    return;
  }
  main().innerHTML = `<h1>${t("recordOnDevice")}</h1>
    <p class="notice">${t("deviceRecordFor", { by: esc(by) })}</p>
    <form class="stack" id="record">
      <label for="r-household-id">${t("householdNumber")}</label>
      <input id="r-household-id" name="household" required pattern="${UUID}" aria-describedby="r-household-hint" autocomplete="off">
      <span id="r-household-hint" class="muted">${t("householdNumberHint")}</span>
      <label for="r-checklist">${t("checklist")}</label><select id="r-checklist" name="checklist">${checklists.map((c) =>
        `<option value="${esc(c.name)}" ${c.name === checklistName ? "selected" : ""}>${esc(c.title)} (v${c.version})</option>`).join("")}</select>
      ${itemFieldsets(checklist.items)}${evidenceFields()}
      <button type="submit">${t("keepOnDevice")}</button></form>
    <div id="outcome" role="status" aria-live="polite"></div>
    <section aria-labelledby="queue-h"><h2 id="queue-h">${t("queue")}</h2><div id="queue"></div></section>
    <p><a href="#/sign-in">${t("signIn")}</a></p>`;
  $("#r-checklist").addEventListener("change", (e) => { location.hash = `#/device?checklist=${encodeURIComponent(e.target.value)}`; });
  const findingsOf = locatedFindings(checklist.items, { upload: false }); // signed out: no token
  $("#record").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = new FormData(event.target);
    const household = String(form.get("household")).trim().toLowerCase();
    const inspection = {
      id: crypto.randomUUID(), inspected_at: new Date().toISOString(), findings: await findingsOf(form),
      subject_id: household, subject_kind: "household", checklist: checklist.name, checklist_version: checklist.version,
    };
    keepOnDevice(inspection, `${t("householdNumber")} ${household.slice(0, 8)} · ${checklist.title}`);
    event.target.reset();
  });
  showQueue();
}

async function submitInspection(inspection, label) {
  const outcome = $("#outcome");
  if (!navigator.onLine) {
    keepOnDevice(inspection, label);
    return;
  }
  try {
    const recorded = await api("inspections", "/inspections", { method: "POST", body: inspection });
    outcome.innerHTML = `<p class="notice" id="recorded">${t("recorded")}: <strong class="${recorded.outcome === "failed" ? "bad" : "good"}">${t(recorded.outcome)}</strong>
      ${recorded.comply_by ? ` · ${t("complyBy")} <time id="comply-by" datetime="${recorded.comply_by}">${when(recorded.comply_by)}</time>` : ""}</p>`;
  } catch (error) {
    if (error instanceof ApiError) { outcome.innerHTML = `<p class="bad">${esc(problemText(error))}</p>`; return; }
    keepOnDevice(inspection, label); // the network failed: keep it
  }
}

function showQueue() {
  const element = $("#queue");
  if (!element) return;
  const items = outbox();
  const rows = [...items.map((entry) => ({ ...entry, kept: true })), ...state.sync].map((entry) => `<tr data-id="${entry.inspection.id}">
      <td>${esc(entry.label)}</td><td>${when(entry.inspection.inspected_at)}</td><td class="sync-status">${esc(t(entry.status))}</td>
      <td>${esc((entry.errors || []).map((e) => e.message || e.detail || JSON.stringify(e)).join("; "))}</td>
      <td>${entry.kept && entry.status !== "pending" ? `<button type="button" class="secondary" data-remove="${entry.inspection.id}">${t("remove")}</button>` : ""}</td></tr>`);
  element.innerHTML = rows.length
    ? `<table><thead><tr><th scope="col">${t("household")}</th><th scope="col">${t("inspected")}</th><th scope="col">${t("status")}</th><th scope="col">${t("why")}</th><th scope="col"><span class="muted">${t("remove")}</span></th></tr></thead><tbody>${rows.join("")}</tbody></table>
       ${state.token ? `<button type="button" id="send-now">${t("send")}</button>` : `<p class="muted">${t("signInToSend")}</p>`}`
    : `<p>${t("none")}</p>`;
  $("#send-now")?.addEventListener("click", () => flushOutbox().catch(showError));
  element.querySelectorAll("[data-remove]").forEach((button) => button.addEventListener("click", () => {
    const removed = outbox().find((e) => e.inspection.id === button.dataset.remove);
    if (removed) forgetKept(removed.inspection).catch(showError);
    saveOutbox(outbox().filter((e) => e.inspection.id !== button.dataset.remove));
    showQueue();
  }));
}

let flushing = null;
async function flushOutbox() {
  if (flushing || !state.token || !navigator.onLine) return flushing;
  // An inspection is sent by the inspector who recorded it, never under someone else's name.
  const mine = (e) => !e.by || e.by === state.claims.sub;
  const pending = outbox().filter((e) => e.status === "pending" && mine(e));
  if (!pending.length) return null;
  flushing = (async () => {
    // The photos first: the batch's inspections name them. A refused photo keeps its inspection
    // on the device with the reason; a network failure stops here (tried again later).
    const refused = new Map();
    for (const entry of pending) {
      try {
        await uploadKept(entry.inspection);
      } catch (error) {
        if (!(error instanceof ApiError)) throw error;
        refused.set(entry.inspection.id, { id: entry.inspection.id, status: "invalid", errors: [{ field: "photo", message: problemText(error) }] });
      }
    }
    const sending = pending.filter((e) => !refused.has(e.inspection.id));
    const answer = sending.length
      ? await api("inspections", "/inspections/batch", { method: "POST", body: { inspections: sending.map((e) => e.inspection) } })
      : { results: [] };
    const byId = new Map([...refused, ...answer.results.map((r) => [r.id, r])]);
    const kept = [];
    for (const entry of outbox()) {
      const result = byId.get(entry.inspection.id);
      if (!result) { kept.push(entry); continue; }
      if (result.status === "recorded" || result.status === "duplicate") {
        state.sync.push({ ...entry, status: result.status });
        await forgetKept(entry.inspection);
      } else {
        kept.push({ ...entry, status: result.status, errors: result.errors });
      }
    }
    saveOutbox(kept);
    showQueue();
  })().finally(() => { flushing = null; });
  return flushing;
}

// --- cases --------------------------------------------------------------------------------------

async function casesPage() {
  const q = params();
  const offset = Number(q.get("offset") || 0);
  const statuses = ["", "open", "ready", "overdue", "verified"];
  main().innerHTML = `<h1>${t("cases")}</h1>
    <form class="stack" id="filter"><label for="c-status">${t("status")}</label><select id="c-status" name="status">
      ${statuses.map((s) => `<option value="${s}" ${s === (q.get("status") || "") ? "selected" : ""}>${s ? t(s) : "—"}</option>`).join("")}</select>
      <label for="c-grid">${t("grid")}</label><input id="c-grid" name="grid" value="${esc(q.get("grid"))}">
      <button type="submit">${t("search")}</button></form><div id="list"></div>`;
  $("#filter").addEventListener("submit", (event) => {
    event.preventDefault();
    location.hash = `#/cases?${new URLSearchParams(new FormData(event.target))}`;
  });
  const page = await api("inspections", "/rectifications", { query: { status: q.get("status"), grid_id: q.get("grid"), limit: 20, offset } });
  $("#list").innerHTML = page.items.length
    ? `<div class="wide"><table><thead><tr><th scope="col">${t("case")}</th><th scope="col">${t("checklist")}</th><th scope="col">${t("status")}</th>
        <th scope="col">${t("grid")}</th><th scope="col">${t("complyBy")}</th></tr></thead><tbody>${page.items.map((c) =>
        `<tr><td><a href="#/case/${c.id}">${c.id.slice(0, 8)}</a></td><td>${esc(c.checklist)}</td><td>${t(c.status)}${c.escalation !== "none" ? ` · ${t("escalated")}` : ""}</td>
         <td>${esc(c.grid_id)}</td><td>${when(c.comply_by)}</td></tr>`).join("")}</tbody></table></div>
       ${pager(page, (o) => { q.set("offset", o); return `#/cases?${q}`; })}`
    : `<p>${t("none")}</p>`;
}

async function casePage(id) {
  const c = await api("inspections", `/rectifications/${id}`);
  const canReady = c.status === "open" || c.status === "overdue";
  const planned = c.scheduled_reinspection;
  const zone = state.config.time_zone;
  main().innerHTML = `<h1>${t("case")} ${id.slice(0, 8)}</h1>
    <dl><dt>${t("status")}</dt><dd id="case-status">${t(c.status)}</dd><dt>${t("checklist")}</dt><dd>${esc(c.checklist)}</dd>
      <dt>${t("severity")}</dt><dd>${esc(c.severity)}</dd><dt>${t("complyBy")}</dt><dd id="case-comply-by">${when(c.comply_by)}</dd>
      <dt>${t("inspected")}</dt><dd id="case-inspected">${when(c.observed_at)}</dd><dt>${t("receivedAt")}</dt><dd>${when(c.requested_at)}</dd>
      <dt>${t("notifiedAt")}</dt><dd id="case-notified">${c.notified_at ? when(c.notified_at) : c.comply_clock === "notified" ? t("notNotified") : "—"}</dd>
      <dt>${t("household")}</dt><dd><a href="#/household/${c.subject_id}">${c.subject_id.slice(0, 8)}</a></dd></dl>
    <h2>${t("item")}</h2><ul>${c.failed_findings.map((f) => `<li>${esc(f.item)} (${esc(f.severity)})${f.note ? ` — ${esc(f.note)}` : ""}${photos(f)}</li>`).join("")}</ul>
    <p>${canReady ? `<button type="button" id="mark-ready">${t("markReady")}</button>` : ""}
      ${c.status === "ready" || c.status === "overdue" ? `<a href="#/record?reinspect=${id}">${t("reinspect")}</a>` : ""}</p>
    ${planned ? `<p id="pending-reinspection" tabindex="-1">${t("pendingReinspection")}: <time datetime="${planned.scheduled_for}">${when(planned.scheduled_for)}</time>${planned.inspector_id ? ` · ${esc(planned.inspector_id)}` : ""}${planned.note ? ` — ${esc(planned.note)}` : ""}</p>` : ""}
    ${c.status !== "verified" ? `<form class="stack" id="schedule-reinspection" aria-labelledby="sr-h"><h2 id="sr-h">${t("scheduleReinspection")}</h2>
      <label for="sr-when">${t("scheduledFor")}</label><input id="sr-when" name="when" type="datetime-local" required aria-describedby="sr-zone">
      <small id="sr-zone">${esc(t("timeZoneNote", { zone: zone }))}</small>
      <label for="sr-inspector">${t("inspectorId")}</label><input id="sr-inspector" name="inspector" maxlength="200">
      <label for="sr-note">${t("note")}</label><input id="sr-note" name="note" maxlength="500">
      <button type="submit">${t("scheduleSubmit")}</button><p id="sr-result" role="status"></p></form>` : ""}
    <h2>${t("timeline")}</h2><ol id="case-timeline">${(c.timeline || []).map((e) => `<li><time datetime="${e.at}">${when(e.at)}</time> · ${esc(t(e.kind))}${timelineDetail(e)}</li>`).join("")}</ol>`;
  showPhotos();
  $("#mark-ready")?.addEventListener("click", async () => {
    await api("inspections", `/rectifications/${id}/ready`, { method: "POST" });
    casePage(id).catch(showError);
  });
  $("#schedule-reinspection")?.addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = new FormData(event.target);
    try {
      await api("inspections", `/rectifications/${id}/reinspection`, {
        method: "POST",
        body: { scheduled_for: zoned(form.get("when"), zone), inspector_id: form.get("inspector") || null, note: form.get("note") || null },
      });
    } catch (error) {
      $("#sr-result").textContent = problemText(error);
      return;
    }
    await casePage(id);
    $("#pending-reinspection")?.focus();
  });
}

// A finding's uploaded photos: placeholders, filled by showPhotos (the bytes need the token).
function photos(finding) {
  return (finding.evidence || []).filter((e) => e.photo_ref.startsWith(UPLOADED)).map((e, i) =>
    `<figure class="photo"><img data-photo="${esc(e.sha256)}" alt="${esc(t("photoOf", { item: finding.item, n: i + 1 }))}">
      ${e.taken_at ? `<figcaption><time datetime="${esc(e.taken_at)}">${when(e.taken_at)}</time></figcaption>` : ""}</figure>`).join("");
}

function showPhotos() {
  document.querySelectorAll("img[data-photo]").forEach(async (img) => {
    try {
      const blob = await api("inspections", `/evidence/${img.dataset.photo}`, { as: "blob" });
      img.src = URL.createObjectURL(blob);
      img.addEventListener("load", () => URL.revokeObjectURL(img.src), { once: true });
    } catch (error) {
      img.replaceWith(Object.assign(document.createElement("span"), { className: "muted", textContent: `${img.alt}: ${problemText(error)}` }));
    }
  });
}

function timelineDetail(entry) {
  const d = entry.detail;
  // A case's clock: when it was inspected and uploaded, and the deadline once the party was told.
  if (entry.kind === "requested" && d.inspected_at) {
    return ` · ${t("inspected")} <time datetime="${esc(d.inspected_at)}">${when(d.inspected_at)}</time>`
      + ` · ${t("receivedAt")} <time datetime="${esc(d.received_at)}">${when(d.received_at)}</time>`;
  }
  if (entry.kind === "notified" || entry.kind === "notice_failed") {
    return ` · ${esc(d.channel)} · ${t("complyBy")} <time datetime="${esc(d.comply_by)}">${when(d.comply_by)}</time>`;
  }
  if (entry.kind !== "reinspection_scheduled") return "";
  return ` · <time datetime="${esc(d.scheduled_for)}">${when(d.scheduled_for)}</time> · ${t("by")} ${esc(d.scheduled_by)}`
    + `${d.inspector_id ? ` · ${esc(d.inspector_id)}` : ""}${d.note ? ` — ${esc(d.note)}` : ""}`;
}

// --- credit -------------------------------------------------------------------------------------

const FIVE_GOOD = [
  "patriotic_law_abiding_public_spirited", "learning_and_dedicated_at_work",
  "equality_respect_for_elders_good_neighbours", "modern_customs", "thrift_and_environmental_protection",
];

async function creditPage() {
  const q = params();
  const subject = q.get("subject");
  main().innerHTML = `<h1>${t("credit")}</h1>
    <form class="stack" id="green" role="search"><h2>${t("greenChannel")}</h2>
      <label for="g-name">${t("name")}</label><input id="g-name" name="name" required>
      <button type="submit">${t("checkOne")}</button></form><div id="green-result" role="status" aria-live="polite"></div>
    <div id="subject"></div>
    <h2>${t("appeals")}</h2><div id="appeals"></div>`;
  $("#green").addEventListener("submit", async (event) => {
    event.preventDefault();
    const name = new FormData(event.target).get("name");
    const result = $("#green-result");
    try {
      const found = await api("registry", "/households", { query: { name, limit: 5 } });
      const checks = await Promise.all(found.items.map(async (h) => [h, await api("credit", `/subjects/${h.id}/green-channel`)]));
      result.innerHTML = checks.length ? checks.map(([h, g]) => `<div class="notice"><p class="verdict ${g.granted ? "good" : "bad"}">${g.granted ? t("granted") : t("refused")}</p>
        <p>${esc(h.address)} · ${esc(h.members[0]?.name)} · ${t("gradeL")} ${esc(g.grade)}</p><p>${t("why")}: ${esc(g.reason)}</p></div>`).join("") : `<p>${t("none")}</p>`;
    } catch (error) { result.textContent = problemText(error); }
  });
  if (subject) await subjectCredit(subject);
  await appealsQueue();
}

async function appealsQueue() {
  const page = await api("credit", "/appeals", { query: { limit: 50 } });
  const decider = hasRole("credit_officer");
  const decide = (a, i) => decider && a.state === "received"
    ? `<form class="decide" data-appeal="${a.id}"><label for="d-outcome-${i}">${t("decision")}</label>
        <select id="d-outcome-${i}" name="outcome"><option value="upheld">${t("upheld")}</option><option value="rejected">${t("rejected")}</option></select>
        <label for="d-reason-${i}">${t("why")}</label><input id="d-reason-${i}" name="reason" required>
        <button type="submit">${t("decide")}</button></form>`
    : esc(a.decision_reason || "");
  $("#appeals").innerHTML = page.items.length ? `<div class="wide"><table id="appeal-list"><thead><tr><th scope="col">${t("household")}</th><th scope="col">${t("grounds")}</th>
    <th scope="col">${t("state")}</th><th scope="col">${t("decision")}</th></tr></thead><tbody>${page.items.map((a, i) => `<tr><td><a href="#/credit?subject=${a.subject_id}">${a.subject_id.slice(0, 8)}</a></td>
    <td>${esc(a.grounds)}</td><td class="appeal-state">${esc(t(a.state))}${a.overdue ? ` · ${t("overdue")}` : ""}</td><td>${decide(a, i)}</td></tr>`).join("")}</tbody></table></div>` : `<p>${t("none")}</p>`;
  document.querySelectorAll("form.decide").forEach((form) => form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = new FormData(form);
    await api("credit", `/appeals/${form.dataset.appeal}/decision`, { method: "POST", body: { outcome: data.get("outcome"), reason: data.get("reason") } })
      .then(appealsQueue).catch(showError);
  }));
}

async function subjectCredit(subject) {
  const [score, explanation] = await Promise.all([
    api("credit", `/subjects/${subject}/score`), api("credit", `/subjects/${subject}/explanation`),
  ]);
  // Who of the household served: a policy may make volunteer hours personal (the resident's).
  const household = explanation.subject_kind === "household"
    ? await api("registry", `/households/${subject}`).catch(() => null) : null;
  $("#subject").innerHTML = `<h2>${t("score")}</h2><p><span class="num" id="score">${score.score}</span> · ${t("gradeL")} <strong id="grade">${esc(score.grade)}</strong>
      <span class="muted">(${t("policy")} ${esc(score.policy_version)})</span></p>
    <p>${t("volunteerTotal")}: <span class="num" id="volunteer-hours">${explanation.entries.filter((e) => e.reason_code === "volunteer.service")
      .reduce((sum, e) => sum + Number(e.cause?.hours || 0), 0)}</span> ${t("hours")}</p>
    <h2>${t("explain")}</h2><p>${t("base")} ${explanation.base_score} + ${explanation.counting_points} = ${explanation.score}</p>
    <div class="wide"><table id="explanation"><thead><tr><th scope="col">${t("points")}</th><th scope="col">${t("rule")}</th><th scope="col">${t("policy")}</th>
      <th scope="col">${t("inspection")}</th><th scope="col">${t("what")}</th><th scope="col">${t("counts")}</th><th scope="col">${t("at")}</th></tr></thead><tbody>${explanation.entries.map((e) =>
      `<tr><td>${e.points > 0 ? "+" : ""}${e.points}</td><td>${esc(e.rule)}</td><td>${esc(e.policy_version)}</td>
       <td>${e.inspection_id ? esc(e.inspection_id.slice(0, 8)) : "—"}</td><td>${e.cause?.hours ? `${e.cause.hours} ${t("hours")} · ${esc(e.cause.activity)}` : ""}</td><td>${e.counts ? t("yes") : t("no")}</td><td>${when(e.occurred_at)}</td></tr>`).join("")}</tbody></table></div>
    ${hasRole("community_staff", "credit_officer", "grid_worker") && explanation.entries.length ? `<form class="stack" id="appeal"><h2>${t("fileAppeal")}</h2>
      <label for="a-entry">${t("ledger")}</label><select id="a-entry" name="entry">${explanation.entries.map((e) =>
        `<option value="${e.id}">${e.points > 0 ? "+" : ""}${e.points} ${esc(e.rule)} · ${when(e.occurred_at)}</option>`).join("")}</select>
      <label for="a-grounds">${t("grounds")}</label><textarea id="a-grounds" name="grounds" rows="2" required></textarea>
      <button type="submit">${t("fileAppeal")}</button></form>` : ""}
    ${hasRole("credit_officer") ? `<form class="stack" id="five-good"><h2>${t("fiveGood")}</h2>
      <label for="f-year">${t("year")}</label><input id="f-year" name="year" type="number" min="2000" max="2100" value="${new Date().getFullYear()}" required>
      <fieldset><legend>${t("criteria")}</legend>${FIVE_GOOD.map((c) => `<label class="inline"><input type="checkbox" name="${c}" checked> ${t(c)}</label>`).join("")}</fieldset>
      <button type="submit">${t("award")}</button></form>` : ""}
    <form class="stack" id="volunteer"><h2>${t("volunteer")}</h2>
      ${household?.members?.length ? `<label for="v-resident">${t("servedBy")}</label><select id="v-resident" name="resident_id">${household.members.map((m) =>
        `<option value="${m.resident_id}">${esc(m.name)} · ${esc(m.relation)}</option>`).join("")}</select>` : ""}
      <label for="v-hours">${t("hours")}</label><input id="v-hours" name="hours" type="number" min="1" max="1000" required>
      <label for="v-date">${t("servedOn")}</label><input id="v-date" name="served_on" type="date" required>
      <label for="v-activity">${t("activity")}</label><input id="v-activity" name="activity" required>
      <button type="submit">${t("add")}</button></form>`;
  const volunteerKey = crypto.randomUUID(); // a resend of this form records the hours once
  $("#volunteer").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = new FormData(event.target);
    await api("credit", `/subjects/${subject}/volunteer-hours`, {
      method: "POST", extra: { "Idempotency-Key": volunteerKey },
      body: {
        hours: Number(form.get("hours")), served_on: form.get("served_on"), activity: form.get("activity"),
        ...(form.get("resident_id") ? { resident_id: form.get("resident_id") } : {}),
      },
    }).then(() => subjectCredit(subject)).catch(showError);
  });
  $("#appeal")?.addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = new FormData(event.target);
    await api("credit", "/appeals", { method: "POST", body: { entry_id: form.get("entry"), grounds: form.get("grounds") } })
      .then(appealsQueue).catch(showError);
  });
  $("#five-good")?.addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = new FormData(event.target);
    const criteria = Object.fromEntries(FIVE_GOOD.map((c) => [c, form.get(c) === "on"]));
    await api("credit", `/subjects/${subject}/five-good-awards`, { method: "POST", body: { year: Number(form.get("year")), criteria } })
      .then(() => subjectCredit(subject)).catch(showError);
  });
}

// --- notices ------------------------------------------------------------------------------------

async function noticesPage() {
  const q = params();
  const recipient = q.get("recipient");
  main().innerHTML = `<h1>${t("notices")}</h1>
    <form class="stack" id="who"><label for="n-recipient">${t("recipient")}</label><input id="n-recipient" name="recipient" value="${esc(recipient)}" required>
      <button type="submit">${t("load")}</button></form>
    <div id="log"></div><div id="inbox"></div>
    <form class="stack" id="preview"><h2>${t("templates")}</h2>
      <label for="p-type">${t("type")}</label><select id="p-type" name="type"></select>
      <label for="p-locale">${t("locale")}</label><select id="p-locale" name="locale"><option>zh-CN</option><option>en</option></select>
      <label for="p-vars">${t("variables")}</label><textarea id="p-vars" name="variables" rows="4">{}</textarea>
      <button type="submit">${t("preview")}</button></form><div id="rendered" role="status" aria-live="polite"></div>`;
  $("#who").addEventListener("submit", (event) => {
    event.preventDefault();
    location.hash = `#/notices?recipient=${encodeURIComponent(new FormData(event.target).get("recipient"))}`;
  });
  const templates = await api("notify", "/templates");
  $("#p-type").innerHTML = templates.items.map((x) => `<option>${esc(x.notice_type)}</option>`).join("");
  const sample = () => { $("#p-vars").value = JSON.stringify(TEMPLATE_SAMPLES[$("#p-type").value] || {}, null, 2); };
  $("#p-type").value = "score_change";
  sample();
  $("#p-type").addEventListener("change", sample);
  $("#preview").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = new FormData(event.target);
    try {
      const variables = JSON.parse(form.get("variables") || "{}");
      const rendered = await api("notify", `/templates/${form.get("type")}/preview`, {
        method: "POST", body: { locale: form.get("locale"), variables, recipient: { name: "王建国", address: "幸福里小区 1 栋 2 单元 301" } },
      });
      $("#rendered").innerHTML = `<h3 id="rendered-subject">${esc(rendered.subject)}</h3><pre>${esc(rendered.body)}</pre>`;
    } catch (error) { $("#rendered").innerHTML = `<p class="bad">${esc(problemText(error))}</p>`; }
  });
  if (!recipient) return;
  const [page] = await Promise.all([
    api("notify", "/notices", { query: { recipient_id: recipient, limit: 50 } }), showInbox(recipient),
  ]);
  const detailed = await Promise.all(page.items.map((n) => api("notify", `/notices/${n.id}`)));
  $("#log").innerHTML = `<h2>${t("deliveries")}</h2>${detailed.length ? `<div class="wide"><table id="deliveries"><thead><tr><th scope="col">${t("notice")}</th>
    <th scope="col">${t("status")}</th><th scope="col">${t("channel")}</th><th scope="col">${t("attempted")}</th></tr></thead><tbody>${detailed.map((n) =>
    (n.deliveries?.length ? n.deliveries : [{}]).map((d) => `<tr><td>${esc(n.notice_type)}</td><td>${esc(d.status || n.status)}</td><td>${esc(d.channel || "")}</td>
    <td>${when(d.attempted_at)}</td></tr>`).join("")).join("")}</tbody></table></div>` : `<p>${t("none")}</p>`}`;
}

// The resident's in-app inbox as the resident sees it, with its read state; staff who handed a
// notice over in person can mark it read (or unread again).
async function showInbox(recipient) {
  const inbox = await api("notify", `/recipients/${recipient}/inbox`, { query: { limit: 50 } }).catch(() => null);
  if (!inbox) { $("#inbox").innerHTML = ""; return; }
  $("#inbox").innerHTML = `<h2 id="inbox-h">${t("inbox")} (<span id="inbox-unread">${inbox.unread}</span> ${t("unread")})</h2>${inbox.items.map((i) =>
    `<article class="notice inbox-item" data-id="${i.id}" aria-labelledby="in-${i.id}"><h3 id="in-${i.id}">${esc(i.subject || i.notice_type)}</h3>
      <p class="inbox-body">${esc(i.body || "")}</p>
      <p class="muted"><time datetime="${esc(i.delivered_at)}">${when(i.delivered_at)}</time> · ${esc(i.channel || "")} ·
        <span class="read-state">${i.read ? `${t("read")} ${when(i.read_at)}` : t("unreadOne")}</span></p>
      <button type="button" class="secondary" data-read="${i.read ? "false" : "true"}" aria-describedby="in-${i.id}">${i.read ? t("markUnread") : t("markRead")}</button></article>`).join("") || `<p>${t("none")}</p>`}`;
  document.querySelectorAll("#inbox [data-read]").forEach((button) => button.addEventListener("click", async () => {
    const id = button.closest("article").dataset.id;
    await api("notify", `/notices/${id}/read-state`, { method: "PUT", body: { read: button.dataset.read === "true" } })
      .then(() => showInbox(recipient)).catch(showError);
  }));
}

// Variables that make a template's preview meaningful (the event's own fields).
const TEMPLATE_SAMPLES = {
  score_change: { score_before: 1000, score_after: 980, points: -20, grade_before: "AA", grade_after: "A", reason_code: "inspection.failed" },
};

// --- audit (admins) -----------------------------------------------------------------------------

async function auditPage() {
  const page = await api("registry", "/audit", { query: { action: "personal-data-read", limit: 50 } });
  main().innerHTML = `<h1>${t("auditTrail")}</h1><div class="wide"><table id="audit"><thead><tr><th scope="col">${t("at")}</th><th scope="col">${t("actor")}</th>
    <th scope="col">${t("action")}</th><th scope="col">${t("path")}</th></tr></thead><tbody>${page.items.map((a) =>
    `<tr><td>${when(a.at)}</td><td>${esc(a.actor)}</td><td>${esc(a.action)}</td><td>${esc(a.resource || a.path)}${a.details?.query?.reason ? ` (${esc(a.details.query.reason)})` : ""}</td></tr>`).join("")}</tbody></table></div>`;
}

// --- shell --------------------------------------------------------------------------------------

const PAGES = [
  ["today", todayPage, () => true],
  ["households", householdsPage, () => true],
  ["record", recordPage, () => hasRole("inspector", "grid_worker")],
  ["cases", casesPage, () => true],
  ["credit", creditPage, () => hasRole("community_staff", "credit_officer", "grid_worker")],
  ["notices", noticesPage, () => hasRole("community_staff", "grid_worker", "credit_officer")],
  ["audit", auditPage, () => roles().has("admin")],
];

function showNet() {
  const waiting = outbox().filter((e) => e.status === "pending").length;
  $("#net").textContent = `${navigator.onLine ? t("online") : t("offline")}${waiting ? ` · ${waiting} ${t("pending")}` : ""}`;
}

function showError(error) { alertText(problemText(error)); }

async function render() {
  document.documentElement.lang = state.lang;
  document.title = t("brand");
  $("#brand").textContent = t("brand");
  $(".skip").textContent = t("skip");
  $("#nav").setAttribute("aria-label", t("nav"));
  $("#lang").textContent = t("lang");
  $("#signout").textContent = t("signOut");
  $("#signout").hidden = !state.token;
  showNet();
  const [route, ...rest] = location.hash.slice(2).split("?")[0].split("/");
  $("#nav").innerHTML = state.token
    ? PAGES.filter(([, , allowed]) => allowed()).map(([name]) => `<a href="#/${name}" ${name === route ? 'aria-current="page"' : ""}>${t(name)}</a>`).join("")
    : "";
  alertText("");
  delete main().dataset.page; // set again once the page has rendered
  if (!state.token) {
    if (route === "device") devicePage();
    else signInPage();
    main().dataset.page = route === "device" ? "device" : "sign-in";
    return;
  }
  const page = { household: householdPage, case: casePage }[route] || PAGES.find(([name]) => name === route)?.[1] || todayPage;
  try {
    await page(...rest);
    main().dataset.page = route || "today";
  } catch (error) { showError(error); }
}

async function start() {
  state.config = await (await fetch("config.json")).json();
  $("#lang").addEventListener("click", () => {
    state.lang = state.lang === "zh-CN" ? "en" : "zh-CN";
    localStorage.setItem("linli.console.lang", state.lang);
    render();
  });
  $("#signout").addEventListener("click", signOut);
  window.addEventListener("hashchange", () => { render(); main().focus(); });
  window.addEventListener("online", () => { showNet(); deviceSection(); flushOutbox().catch(showError); });
  window.addEventListener("offline", () => { showNet(); deviceSection(); });
  // The shell kept for a start without a connection (sw.js); the console works without it.
  navigator.serviceWorker?.register("sw.js").catch(() => null);
  if (state.config.oidc) {
    const tokens = await oidcCallback(state.config.oidc).catch((e) => { alertText(problemText(e)); return null; });
    if (tokens) signedIn(tokens.access_token, () => oidcRefresh(state.config.oidc, tokens).then((fresh) => signedIn(fresh.access_token, state.refresh)));
  }
  await render();
  flushOutbox().catch(showError);
}

start();
