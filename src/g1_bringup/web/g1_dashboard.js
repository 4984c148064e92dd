// G1 dashboard: a plain-JS client of the foxglove.sdk.v1 WebSocket protocol (no build step, no internet).
// Subscribes to /g1/dashboard (JSON), plots commanded vs measured velocity, and publishes /cmd_vel as
// JSON geometry_msgs/msg/Twist from an on-screen joystick (client publish, like Foxglove's Teleop panel).
"use strict";

const g1 = (window.g1 = {
  connected: false, subprotocol: "", channels: {}, received: 0, sent: 0, last: null,
  statuses: [], serverInfo: null, cmd: { vx: 0, vy: 0, wz: 0 }, recording: null,
});
const SUBPROTOCOL = "foxglove.sdk.v1";
const PLOT_WINDOW_S = 20;
const MODE_COLORS = { ZERO_TORQUE: "#9e9e9e", DAMPING: "#f5a623", STAND_UP: "#4a90e2", POLICY: "#3fbf3f", ESTOP: "#e0312b" };
const $ = (id) => document.getElementById(id);
const enc = new TextEncoder();
const dec = new TextDecoder();

let ws = null;
let cmdChannelId = null;
let dashboardSubId = null;
const services = {};
const pending = {};
let nextCallId = 1;
const history = []; // {t, cmd, ref, meas}

async function wsUrl() {
  const q = new URLSearchParams(location.search);
  if (q.get("ws")) return q.get("ws");
  let port = 8765;
  try {
    port = (await (await fetch("config.json", { cache: "no-store" })).json()).ws_port || port;
  } catch (e) { /* page opened from a file: default port */ }
  return `ws://${location.hostname || "127.0.0.1"}:${port}`;
}

async function connect() {
  const url = await wsUrl();
  ws = new WebSocket(url, [SUBPROTOCOL]);
  ws.binaryType = "arraybuffer";
  ws.onopen = () => {
    g1.connected = true;
    g1.subprotocol = ws.protocol;
    $("conn").textContent = `connected to ${url} (${ws.protocol})`;
  };
  ws.onclose = () => {
    g1.connected = false;
    cmdChannelId = null;
    dashboardSubId = null;
    $("conn").textContent = `disconnected from ${url}; retrying…`;
    setTimeout(connect, 1000);
  };
  ws.onmessage = (ev) => (typeof ev.data === "string" ? onJson(JSON.parse(ev.data)) : onBinary(new DataView(ev.data)));
}

function send(obj) { if (ws && ws.readyState === 1) ws.send(JSON.stringify(obj)); }

function onJson(m) {
  switch (m.op) {
    case "serverInfo":
      g1.serverInfo = m;
      if ((m.capabilities || []).includes("clientPublish")) {
        cmdChannelId = 1;
        send({ op: "advertise", channels: [{ id: cmdChannelId, topic: "/cmd_vel", encoding: "json", schemaName: "geometry_msgs/msg/Twist" }] });
      }
      break;
    case "advertise":
      for (const c of m.channels) {
        g1.channels[c.id] = c;
        if (c.topic === "/g1/dashboard" && dashboardSubId === null) {
          dashboardSubId = 1;
          send({ op: "subscribe", subscriptions: [{ id: dashboardSubId, channelId: c.id }] });
        }
      }
      break;
    case "unadvertise":
      for (const id of m.channelIds || []) delete g1.channels[id];
      break;
    case "advertiseServices":
      for (const s of m.services) services[s.name] = s;
      break;
    case "status":
      g1.statuses.push(m);
      $("status").textContent = m.message;
      break;
    case "serviceCallFailure":
      $("rec").textContent = `service failed: ${m.message}`;
      break;
  }
}

function onBinary(dv) {
  const op = dv.getUint8(0);
  if (op === 0x01) {
    const subId = dv.getUint32(1, true);
    if (subId !== dashboardSubId) return;
    const payload = new Uint8Array(dv.buffer, dv.byteOffset + 13, dv.byteLength - 13);
    onDashboard(JSON.parse(dec.decode(payload)));
  } else if (op === 0x03) {
    const callId = dv.getUint32(5, true);
    const encLen = dv.getUint32(9, true);
    const payload = new Uint8Array(dv.buffer, dv.byteOffset + 13 + encLen);
    const cb = pending[callId];
    delete pending[callId];
    if (cb) cb(JSON.parse(dec.decode(payload)));
  }
}

function fmt(v) { return v === undefined || v === null ? "–" : Number(v).toFixed(3); }

function onDashboard(d) {
  g1.received += 1;
  g1.last = d;
  $("n_rx").textContent = g1.received;
  const mode = d.mode_name || "no controller";
  $("mode").textContent = mode;
  $("mode").style.background = MODE_COLORS[mode] || "#555";
  $("faults").textContent = (d.faults || []).join("\n") || "none";
  for (const [k, key] of [["c", "cmd"], ["r", "ref_cmd"], ["m", "measured"]]) {
    const v = d[key] || {};
    $(`${k}_vx`).textContent = fmt(v.vx);
    $(`${k}_vy`).textContent = fmt(v.vy);
    $(`${k}_wz`).textContent = fmt(v.wz);
  }
  history.push({ t: d.t, cmd: d.cmd, ref: d.ref_cmd, meas: d.measured });
  while (history.length && history[0].t < d.t - PLOT_WINDOW_S) history.shift();
  if (d.recording !== undefined) $("rec").textContent = d.recording ? "recording…" : "not recording";
}

// ---------------------------------------------------------------- plot
function drawPlot() {
  const cv = $("plot");
  const ctx = cv.getContext("2d");
  const W = cv.width, H = cv.height;
  ctx.fillStyle = "#1f232b";
  ctx.fillRect(0, 0, W, H);
  const panes = [["vx", "m/s"], ["wz", "rad/s"]];
  const tEnd = history.length ? history[history.length - 1].t : 0;
  panes.forEach(([field, unit], i) => {
    const top = (i * H) / 2 + 14, h = H / 2 - 28, left = 46, w = W - 56;
    let lo = -0.2, hi = 0.2;
    for (const s of history) for (const k of ["cmd", "ref", "meas"]) if (s[k]) { lo = Math.min(lo, s[k][field]); hi = Math.max(hi, s[k][field]); }
    const pad = 0.1 * (hi - lo); lo -= pad; hi += pad;
    const y = (v) => top + h - ((v - lo) / (hi - lo)) * h;
    const x = (t) => left + w - ((tEnd - t) / PLOT_WINDOW_S) * w;
    ctx.strokeStyle = "#39404d"; ctx.lineWidth = 1;
    ctx.strokeRect(left, top, w, h);
    ctx.beginPath(); ctx.moveTo(left, y(0)); ctx.lineTo(left + w, y(0)); ctx.stroke();
    ctx.fillStyle = "#8a919e"; ctx.font = "11px sans-serif";
    ctx.fillText(`${field} [${unit}]`, left + 4, top - 3);
    ctx.fillText(hi.toFixed(2), 2, top + 8); ctx.fillText(lo.toFixed(2), 2, top + h);
    for (const [k, color, dash] of [["cmd", "#f5774d", []], ["ref", "#5cd6a9", [6, 4]], ["meas", "#4e98e2", []]]) {
      ctx.strokeStyle = color; ctx.lineWidth = 2; ctx.setLineDash(dash); ctx.beginPath();
      let started = false;
      for (const s of history) {
        if (!s[k]) continue;
        const px = x(s.t), py = y(s[k][field]);
        if (started) ctx.lineTo(px, py); else { ctx.moveTo(px, py); started = true; }
      }
      ctx.stroke(); ctx.setLineDash([]);
    }
  });
  requestAnimationFrame(drawPlot);
}

// ---------------------------------------------------------------- joystick + keys -> /cmd_vel
const stick = { x: 0, y: 0, active: false, keys: new Set() };

function publishCmd(vx, vy, wz) {
  if (!ws || ws.readyState !== 1 || cmdChannelId === null) return false;
  const body = enc.encode(JSON.stringify({ linear: { x: vx, y: vy, z: 0 }, angular: { x: 0, y: 0, z: wz } }));
  const buf = new Uint8Array(5 + body.length);
  const dv = new DataView(buf.buffer);
  dv.setUint8(0, 0x01);
  dv.setUint32(1, cmdChannelId, true);
  buf.set(body, 5);
  ws.send(buf);
  g1.sent += 1;
  g1.cmd = { vx, vy, wz };
  $("n_tx").textContent = g1.sent;
  return true;
}

function currentCmd() {
  const maxv = parseFloat($("maxv").value), maxw = parseFloat($("maxw").value);
  let fx = -stick.y, fz = -stick.x, fy = 0;
  const k = stick.keys;
  if (k.has("w")) fx = 1; if (k.has("s")) fx = -1;
  if (k.has("a")) fz = 1; if (k.has("d")) fz = -1;
  if (k.has("q")) fy = 1; if (k.has("e")) fy = -1;
  return [fx * maxv, fy * maxv, fz * maxw];
}

let wasMoving = false;
function tick() { // 10 Hz while the stick is held or a key is down; one zero on release
  const moving = stick.active || stick.keys.size > 0;
  if (moving) publishCmd(...currentCmd());
  else if (wasMoving) publishCmd(0, 0, 0);
  wasMoving = moving;
}

function drawJoy() {
  const cv = $("joy"), ctx = cv.getContext("2d");
  const R = cv.width / 2;
  ctx.clearRect(0, 0, cv.width, cv.height);
  ctx.fillStyle = "#2a2f39"; ctx.beginPath(); ctx.arc(R, R, R - 4, 0, 2 * Math.PI); ctx.fill();
  ctx.strokeStyle = "#4a5262"; ctx.beginPath(); ctx.moveTo(R, 8); ctx.lineTo(R, 2 * R - 8); ctx.moveTo(8, R); ctx.lineTo(2 * R - 8, R); ctx.stroke();
  ctx.fillStyle = stick.active ? "#4e98e2" : "#6b7383";
  ctx.beginPath(); ctx.arc(R + stick.x * (R - 34), R + stick.y * (R - 34), 30, 0, 2 * Math.PI); ctx.fill();
  requestAnimationFrame(drawJoy);
}

function setStickFromEvent(ev) {
  const r = $("joy").getBoundingClientRect();
  let x = ((ev.clientX - r.left) / r.width) * 2 - 1, y = ((ev.clientY - r.top) / r.height) * 2 - 1;
  const n = Math.hypot(x, y);
  if (n > 1) { x /= n; y /= n; }
  stick.x = Math.abs(x) < 0.06 ? 0 : x; // small dead zone
  stick.y = Math.abs(y) < 0.06 ? 0 : y;
}

function setupInput() {
  const joy = $("joy");
  joy.addEventListener("pointerdown", (ev) => { joy.setPointerCapture(ev.pointerId); stick.active = true; setStickFromEvent(ev); tick(); });
  joy.addEventListener("pointermove", (ev) => { if (stick.active) setStickFromEvent(ev); });
  const release = () => { stick.active = false; stick.x = 0; stick.y = 0; tick(); };
  joy.addEventListener("pointerup", release);
  joy.addEventListener("pointercancel", release);
  window.addEventListener("keydown", (ev) => { const k = ev.key.toLowerCase(); if ("wasdqe".includes(k) && k.length === 1) stick.keys.add(k); });
  window.addEventListener("keyup", (ev) => stick.keys.delete(ev.key.toLowerCase()));
  window.addEventListener("blur", () => { stick.keys.clear(); release(); });
  $("stop").addEventListener("click", () => { stick.keys.clear(); stick.active = false; stick.x = stick.y = 0; publishCmd(0, 0, 0); });
  for (const id of ["maxv", "maxw"]) $(id).addEventListener("input", () => ($(`${id}_v`).textContent = parseFloat($(id).value).toFixed(2)));
  $("rec_start").addEventListener("click", () => callService("/g1/recording/start", {}));
  $("rec_stop").addEventListener("click", () => callService("/g1/recording/stop", {}));
  setInterval(tick, 100);
}

function callService(name, req) {
  const s = services[name];
  if (!s || !ws || ws.readyState !== 1) { $("rec").textContent = `${name} not available`; return; }
  const callId = nextCallId++;
  const e = enc.encode("json"), body = enc.encode(JSON.stringify(req));
  const buf = new Uint8Array(13 + e.length + body.length);
  const dv = new DataView(buf.buffer);
  dv.setUint8(0, 0x02); dv.setUint32(1, s.id, true); dv.setUint32(5, callId, true); dv.setUint32(9, e.length, true);
  buf.set(e, 13); buf.set(body, 13 + e.length);
  pending[callId] = (resp) => { g1.recording = resp; $("rec").textContent = resp.recording ? `recording to ${resp.path}` : `stopped; files: ${(resp.files || []).join(", ")}`; };
  ws.send(buf);
}

setupInput();
requestAnimationFrame(drawPlot);
requestAnimationFrame(drawJoy);
connect();
