"""The pure parts behind the conformance fixes: the websocket.v1 handshake rewrite, rosbag2's QoS
metadata text, and the JSON Schemas (checked as schemas by the independent ``jsonschema`` package).
End to end (a websocket.v1-only client, a recording read with the mcap readers) is in
tests/test_foxglove_bridge.py."""

from __future__ import annotations

import json

import pytest
import yaml

from g1_bringup.dashboards import json_schemas, rosbag2_meta
from g1_bringup.dashboards.ws_shim import offered_protocols, rewrite_request, rewrite_response

REQ = (
    b"GET / HTTP/1.1\r\nHost: 127.0.0.1:8765\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
    b"Sec-WebSocket-Protocol: %s\r\n\r\n"
)
RESP = (
    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nsec-websocket-protocol: foxglove.sdk.v1\r\n\r\n"
)


def test_legacy_only_client_is_offered_to_the_sdk_as_sdk_v1_and_answered_as_websocket_v1():
    r = rewrite_request(REQ % b"foxglove.websocket.v1")
    assert r.legacy and offered_protocols(r.head) == ["foxglove.sdk.v1"]
    assert r.head.endswith(b"\r\n\r\n") and b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==" in r.head
    answer = rewrite_response(RESP)
    assert offered_protocols(answer) == ["foxglove.websocket.v1"]
    assert b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" in answer  # depends on the key only
    assert answer.endswith(b"\r\n\r\n")


@pytest.mark.parametrize(
    "offer",
    [b"foxglove.sdk.v1", b"foxglove.websocket.v1, foxglove.sdk.v1", b"foxglove.sdk.v1.1", b"other.v1"],
)
def test_other_offers_pass_untouched(offer):
    r = rewrite_request(REQ % offer)
    assert not r.legacy and r.head == REQ % offer


def test_refusal_passes_back_untouched():
    refusal = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n"
    assert rewrite_response(refusal) == refusal


def test_repeated_protocol_headers_are_all_read():
    head = b"GET / HTTP/1.1\r\nSec-WebSocket-Protocol: a\r\nsec-websocket-protocol: b, c\r\n\r\n"
    assert offered_protocols(head) == ["a", "b", "c"]


def test_offered_qos_profiles_text_is_rosbag2s_yaml():
    q = rosbag2_meta.QosRecord(reliability=2, durability=1, deadline_ns=1_500_000_000)
    data = yaml.safe_load(rosbag2_meta.offered_qos_yaml([q, rosbag2_meta.QosRecord()]))
    assert len(data) == 2
    assert data[0] == {
        "history": 1,
        "depth": 10,
        "reliability": 2,
        "durability": 1,
        "deadline": {"sec": 1, "nsec": 500_000_000},
        "lifespan": {"sec": 0, "nsec": 0},
        "liveliness": 1,
        "liveliness_lease_duration": {"sec": 0, "nsec": 0},
        "avoid_ros_namespace_conventions": False,
    }
    assert rosbag2_meta.offered_qos_yaml([]) == "[]"


def test_type_hash_only_when_real():
    class Info:
        def __init__(self, h):
            self.topic_type_hash = h

    assert rosbag2_meta.type_hash_text([Info("RIHS01_" + "0" * 64), Info("RIHS01_ab" + "0" * 62)]).startswith(
        "RIHS01_ab"
    )
    assert rosbag2_meta.type_hash_text([Info("RIHS01_" + "0" * 64)]) == ""


def test_json_schemas_are_valid_draft_2020_12_and_strict():
    jsonschema = pytest.importorskip("jsonschema")
    for _topic, (name, schema) in json_schemas.CHANNEL_SCHEMAS.items():
        doc = json.loads(json_schemas.encoded(schema, name))
        jsonschema.Draft202012Validator.check_schema(doc)
        assert doc["title"] == name and doc["properties"] and doc["additionalProperties"] is False
    v = jsonschema.Draft202012Validator(json.loads(json_schemas.encoded(json_schemas.DASHBOARD, "d")))
    ok = {"t": 1.0, "recording": False, "client_cmd": {"accepted": 0, "rejected": 0, "last_error": ""}}
    assert v.is_valid(ok)
    assert not v.is_valid({**ok, "new_field_without_schema": 1})  # drift between code and schema fails
    assert not v.is_valid({**ok, "cmd": {"vx": "fast", "vy": 0, "wz": 0}})
