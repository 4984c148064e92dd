// A Foxglove client as Lichtblick <= 1.21 has it: @foxglove/ws-protocol's FoxgloveClient, which
// offers only the "foxglove.websocket.v1" subprotocol. Used by tests/test_foxglove_bridge.py.
// Usage: node ws_v1_client.js ws://HOST:PORT SECONDS -> one JSON line with what it saw.
const { FoxgloveClient } = require("@foxglove/ws-protocol");
const WebSocket = require("ws");

const [url, seconds] = [process.argv[2], Number(process.argv[3] || 4)];
const ws = new WebSocket(url, [FoxgloveClient.SUPPORTED_SUBPROTOCOL]);
const client = new FoxgloveClient({ ws });
const out = { protocol: null, serverInfo: null, channels: {}, messages: 0, last: null, errors: [] };
let dashboard = null;

client.on("open", () => { out.protocol = ws.protocol; });
client.on("error", (e) => { out.errors.push(String((e && e.message) || e)); });
client.on("close", (e) => { if (out.protocol === null) out.errors.push(`closed: ${e && e.code}`); });
client.on("serverInfo", (info) => { out.serverInfo = { name: info.name, capabilities: info.capabilities }; });
client.on("advertise", (channels) => {
  for (const ch of channels) {
    out.channels[ch.topic] = { encoding: ch.encoding, schemaName: ch.schemaName, schemaEncoding: ch.schemaEncoding };
    if (ch.topic === "/g1/dashboard" && dashboard === null) dashboard = client.subscribe(ch.id);
  }
});
client.on("message", ({ subscriptionId, data }) => {
  if (subscriptionId !== dashboard) return;
  out.messages += 1;
  out.last = JSON.parse(new TextDecoder().decode(data));
});
setTimeout(() => {  // the Teleop panel's way: advertise /cmd_vel, then publish JSON Twists
  const id = client.advertise({ topic: "/cmd_vel", encoding: "json", schemaName: "geometry_msgs/msg/Twist" });
  setTimeout(() => {
    const twist = { linear: { x: 0.3, y: 0, z: 0 }, angular: { x: 0, y: 0, z: 0.1 } };
    client.sendMessage(id, new TextEncoder().encode(JSON.stringify(twist)));
  }, 300);
}, (seconds * 1000) / 3);
setTimeout(() => {
  console.log(JSON.stringify(out));
  client.close();
  process.exit(0);
}, seconds * 1000);
