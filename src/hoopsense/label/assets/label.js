// hoopsense label: the page. Every label and class name is set as text (textContent), never as markup.
"use strict";
(() => {
  const token = new URLSearchParams(location.search).get("token") || "";
  const CLASS_KEYS = "1234567890qwetyiopadfghjklcvbm".split(""); // r u s x n z are commands
  const $ = (id) => document.getElementById(id);
  const el = (tag, text, cls) => {
    const e = document.createElement(tag);
    if (text !== undefined) e.textContent = text;
    if (cls) e.className = cls;
    return e;
  };
  window.hsTimings = []; // ms from a key press to the next clip drawn

  const S = {
    labels: [], ids: [], index: new Map(), player: null, label: null, unsure: null, proposed: null,
    guessTop: null, guessConf: null, guessLabels: null, guessPos: 0, guessTotal: 0,
    coverage: null, rank: null, rankKey: "", rankBusy: false, // the server's order of the unlabelled clips
    version: 0, counts: null, view: [], pos: 0, current: null, undo: [], pending: new Map(),
    details: new Map(), images: new Map(), keyOf: new Map(), speed: 1, paused: false, anim: null, lost: false, sourceTimer: null, sourceFetch: null,
  };

  function url(path, params = {}) {
    const u = new URL(path, location.origin);
    for (const [k, v] of Object.entries(params)) u.searchParams.set(k, v);
    u.searchParams.set("token", token);
    return u.toString();
  }

  async function call(method, path, body, params) {
    const init = { method, headers: { "X-Token": token } };
    if (typeof body === "string") {
      init.body = body;
      init.headers["Content-Type"] = "text/csv";
    } else if (body !== undefined) {
      init.body = JSON.stringify(body);
      init.headers["Content-Type"] = "application/json";
    }
    const r = await fetch(url(path, params), init);
    if (!r.ok) {
      let detail = r.statusText;
      try { detail = (await r.json()).detail; } catch (_) { /* not JSON */ }
      const err = new Error(typeof detail === "string" ? detail : JSON.stringify(detail));
      err.status = r.status;
      throw err;
    }
    return r.json();
  }

  let messageTimer = null;
  function message(text, error = false) {
    const m = $("message");
    m.textContent = text;
    m.className = error ? "error" : "";
    m.hidden = false;
    clearTimeout(messageTimer);
    if (!error) messageTimer = setTimeout(() => { m.hidden = true; }, 4000);
  }

  // ------------------------------------------------------------ state
  function loadState(st) {
    const c = st.clips;
    const n = c.id.length;
    S.ids = c.id;
    S.index = new Map(c.id.map((id, i) => [id, i]));
    S.player = Int32Array.from(c.player);
    S.label = Int32Array.from(c.label);
    S.unsure = Uint8Array.from(c.unsure);
    S.proposed = Float32Array.from(c.proposed);
    S.guessTop = new Int32Array(n).fill(-1);
    S.guessConf = new Float32Array(n).fill(-1);
    S.version = st.version;
    $("folder").textContent = st.folder;
    S.rank = null;
    setCoverage(st.coverage);
    if (st.guesses) {
      S.guessLabels = st.guesses.labels;
      S.guessTotal = st.guesses.total;
      applyGuesses(st.guesses.made);
      S.guessPos = st.guesses.position;
    }
    setLabels(st.labels);
    setCounts(st.counts);
    const players = [...new Set(c.player.filter((p) => p >= 0))].sort((a, b) => a - b);
    const fp = $("filter-player");
    fp.replaceChildren(el("option", "any player"));
    fp.firstChild.value = "";
    for (const p of players) {
      const o = el("option", `player ${p}`);
      o.value = String(p);
      fp.append(o);
    }
    fp.hidden = players.length === 0;
    const hasConfidence = !!st.guesses || c.proposed.some((p) => p >= 0);
    $("order").querySelector('[value="confidence"]').disabled = !hasConfidence;
    $("order").querySelector('[value="disagree"]').disabled = !st.guesses;
  }

  function setCoverage(coverage) {
    S.coverage = coverage;
    $("order").querySelector('[value="varied"]').disabled = !(coverage && coverage.ready);
  }

  // "varied first" and "least confident first" come from the server (the unlabelled clips dealt out over
  // clusters of motion): fetched when chosen, and again when labels or guesses have changed since
  async function fetchRank() {
    const by = $("order").value;
    if ((by !== "varied" && by !== "confidence") || !(S.coverage && S.coverage.ready) || S.rankBusy) return false;
    const key = `${by}:${S.version}:${S.guessPos}`;
    if (S.rank && S.rankKey === key) return false;
    S.rankBusy = true;
    try {
      const r = await call("GET", "/api/order", undefined, { by });
      if (!r.ready || $("order").value !== by) return false;
      const rank = new Int32Array(S.ids.length).fill(S.ids.length);
      r.order.forEach((i, j) => { rank[i] = j; });
      S.rank = rank;
      S.rankKey = key;
      return true;
    } catch (e) {
      return false;
    } finally {
      S.rankBusy = false;
    }
  }

  function setLabels(labels) {
    S.labels = labels;
    S.keyOf = new Map();
    labels.forEach((_, i) => { if (i < CLASS_KEYS.length) S.keyOf.set(CLASS_KEYS[i], i); });
    const box = $("class-buttons");
    box.replaceChildren();
    labels.forEach((name, i) => {
      const b = el("button");
      b.type = "button";
      b.dataset.index = String(i);
      if (i < CLASS_KEYS.length) b.append(el("kbd", CLASS_KEYS[i]));
      b.append(el("span", name, "name"), el("span", "", "count"));
      b.addEventListener("click", () => setLabel(i, performance.now()));
      box.append(b);
    });
    const fc = $("filter-class");
    const chosen = fc.value;
    fc.replaceChildren(el("option", "any class"));
    fc.firstChild.value = "";
    labels.forEach((name, i) => {
      const o = el("option", name);
      o.value = String(i);
      fc.append(o);
    });
    fc.value = chosen;
    if (S.counts) setCounts(S.counts);
    if (S.current !== null) renderCurrent();
  }

  function setCounts(counts) {
    S.counts = counts;
    const { total, labelled } = counts;
    $("progress-text").textContent = `${labelled} / ${total} labelled` +
      (counts.unsure ? ` · ${counts.unsure} unsure` : "") +
      (counts.unreviewed ? ` · ${counts.unreviewed} proposals to review` : "");
    $("bar-fill").style.width = `${total ? (100 * labelled) / total : 0}%`;
    $("rate").textContent = counts.per_minute > 0 ? `${counts.per_minute.toFixed(0)} labels/min` : "";
    for (const b of $("class-buttons").children) {
      const i = Number(b.dataset.index);
      b.querySelector(".count").textContent = String(counts.per_class[i] ?? 0);
    }
    const cov = S.coverage;
    $("guess-progress").textContent = [
      S.guessLabels && S.guessPos < S.guessTotal ? `model guesses ${S.guessPos} / ${S.guessTotal}` : "",
      cov && !cov.ready ? `motion clusters ${cov.done} / ${cov.total}` : "",
    ].filter(Boolean).join(" · ");
  }

  function applyRow(row) {
    const i = S.index.get(row[0]);
    if (i === undefined) return;
    S.label[i] = row[1];
    S.unsure[i] = row[2];
    S.proposed[i] = row[3];
    if (i === S.current) renderCurrent();
  }

  function applyGuesses(made) {
    let current = false;
    for (const [id, top, conf] of made) {
      const i = S.index.get(id);
      if (i === undefined) continue;
      S.guessTop[i] = top;
      S.guessConf[i] = conf;
      if (i === S.current) current = true;
    }
    return current;
  }

  // ------------------------------------------------------------ ordering and filters
  function confidence(i) {
    if (S.guessConf[i] >= 0) return S.guessConf[i];
    if (S.proposed[i] >= 0) return S.proposed[i];
    return Infinity; // not known yet: after the known ones
  }

  function disagrees(i) {
    return S.label[i] >= 0 && S.guessTop[i] >= 0 && S.guessLabels[S.guessTop[i]] !== S.labels[S.label[i]];
  }

  function sortRange(list, order) {
    const ranked = (order === "varied" || order === "confidence") && S.rank && S.rankKey.startsWith(order + ":");
    if (order === "player") list.sort((a, b) => S.player[a] - S.player[b] || a - b);
    else if (ranked && order === "varied") list.sort((a, b) => S.rank[a] - S.rank[b] || a - b);
    else if (ranked) list.sort((a, b) => S.rank[a] - S.rank[b] || confidence(a) - confidence(b) || a - b);
    else if (order === "confidence") list.sort((a, b) => confidence(a) - confidence(b) || a - b);
    else if (order === "disagree") {
      list.sort((a, b) => {
        const da = disagrees(a), db = disagrees(b);
        if (da !== db) return da ? -1 : 1;
        if (da) return S.guessConf[b] - S.guessConf[a] || a - b; // confident disagreements first
        return confidence(a) - confidence(b) || a - b;
      });
    }
    return list;
  }

  function buildView(keep) {
    const f = $("filter").value, cls = $("filter-class").value, pl = $("filter-player").value;
    const list = [];
    for (let i = 0; i < S.ids.length; i++) {
      if (f === "unlabelled" && S.label[i] >= 0) continue;
      if (f === "unsure" && !S.unsure[i]) continue;
      if (f === "unreviewed" && S.proposed[i] < 0) continue;
      if (cls !== "" && S.label[i] !== Number(cls)) continue;
      if (pl !== "" && S.player[i] !== Number(pl)) continue;
      list.push(i);
    }
    S.view = sortRange(list, $("order").value);
    const at = keep === undefined ? -1 : S.view.indexOf(keep);
    show(at >= 0 ? at : 0);
  }

  function resortAhead() {
    const order = $("order").value;
    if (order !== "confidence" && order !== "disagree" && order !== "varied") return;
    const ahead = sortRange(S.view.slice(S.pos + 1), order);
    S.view.splice(S.pos + 1, ahead.length, ...ahead);
  }

  // ------------------------------------------------------------ clips on screen
  function detail(i) {
    const id = S.ids[i];
    if (!S.details.has(id)) {
      const ahead = S.view.slice(S.pos + 1, S.pos + 5).map((j) => S.ids[j]).join(",");
      const p = call("GET", "/api/clip", undefined, { clip: id, ahead });
      p.catch(() => S.details.delete(id));
      S.details.set(id, p);
    }
    return S.details.get(id);
  }

  function image(i) {
    const id = S.ids[i];
    if (!S.images.has(id)) {
      const img = new Image();
      img.src = url("/api/strip.jpg", { clip: id });
      const p = img.decode().then(() => img);
      p.catch(() => S.images.delete(id));
      S.images.set(id, p);
      if (S.images.size > 64) S.images.delete(S.images.keys().next().value);
    }
    return S.images.get(id);
  }

  function prefetch() {
    for (let k = 1; k <= 6; k++) {
      const j = S.view[S.pos + k];
      if (j === undefined) break;
      detail(j).catch(() => {});
      image(j).catch(() => {});
    }
  }

  async function show(pos, t0 = null) {
    if (!S.view.length) {
      S.current = null;
      S.anim = null;
      $("position").textContent = "no clips match this view";
      $("clip-id").textContent = "";
      $("current-label").textContent = "";
      $("current-note").textContent = "";
      $("guesses").replaceChildren();
      clear($("clip"));
      clear($("source"));
      return;
    }
    if (pos >= S.view.length) message("that was the last clip of this view");
    S.pos = Math.max(0, Math.min(pos, S.view.length - 1));
    const i = S.view[S.pos];
    S.current = i;
    $("position").textContent = `clip ${S.pos + 1} of ${S.view.length}`;
    $("clip-id").textContent = S.ids[i];
    renderCurrent();
    let d, img;
    try {
      [d, img] = await Promise.all([detail(i), image(i)]); // both requests at once
    } catch (e) {
      if (S.current === i) {
        message(`clip ${S.ids[i]}: ${e.message || "cannot be shown"}`, true);
        S.anim = null;
        clear($("clip"));
      }
      return;
    }
    if (S.current !== i) return; // moved on meanwhile
    S.anim = { img, s: d.strip, start: performance.now(), k: 0, drawn: -1, t0 };
    renderGuesses(d);
    clearTimeout(S.sourceTimer);
    if (S.sourceFetch) S.sourceFetch.abort(); // the previous clip's frame is not wanted any more
    S.sourceTimer = setTimeout(() => showSource(i, d), 120); // not while keys fly by
    prefetch();
    document.body.dataset.ready = "1";
  }

  function clear(canvas) {
    canvas.getContext("2d").clearRect(0, 0, canvas.width, canvas.height);
  }

  function renderCurrent() {
    const i = S.current;
    if (i === null) return;
    const badge = $("current-label");
    const v = S.label[i];
    badge.textContent = v >= 0 ? S.labels[v] : "not labelled";
    badge.className = "badge" + (v >= 0 ? (S.proposed[i] >= 0 ? " proposed" : " labelled") : "");
    const notes = [];
    if (S.proposed[i] >= 0) notes.push(`proposed by the model (${(100 * S.proposed[i]).toFixed(0)}%), not reviewed: Enter confirms`);
    if (S.unsure[i]) notes.push("marked unsure");
    $("current-note").textContent = notes.join(" · ");
    for (const b of $("class-buttons").children) b.classList.toggle("current", Number(b.dataset.index) === v);
  }

  function renderGuesses(d) {
    const box = $("guesses");
    box.replaceChildren();
    if (!d.guesses) {
      if (S.guessLabels) box.append(el("div", "model guess: computing…"));
      return;
    }
    box.append(el("div", "model guesses (Enter accepts the first):"));
    for (const [name, p] of d.guesses) {
      const row = el("div", undefined, "guess");
      const bar = el("div", undefined, "p");
      const fill = el("div");
      fill.style.width = `${(100 * p).toFixed(0)}%`;
      bar.append(fill);
      row.append(el("span", name), bar, el("span", `${(100 * p).toFixed(1)}%`));
      box.append(row);
    }
  }

  async function showSource(i, d) {
    const canvas = $("source");
    const caption = $("source-caption");
    if (!d.source) {
      caption.textContent = "no source frame (clips.csv does not name this clip's game)";
      clear(canvas);
      return;
    }
    const s = d.source;
    caption.textContent = `player ${s.player} · frames ${s.start_frame}–${s.end_frame} ` +
      `(${s.start_s.toFixed(2)}–${s.end_s.toFixed(2)} s) · ${s.video}`;
    try {
      S.sourceFetch = new AbortController();
      const r = await fetch(url("/api/source.jpg", { clip: S.ids[i] }), { signal: S.sourceFetch.signal });
      if (r.status === 204) return;
      if (!r.ok) throw new Error((await r.json()).detail);
      const scale = Number(r.headers.get("X-Scale") || "1");
      const bmp = await createImageBitmap(await r.blob());
      if (S.current !== i) return;
      canvas.width = bmp.width;
      canvas.height = bmp.height;
      const ctx = canvas.getContext("2d");
      ctx.drawImage(bmp, 0, 0);
      const [x1, y1, x2, y2] = s.box.map((v) => v * scale);
      ctx.strokeStyle = "#f28c28";
      ctx.lineWidth = 3;
      ctx.strokeRect(x1, y1, x2 - x1, y2 - y1);
    } catch (e) {
      if (e.name === "AbortError") return;
      if (S.current === i) {
        caption.textContent = `source frame unavailable: ${e.message}`;
        clear(canvas);
      }
    }
  }

  function tick(now) {
    const a = S.anim;
    if (a) {
      if (!S.paused) a.k = Math.floor(((now - a.start) / 1000) * a.s.fps * S.speed) % a.s.frames;
      if (a.k !== a.drawn) {
        const canvas = $("clip");
        const ctx = canvas.getContext("2d");
        const scale = Math.min(canvas.width / a.s.width, canvas.height / a.s.height);
        const w = a.s.width * scale, h = a.s.height * scale;
        if (a.drawn < 0) ctx.clearRect(0, 0, canvas.width, canvas.height);
        ctx.drawImage(a.img, a.k * a.s.width, 0, a.s.width, a.s.height, (canvas.width - w) / 2, (canvas.height - h) / 2, w, h);
        a.drawn = a.k;
        if (a.t0 !== null) {
          window.hsTimings.push(performance.now() - a.t0);
          a.t0 = null;
        }
      }
    }
    requestAnimationFrame(tick);
  }

  function replay() {
    if (S.anim) { S.anim.start = performance.now(); S.anim.k = 0; S.anim.drawn = -1; }
    S.paused = false;
    $("pause").textContent = "pause";
  }

  function setSpeed(speed) {
    const a = S.anim;
    if (a) a.start = performance.now() - (a.k / (a.s.fps * speed)) * 1000; // keep the frame on screen
    S.speed = speed;
    $("speed").value = String(speed);
  }

  function togglePause() {
    S.paused = !S.paused;
    if (!S.paused && S.anim) setSpeed(S.speed);
    $("pause").textContent = S.paused ? "play" : "pause";
  }

  // ------------------------------------------------------------ changes
  async function save(i, request) {
    S.pending.set(i, (S.pending.get(i) || 0) + 1);
    try {
      const r = await request;
      applyRow(r.row);
      setCounts(r.counts);
      return r;
    } finally {
      const left = S.pending.get(i) - 1;
      if (left > 0) S.pending.set(i, left); else S.pending.delete(i);
    }
  }

  async function setLabel(label, t0) {
    const i = S.current;
    if (i === null) return;
    const before = { i, kind: "label", label: S.label[i], unsure: S.unsure[i], proposed: S.proposed[i], set: label };
    S.label[i] = label === null ? -1 : label;
    S.unsure[i] = 0;
    S.proposed[i] = -1;
    S.undo.push(before);
    renderCurrent();
    show(S.pos + 1, t0);
    try {
      await save(i, call("PUT", "/api/label", { clip: S.ids[i], label }));
    } catch (e) {
      S.label[i] = before.label;
      S.unsure[i] = before.unsure;
      S.proposed[i] = before.proposed;
      const at = S.undo.lastIndexOf(before);
      if (at >= 0) S.undo.splice(at, 1);
      renderCurrent();
      message(`not saved (${S.ids[i]}): ${e.message}`, true);
    }
  }

  async function markUnsure(t0) {
    const i = S.current;
    if (i === null) return;
    const before = { i, kind: "unsure", unsure: S.unsure[i] };
    S.unsure[i] = 1;
    S.undo.push(before);
    show(S.pos + 1, t0);
    try {
      await save(i, call("PUT", "/api/unsure", { clip: S.ids[i], unsure: true }));
    } catch (e) {
      S.unsure[i] = before.unsure;
      const at = S.undo.lastIndexOf(before);
      if (at >= 0) S.undo.splice(at, 1);
      message(`not saved (${S.ids[i]}): ${e.message}`, true);
    }
  }

  async function undo() {
    const u = S.undo.pop();
    if (!u) { message("nothing to undo"); return; }
    const id = S.ids[u.i];
    try {
      if (u.kind === "label") {
        await save(u.i, call("PUT", "/api/label", {
          clip: id, label: u.label >= 0 ? u.label : null, expect: u.set, check: true,
        }));
        if (u.unsure) await save(u.i, call("PUT", "/api/unsure", { clip: id, unsure: true }));
      } else {
        await save(u.i, call("PUT", "/api/unsure", { clip: id, unsure: !!u.unsure }));
      }
      message(`undone: ${id}`);
    } catch (e) {
      message(`cannot undo ${id}: ${e.message}`, true);
    }
    let at = S.view.indexOf(u.i);
    if (at < 0) { S.view.splice(S.pos, 0, u.i); at = S.pos; }
    show(at);
  }

  async function accept(t0) {
    const i = S.current;
    if (i === null) return;
    if (S.proposed[i] >= 0 && S.label[i] >= 0) return setLabel(S.label[i], t0); // confirm the proposal
    let d;
    try { d = await detail(i); } catch (_) { return; }
    if (!d.guesses) { message("no model guess for this clip yet"); return; }
    const name = d.guesses[0][0];
    let index = S.labels.indexOf(name);
    if (index < 0) {
      try {
        const r = await call("POST", "/api/classes", { name });
        setLabels(r.labels);
        index = r.index;
      } catch (e) { message(e.message, true); return; }
    }
    return setLabel(index, t0);
  }

  async function addClass(name) {
    try {
      const r = await call("POST", "/api/classes", { name });
      setLabels(r.labels);
      setCounts(r.counts);
      const key = r.index < CLASS_KEYS.length ? ` (key ${CLASS_KEYS[r.index]})` : "";
      message(`added class ${r.labels[r.index]}${key}`);
      return true;
    } catch (e) {
      message(e.message, true);
      return false;
    }
  }

  async function poll() {
    try {
      const r = await call("GET", "/api/changes", undefined, { since: S.version, guesses: S.guessPos });
      if (r.reload) { await reload(); return; }
      S.version = r.version;
      if (r.labels.length !== S.labels.length || r.labels.some((x, k) => x !== S.labels[k])) setLabels(r.labels);
      for (const row of r.clips) {
        const i = S.index.get(row[0]);
        if (i !== undefined && !S.pending.has(i)) applyRow(row);
      }
      if (r.guesses && r.guesses.made.length) {
        S.guessPos = r.guesses.position;
        if (applyGuesses(r.guesses.made)) {
          const id = S.ids[S.current];
          S.details.delete(id);
          detail(S.current).then((d) => { if (S.ids[S.current] === id) renderGuesses(d); }).catch(() => {});
        }
        resortAhead();
      }
      const wasReady = S.coverage && S.coverage.ready;
      setCoverage(r.coverage);
      if (await fetchRank()) resortAhead();
      else if (!wasReady && S.coverage && S.coverage.ready) message("the varied order is ready");
      setCounts(r.counts);
      if (S.lost) { S.lost = false; message("in contact with the server again"); }
    } catch (e) {
      S.lost = true;
      message(`lost contact with the server: ${e.message}`, true);
    } finally {
      setTimeout(poll, 2000);
    }
  }

  async function reload() {
    const keep = S.current;
    loadState(await call("GET", "/api/state"));
    buildView(keep === null ? undefined : keep);
  }

  // ------------------------------------------------------------ controls
  function onKey(e) {
    if (e.target.closest && e.target.closest("input, select, textarea")) {
      if (e.key === "Escape") e.target.blur();
      return;
    }
    if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === "z") { e.preventDefault(); undo(); return; }
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    const t0 = performance.now();
    const k = e.key.length === 1 ? e.key.toLowerCase() : e.key;
    if (S.keyOf.has(k)) setLabel(S.keyOf.get(k), t0);
    else if (k === "ArrowRight") show(S.pos + 1, t0);
    else if (k === "ArrowLeft") show(S.pos - 1, t0);
    else if (k === "r") replay();
    else if (k === " ") togglePause();
    else if (k === "s") setSpeed(S.speed === 1 ? 0.5 : S.speed === 0.5 ? 0.25 : 1);
    else if (k === "x") markUnsure(t0);
    else if (k === "u") undo();
    else if (k === "n") openNewClass();
    else if (k === "Enter") accept(t0);
    else if (k === "Delete" || k === "Backspace") setLabel(null, t0);
    else return;
    e.preventDefault();
  }

  function openNewClass() {
    $("new-class").hidden = false;
    $("new-class-name").value = "";
    $("new-class-name").focus();
  }

  function wire() {
    document.addEventListener("keydown", onKey);
    $("next").addEventListener("click", () => show(S.pos + 1, performance.now()));
    $("prev").addEventListener("click", () => show(S.pos - 1, performance.now()));
    $("replay").addEventListener("click", replay);
    $("pause").addEventListener("click", togglePause);
    $("speed").addEventListener("change", (e) => { setSpeed(Number(e.target.value)); e.target.blur(); });
    $("unsure").addEventListener("click", () => markUnsure(performance.now()));
    $("unlabel").addEventListener("click", () => setLabel(null, performance.now()));
    $("undo").addEventListener("click", undo);
    $("add-class").addEventListener("click", openNewClass);
    $("new-class-cancel").addEventListener("click", () => { $("new-class").hidden = true; });
    $("new-class").addEventListener("submit", async (e) => {
      e.preventDefault();
      if (await addClass($("new-class-name").value)) {
        $("new-class").hidden = true;
        $("new-class-name").blur();
      }
    });
    for (const id of ["order", "filter", "filter-class", "filter-player"]) {
      $(id).addEventListener("change", async (e) => { // a new view starts at its top
        e.target.blur();
        if (id === "order") await fetchRank();
        buildView();
      });
    }
    $("export").href = url("/api/labels.csv");
    $("import-button").addEventListener("click", () => $("import-file").click());
    $("import-file").addEventListener("change", async (e) => {
      const file = e.target.files[0];
      if (!file) return;
      try {
        const r = await call("POST", "/api/labels.csv", await file.text());
        message(`imported: ${r.applied} labels changed, ${r.unchanged} already so` +
          (r.unknown ? `, ${r.unknown} unknown clip ids left out` : "") +
          (r.new_classes.length ? `; new classes: ${r.new_classes.join(", ")}` : ""));
        await reload();
      } catch (err) {
        message(`import failed: ${err.message}`, true);
      }
      e.target.value = "";
    });
  }

  async function start() {
    wire();
    try {
      loadState(await call("GET", "/api/state"));
    } catch (e) {
      message(`cannot load the clips: ${e.message}`, true);
      return;
    }
    buildView();
    requestAnimationFrame(tick);
    setTimeout(poll, 2000);
  }

  start();
})();
