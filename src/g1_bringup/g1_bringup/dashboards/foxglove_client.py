"""A small ``foxglove.sdk.v1`` WebSocket client (Python ``websockets``), used by the tests and to measure
the bridge from outside, exactly as a Foxglove app would see it.

Protocol (identical to ws-protocol v1 apart from the subprotocol name): JSON text frames ``serverInfo``,
``advertise``, ``status``, ``advertiseServices``; binary server frames 0x01 message data (u32
subscription id, u64 log time ns, payload), 0x03 service response, 0x04 asset response; the client sends
JSON ``subscribe``/``advertise``/``fetchAsset`` and binary 0x01 (client message: u32 channel id +
payload) and 0x02 (service call request).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import struct
import time
from dataclasses import dataclass, field

SUBPROTOCOL = "foxglove.sdk.v1"


@dataclass
class Received:
    channel_id: int
    topic: str
    log_time_ns: int
    payload: bytes
    recv_time: float  # time.perf_counter() at reception
    recv_wall: float = 0.0  # time.time() at reception (compare with ROS header stamps)


@dataclass
class FoxgloveClient:
    url: str
    ws: object = None
    server_info: dict = field(default_factory=dict)
    channels: dict[int, dict] = field(default_factory=dict)  # id -> advertised channel
    services: dict[str, dict] = field(default_factory=dict)  # name -> advertised service
    statuses: list[dict] = field(default_factory=list)
    messages: list[Received] = field(default_factory=list)
    parameters: dict = field(default_factory=dict)
    _subs: dict[int, int] = field(default_factory=dict)  # subscription id -> channel id
    _ids = itertools.count(1)
    _pending: dict[tuple[str, int], asyncio.Future] = field(default_factory=dict)
    _task: asyncio.Task | None = None

    async def connect(self, timeout: float = 10.0) -> FoxgloveClient:
        import websockets

        deadline = time.monotonic() + timeout
        while True:
            try:
                self.ws = await websockets.connect(
                    self.url, subprotocols=[SUBPROTOCOL], max_size=None, open_timeout=2.0
                )
                break
            except (TimeoutError, OSError, websockets.exceptions.InvalidHandshake):
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.2)
        self._task = asyncio.get_running_loop().create_task(self._reader())
        await self.wait_for(lambda: bool(self.server_info), 5.0)
        return self

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self._task is not None:
            self._task.cancel()

    async def _reader(self) -> None:
        async for frame in self.ws:
            now = time.perf_counter()
            if isinstance(frame, str):
                self._on_json(json.loads(frame))
            else:
                self._on_binary(bytes(frame), now)

    def _on_json(self, m: dict) -> None:
        op = m.get("op")
        if op == "serverInfo":
            self.server_info = m
        elif op == "advertise":
            for c in m["channels"]:
                self.channels[c["id"]] = c
        elif op == "unadvertise":
            for i in m.get("channelIds", []):
                self.channels.pop(i, None)
        elif op == "status":
            self.statuses.append(m)
        elif op == "advertiseServices":
            for s in m["services"]:
                self.services[s["name"]] = s
        elif op == "parameterValues":
            for p in m.get("parameters", []):
                self.parameters[p["name"]] = p.get("value")
        elif op == "serviceCallFailure":
            fut = self._pending.pop(("service", m.get("callId")), None)
            if fut and not fut.done():
                fut.set_exception(RuntimeError(m.get("message")))

    def _on_binary(self, b: bytes, now: float) -> None:
        op = b[0]
        if op == 0x01:
            sub_id, t_ns = struct.unpack_from("<IQ", b, 1)
            cid = self._subs.get(sub_id, -1)
            topic = self.channels.get(cid, {}).get("topic", "?")
            self.messages.append(Received(cid, topic, t_ns, b[13:], now, time.time()))
        elif op == 0x03:
            _service_id, call_id, enc_len = struct.unpack_from("<III", b, 1)
            payload = b[13 + enc_len :]
            fut = self._pending.pop(("service", call_id), None)
            if fut and not fut.done():
                fut.set_result(payload)
        elif op == 0x04:
            req_id, status, err_len = struct.unpack_from("<IBI", b, 1)
            err = b[10 : 10 + err_len].decode()
            data = b[10 + err_len :]
            fut = self._pending.pop(("asset", req_id), None)
            if fut and not fut.done():
                fut.set_result((status, err, data))

    async def wait_for(self, pred, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if pred():
                return True
            await asyncio.sleep(0.02)
        return pred()

    def channel_by_topic(self, topic: str) -> dict | None:
        for c in self.channels.values():
            if c["topic"] == topic:
                return c
        return None

    async def subscribe(self, topics) -> None:
        subs = []
        for t in topics:
            c = self.channel_by_topic(t)
            if c is None:
                have = sorted(x["topic"] for x in self.channels.values())
                raise KeyError(f"{t} not advertised; have {have}")
            sid = next(self._ids)
            self._subs[sid] = c["id"]
            subs.append({"id": sid, "channelId": c["id"]})
        await self.ws.send(json.dumps({"op": "subscribe", "subscriptions": subs}))

    async def advertise(self, topic: str, encoding: str, schema_name: str, schema: str | None = None) -> int:
        cid = next(self._ids)
        ch = {"id": cid, "topic": topic, "encoding": encoding, "schemaName": schema_name}
        if schema is not None:
            ch["schema"] = schema
            ch["schemaEncoding"] = "ros2msg" if encoding == "cdr" else "jsonschema"
        await self.ws.send(json.dumps({"op": "advertise", "channels": [ch]}))
        return cid

    async def publish(self, channel_id: int, payload: bytes) -> None:
        await self.ws.send(struct.pack("<BI", 0x01, channel_id) + payload)

    async def fetch_asset(self, uri: str, timeout: float = 5.0):
        rid = next(self._ids)
        fut = asyncio.get_running_loop().create_future()
        self._pending[("asset", rid)] = fut
        await self.ws.send(json.dumps({"op": "fetchAsset", "uri": uri, "requestId": rid}))
        return await asyncio.wait_for(fut, timeout)

    async def call_service(self, name: str, request: dict, timeout: float = 5.0) -> dict:
        svc = self.services[name]
        call_id = next(self._ids)
        fut = asyncio.get_running_loop().create_future()
        self._pending[("service", call_id)] = fut
        enc = b"json"
        body = json.dumps(request).encode()
        await self.ws.send(struct.pack("<BIII", 0x02, svc["id"], call_id, len(enc)) + enc + body)
        return json.loads(await asyncio.wait_for(fut, timeout))

    async def get_parameters(self, names: list[str]) -> None:
        await self.ws.send(json.dumps({"op": "getParameters", "parameterNames": names, "id": "g"}))

    async def set_parameters(self, params: dict) -> None:
        ps = [{"name": k, "value": v} for k, v in params.items()]
        await self.ws.send(json.dumps({"op": "setParameters", "parameters": ps, "id": "s"}))

    def by_topic(self, topic: str) -> list[Received]:
        return [m for m in self.messages if m.topic == topic]


def protobuf_class(schema_name: str, file_descriptor_set: bytes):
    """The Python protobuf class of a Foxglove schema (FileDescriptorSet bytes, base64-decoded when taken
    from an ``advertise``)."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    fds = descriptor_pb2.FileDescriptorSet.FromString(file_descriptor_set)
    pool = descriptor_pool.DescriptorPool()
    for f in fds.file:
        pool.Add(f)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName(schema_name))


def decode_channel_message(channel: dict, payload: bytes):
    """Decode a payload of an advertised protobuf or json channel (cdr needs rclpy: see tests)."""
    import base64

    if channel["encoding"] == "protobuf":
        return protobuf_class(channel["schemaName"], base64.b64decode(channel["schema"])).FromString(payload)
    if channel["encoding"] == "json":
        return json.loads(payload)
    raise ValueError(f"cannot decode {channel['encoding']} here")
