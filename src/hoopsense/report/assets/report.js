"use strict";
(function () {
  const DATA = JSON.parse(document.getElementById("report-data").textContent);
  const PAGE = 100;
  const $ = (id) => document.getElementById(id);
  const video = $("video"), lanes = $("lanes"), cursor = $("cursor"), box = $("lane-box");
  const offset = DATA.offset || 0, duration = Math.max(DATA.duration || 0, 1e-3);
  const EV = DATA.events; // [player, label, start, end, confidence]
  const labels = DATA.labels, colours = DATA.colours, recognized = DATA.recognized;
  const players = DATA.players; // in group order when the run has teams
  const groups = DATA.groups || [], grouped = groups.length > 0;
  const groupOf = new Map();
  for (const g of groups) for (const id of g.players) groupOf.set(id, g);
  const thumbnails = players.some((p) => p.thumbnail);
  const LANE_H = thumbnails ? 44 : 22, HEAD_H = 24; // lanes grow to show the player's picture
  document.documentElement.style.setProperty("--lane-h", `${LANE_H}px`);
  document.documentElement.style.setProperty("--head-h", `${HEAD_H}px`);
  if (grouped || thumbnails) document.documentElement.style.setProperty("--names-w", grouped ? "200px" : "110px");
  const byPlayer = new Map(players.map((p) => [p.id, []]));
  EV.forEach((e, i) => { if (byPlayer.has(e[0])) byPlayer.get(e[0]).push(i); });
  for (const list of byPlayer.values()) list.sort((a, b) => EV[a][2] - EV[b][2]);

  const state = {
    players: new Set(players.map((p) => p.id)),
    actions: new Set(labels.map((_, i) => i)),
    minConf: 0, w0: offset, w1: offset + duration,
    sortKey: "start", sortDir: 1, page: 0, rows: [], drawn: 0, current: new Set(),
  };

  // ---------- header ----------
  $("title").textContent = DATA.title;
  $("meta").textContent = `${players.length} players · ${fmt(duration)} analysed` + (offset ? ` from ${fmt(offset)}` : "") + (recognized ? ` · ${EV.length} action events` : " · tracking only (no recognizer)");
  $("partial").hidden = !DATA.partial;
  if (DATA.video) video.src = DATA.video;

  // ---------- filters ----------
  function checkbox(list, name, value, colour, text, checked) {
    const label = document.createElement("label");
    const input = document.createElement("input");
    input.type = "checkbox"; input.name = name; input.value = String(value); input.checked = checked;
    const sw = document.createElement("span");
    sw.className = "swatch"; sw.style.background = colour;
    label.append(input, sw, document.createTextNode(text));
    list.append(label);
    return input;
  }
  function swatch(colour) {
    const sw = document.createElement("span");
    sw.className = "swatch"; sw.style.background = colour;
    return sw;
  }
  function groupHead(g, tag) { // "Team A · 5 players" with the team's colour
    const head = document.createElement(tag);
    head.className = "group-head"; head.dataset.team = g.team;
    if (g.colour) head.append(swatch(g.colour));
    const name = document.createElement("strong"); name.textContent = g.name;
    const count = document.createElement("span"); count.className = "muted";
    count.textContent = ` · ${g.players.length} player${g.players.length === 1 ? "" : "s"}`;
    head.append(name, count);
    return head;
  }
  const playerList = $("player-list"), actionList = $("action-list");
  let lastGroup = null;
  for (const p of players) {
    const g = groupOf.get(p.id);
    if (g && g !== lastGroup) { playerList.append(groupHead(g, "div")); lastGroup = g; }
    checkbox(playerList, "player", p.id, p.colour, `#${p.id}`, true);
  }
  if (recognized) labels.forEach((name, i) => checkbox(actionList, "action", i, colours[i], name, true));
  else { $("action-filter").hidden = true; $("conf-label").hidden = true; }
  playerList.addEventListener("change", (ev) => { toggle(state.players, Number(ev.target.value), ev.target.checked); refresh(); });
  actionList.addEventListener("change", (ev) => { toggle(state.actions, Number(ev.target.value), ev.target.checked); refresh(); });
  function toggle(set, value, on) { if (on) set.add(value); else set.delete(value); }
  document.querySelectorAll("[data-all],[data-none]").forEach((b) => b.addEventListener("click", () => {
    const name = b.dataset.all || b.dataset.none, on = !!b.dataset.all;
    document.querySelectorAll(`input[name=${name}]`).forEach((i) => { i.checked = on; toggle(name === "player" ? state.players : state.actions, Number(i.value), on); });
    refresh();
  }));
  $("min-conf").addEventListener("input", (ev) => {
    state.minConf = Number(ev.target.value);
    $("min-conf-value").textContent = state.minConf.toFixed(2);
    refresh();
  });
  const passes = (i) => state.actions.has(EV[i][1]) && EV[i][4] >= state.minConf;
  const shownPlayers = () => players.filter((p) => state.players.has(p.id));

  // ---------- timeline ----------
  function fmt(t) {
    const s = Math.max(0, t), h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
    const mm = String(m).padStart(h ? 2 : 1, "0"), ss = r.toFixed(1).padStart(4, "0");
    return h ? `${h}:${mm}:${ss}` : `${mm}:${ss}`;
  }
  const firstEnding = (list, t) => { // first index in list whose event ends after t (events of a player never overlap)
    let lo = 0, hi = list.length;
    while (lo < hi) { const mid = (lo + hi) >> 1; if (EV[list[mid]][3] <= t) lo = mid + 1; else hi = mid; }
    return lo;
  };
  const xOf = (t, width) => ((t - state.w0) / (state.w1 - state.w0)) * width;
  const nameCache = new Map(); // the names column's elements, made once (thumbnails are decoded once)
  function nameOf(key, make) {
    if (!nameCache.has(key)) nameCache.set(key, make());
    return nameCache.get(key);
  }
  function laneName(p) {
    const name = document.createElement("div");
    name.className = "lane-name"; name.dataset.player = String(p.id);
    if (p.thumbnail) {
      const img = document.createElement("img");
      img.className = "thumb"; img.alt = `#${p.id}`; img.src = p.thumbnail;
      name.append(img);
    } else if (thumbnails) { // keep the names in line with those that have a picture
      const none = document.createElement("span"); none.className = "thumb"; name.append(none);
    }
    name.append(swatch(p.colour), document.createTextNode(`#${p.id}`));
    return name;
  }
  // Rows from the top of the lanes: a header before each team's first shown lane, then the lanes.
  function layout() {
    const rows = [];
    let y = 0, last = null;
    for (const p of shownPlayers()) {
      const g = groupOf.get(p.id);
      if (g && g !== last) { rows.push({ group: g, y, h: HEAD_H }); y += HEAD_H; last = g; }
      rows.push({ player: p, y, h: LANE_H }); y += LANE_H;
    }
    return { rows, height: y };
  }
  function draw() {
    const { rows, height: rowsHeight } = layout(), dpr = window.devicePixelRatio || 1;
    const width = box.clientWidth, height = Math.max(rowsHeight, LANE_H);
    box.style.height = `${height}px`;
    for (const c of [lanes, cursor]) { c.width = Math.round(width * dpr); c.height = Math.round(height * dpr); c.style.width = `${width}px`; c.style.height = `${height}px`; }
    const g = lanes.getContext("2d");
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, width, height);
    const names = $("lane-names");
    names.replaceChildren();
    let drawn = 0, lane = 0;
    for (const r of rows) {
      const y = r.y;
      if (r.group) {
        names.append(nameOf(r.group, () => groupHead(r.group, "div")));
        g.fillStyle = "#eef1f5"; g.fillRect(0, y, width, r.h);
        if (r.group.colour) { g.fillStyle = r.group.colour; g.fillRect(0, y + r.h - 3, width, 3); }
        continue;
      }
      const p = r.player;
      names.append(nameOf(p, () => laneName(p)));
      if (lane++ % 2) { g.fillStyle = "#f8f9fb"; g.fillRect(0, y, width, LANE_H); }
      g.fillStyle = recognized ? "#d8dde6" : p.colour;
      g.globalAlpha = recognized ? 1 : 0.55;
      const mid = y + LANE_H / 2;
      for (const [a, b] of p.visible) {
        if (b < state.w0 || a > state.w1) continue;
        const x0 = xOf(a, width), x1 = xOf(b, width);
        if (recognized) g.fillRect(x0, mid - 2, Math.max(1, x1 - x0), 4);
        else g.fillRect(x0, y + 4, Math.max(1, x1 - x0), LANE_H - 8);
      }
      g.globalAlpha = 1;
      const list = byPlayer.get(p.id);
      for (let k = firstEnding(list, state.w0); k < list.length; k++) {
        const i = list[k], e = EV[i];
        if (e[2] > state.w1) break;
        if (!passes(i)) continue;
        const x0 = xOf(e[2], width), x1 = xOf(e[3], width);
        g.fillStyle = colours[e[1]];
        g.fillRect(x0, y + 3, Math.max(1, x1 - x0 - 0.5), LANE_H - 6);
        if (state.current.has(i)) { g.strokeStyle = "#111"; g.lineWidth = 2; g.strokeRect(x0 + 1, y + 2, Math.max(1, x1 - x0 - 2), LANE_H - 4); }
        drawn++;
      }
    }
    state.drawn = drawn;
    ruler(width);
    drawCursor();
    $("window-label").textContent = `${fmt(state.w0)} – ${fmt(state.w1)}`;
  }
  function ruler(width) {
    const el = $("ruler"), span = state.w1 - state.w0;
    const steps = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600];
    const step = steps.find((s) => span / s <= width / 70) || 7200;
    el.replaceChildren();
    for (let t = Math.ceil(state.w0 / step) * step; t <= state.w1; t += step) {
      const s = document.createElement("span"); s.style.left = `${xOf(t, width)}px`; s.textContent = fmt(t); el.append(s);
    }
  }
  const now = () => offset + (video.currentTime || 0);
  function drawCursor() {
    const g = cursor.getContext("2d"), dpr = window.devicePixelRatio || 1, width = box.clientWidth;
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, cursor.width, cursor.height);
    const x = xOf(now(), width);
    state.cursorX = x >= 0 && x <= width ? x : null;
    if (state.cursorX === null) return;
    g.strokeStyle = "#e02424"; g.lineWidth = 2;
    g.beginPath(); g.moveTo(x, 0); g.lineTo(x, cursor.height / dpr); g.stroke();
  }
  function currentEvents(t) {
    const out = new Set();
    for (const p of shownPlayers()) {
      const list = byPlayer.get(p.id), k = firstEnding(list, t);
      if (k < list.length && EV[list[k]][2] <= t && passes(list[k])) out.add(list[k]);
    }
    return out;
  }
  function tick() {
    const t = now();
    if (!video.paused && (t > state.w1 || t < state.w0)) { // keep the cursor in view while playing
      const span = state.w1 - state.w0;
      state.w0 = Math.max(offset, Math.min(t - span * 0.1, offset + duration - span)); state.w1 = state.w0 + span;
      draw();
    }
    const cur = currentEvents(t);
    const changed = cur.size !== state.current.size || [...cur].some((i) => !state.current.has(i));
    if (changed) { state.current = cur; draw(); showNow(); markRows(); } else drawCursor();
  }
  function showNow() {
    const el = $("now"); el.replaceChildren();
    for (const i of state.current) {
      const e = EV[i], chip = document.createElement("span");
      chip.className = "chip"; chip.style.background = colours[e[1]];
      chip.textContent = `#${e[0]} ${labels[e[1]]} ${e[4].toFixed(2)}`;
      el.append(chip);
    }
  }
  function loop() { tick(); if (!video.paused) requestAnimationFrame(loop); }
  video.addEventListener("play", () => requestAnimationFrame(loop));
  video.addEventListener("seeked", tick);
  video.addEventListener("timeupdate", tick);

  function seek(t) {
    const v = Math.max(0, t - offset);
    try { video.currentTime = v; } catch (err) { /* no video loaded */ }
    state.lastSeek = v;
    tick();
  }
  function hit(x, y) {
    const row = layout().rows.find((r) => r.player && y >= r.y && y < r.y + r.h);
    if (!row) return null;
    const t = state.w0 + (x / box.clientWidth) * (state.w1 - state.w0), list = byPlayer.get(row.player.id);
    const tol = (2 / box.clientWidth) * (state.w1 - state.w0);
    for (let k = firstEnding(list, t - tol); k < list.length && EV[list[k]][2] <= t + tol; k++) if (passes(list[k])) return { event: list[k], t };
    return { event: null, t };
  }
  let drag = null;
  lanes.addEventListener("mousedown", (ev) => { drag = { x: ev.offsetX, w0: state.w0, w1: state.w1, moved: false }; });
  window.addEventListener("mousemove", (ev) => {
    if (!drag) return;
    const dx = ev.clientX - lanes.getBoundingClientRect().left - drag.x;
    if (Math.abs(dx) > 4) drag.moved = true;
    if (!drag.moved) return;
    const span = drag.w1 - drag.w0, shift = (-dx / box.clientWidth) * span;
    state.w0 = Math.max(offset, Math.min(drag.w0 + shift, offset + duration - span)); state.w1 = state.w0 + span;
    draw();
  });
  window.addEventListener("mouseup", () => { setTimeout(() => { drag = null; }, 0); });
  lanes.addEventListener("click", (ev) => {
    if (drag && drag.moved) return;
    const found = hit(ev.offsetX, ev.offsetY);
    if (!found) return;
    seek(found.event !== null ? EV[found.event][2] : found.t);
  });
  function zoom(factor, centre) {
    const span = Math.min(duration, Math.max(2, (state.w1 - state.w0) * factor));
    const c = centre === undefined ? (state.w0 + state.w1) / 2 : centre;
    const frac = (c - state.w0) / (state.w1 - state.w0);
    state.w0 = Math.max(offset, Math.min(c - frac * span, offset + duration - span)); state.w1 = state.w0 + span;
    draw();
  }
  lanes.addEventListener("wheel", (ev) => { ev.preventDefault(); zoom(ev.deltaY > 0 ? 1.25 : 0.8, state.w0 + (ev.offsetX / box.clientWidth) * (state.w1 - state.w0)); }, { passive: false });
  $("zoom-in").addEventListener("click", () => zoom(0.5));
  $("zoom-out").addEventListener("click", () => zoom(2));
  $("zoom-fit").addEventListener("click", () => { state.w0 = offset; state.w1 = offset + duration; draw(); });
  window.addEventListener("resize", draw);

  // ---------- tables ----------
  const keys = {
    player: (i) => EV[i][0], action: (i) => labels[EV[i][1]], start: (i) => EV[i][2],
    duration: (i) => EV[i][3] - EV[i][2], confidence: (i) => EV[i][4],
  };
  function filteredRows() {
    const rows = [];
    for (let i = 0; i < EV.length; i++) if (state.players.has(EV[i][0]) && passes(i)) rows.push(i);
    const key = keys[state.sortKey], dir = state.sortDir;
    rows.sort((a, b) => { const x = key(a), y = key(b); return (x < y ? -1 : x > y ? 1 : EV[a][2] - EV[b][2]) * dir; });
    return rows;
  }
  function cell(tr, text, cls) { const td = document.createElement("td"); td.textContent = text; if (cls) td.className = cls; tr.append(td); }
  function renderTable() {
    const body = document.querySelector("#events tbody"), rows = state.rows;
    const pages = Math.max(1, Math.ceil(rows.length / PAGE));
    state.page = Math.min(state.page, pages - 1);
    body.replaceChildren();
    for (const i of rows.slice(state.page * PAGE, (state.page + 1) * PAGE)) {
      const e = EV[i], tr = document.createElement("tr");
      tr.dataset.event = String(i);
      cell(tr, `#${e[0]}`, "num");
      const td = document.createElement("td"), sw = document.createElement("span");
      sw.className = "swatch"; sw.style.background = colours[e[1]];
      td.append(sw, document.createTextNode(labels[e[1]])); tr.append(td);
      cell(tr, fmt(e[2]), "num"); cell(tr, (e[3] - e[2]).toFixed(2), "num"); cell(tr, e[4].toFixed(2), "num");
      body.append(tr);
    }
    $("event-count").textContent = `(${rows.length} shown of ${EV.length})`;
    $("page").textContent = `page ${state.page + 1} of ${pages}`;
    markRows();
  }
  function markRows() {
    document.querySelectorAll("#events tbody tr").forEach((tr) => tr.classList.toggle("current", state.current.has(Number(tr.dataset.event))));
  }
  document.querySelector("#events tbody").addEventListener("click", (ev) => {
    const tr = ev.target.closest("tr"); if (tr) seek(EV[Number(tr.dataset.event)][2]);
  });
  document.querySelectorAll("#events th").forEach((th) => th.addEventListener("click", () => {
    const key = th.dataset.key;
    state.sortDir = state.sortKey === key ? -state.sortDir : 1; state.sortKey = key;
    document.querySelectorAll("#events th").forEach((h) => h.removeAttribute("aria-sort"));
    th.setAttribute("aria-sort", state.sortDir > 0 ? "ascending" : "descending");
    state.rows = filteredRows(); renderTable();
  }));
  $("prev").addEventListener("click", () => { state.page = Math.max(0, state.page - 1); renderTable(); });
  $("next").addEventListener("click", () => { state.page += 1; renderTable(); });
  if (!recognized) $("events-section").hidden = true;

  function renderSummary() {
    const head = document.querySelector("#summary thead"), body = document.querySelector("#summary tbody");
    head.replaceChildren(); body.replaceChildren();
    const hr = document.createElement("tr");
    const cols = recognized ? ["player", "events", ...labels.filter((_, i) => state.actions.has(i)).map((l) => `${l} (s)`)] : ["player", "visible (s)", "first seen", "last seen"];
    if (grouped) cols.splice(1, 0, "team");
    for (const c of cols) { const th = document.createElement("th"); th.textContent = c; hr.append(th); }
    head.append(hr);
    const shownActions = labels.map((_, i) => i).filter((i) => state.actions.has(i));
    for (const p of shownPlayers()) {
      const tr = document.createElement("tr");
      const td = document.createElement("td"), sw = document.createElement("span");
      sw.className = "swatch"; sw.style.background = p.colour; td.append(sw, document.createTextNode(`#${p.id}`)); tr.append(td);
      if (grouped) cell(tr, groupOf.has(p.id) ? groupOf.get(p.id).name : "");
      if (recognized) {
        const time = new Map(), list = byPlayer.get(p.id).filter(passes);
        for (const i of list) time.set(EV[i][1], (time.get(EV[i][1]) || 0) + EV[i][3] - EV[i][2]);
        cell(tr, String(list.length), "num");
        for (const a of shownActions) cell(tr, (time.get(a) || 0).toFixed(1), "num");
      } else {
        const total = p.visible.reduce((s, [a, b]) => s + b - a, 0);
        cell(tr, total.toFixed(1), "num");
        cell(tr, p.visible.length ? fmt(p.visible[0][0]) : "", "num");
        cell(tr, p.visible.length ? fmt(p.visible[p.visible.length - 1][1]) : "", "num");
      }
      body.append(tr);
    }
  }

  // ---------- CSV ----------
  const csvField = (v) => { const s = String(v); return /[",\n\r]/.test(s) || /^[=+\-@]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s; };
  function csvText() {
    const lines = ["player_id,action,start_s,end_s,duration_s,confidence"];
    for (const i of state.rows) { const e = EV[i]; lines.push([e[0], csvField(labels[e[1]]), e[2].toFixed(3), e[3].toFixed(3), (e[3] - e[2]).toFixed(3), e[4].toFixed(4)].join(",")); }
    return lines.join("\n") + "\n";
  }
  $("download").addEventListener("click", () => {
    const url = URL.createObjectURL(new Blob([csvText()], { type: "text/csv" }));
    const a = document.createElement("a"); a.href = url; a.download = `${DATA.title.replace(/[^\w.-]+/g, "_")}.events.csv`;
    document.body.append(a); a.click(); a.remove(); setTimeout(() => URL.revokeObjectURL(url), 1000);
  });
  if (!recognized) $("download").hidden = true;

  function refresh() {
    state.rows = filteredRows(); state.page = 0;
    state.current = currentEvents(now());
    draw(); renderTable(); renderSummary(); showNow();
  }

  // Hooks for tests and tools: where a segment is drawn, and what the page shows.
  window.hoopsense = {
    segmentBox(i) {
      const row = layout().rows.find((r) => r.player && r.player.id === EV[i][0]);
      if (!row || !passes(i) || EV[i][3] < state.w0 || EV[i][2] > state.w1) return null;
      const width = box.clientWidth, x0 = Math.max(0, xOf(EV[i][2], width)), x1 = Math.min(width, xOf(EV[i][3], width));
      return { x: x0, y: row.y + 3, width: Math.max(1, x1 - x0), height: LANE_H - 6 };
    },
    state: () => ({
      lanes: shownPlayers().length, groups: layout().rows.filter((r) => r.group).map((r) => r.group.team),
      drawn: state.drawn, rows: state.rows.length, current: [...state.current], window: [state.w0, state.w1], cursorX: state.cursorX,
    }),
    csv: csvText,
  };
  refresh();
  document.body.dataset.ready = "1";
})();
