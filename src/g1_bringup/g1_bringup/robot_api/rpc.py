"""Status codes and parameter parsing shared by our Unitree RPC services. Pure Python.

The generic codes are the SDK's (``unitree_sdk2py.rpc.internal``; a test checks they match), the
service codes those of Unitree's C++ SDK headers (G1 loco errors 7301-7303, motion switcher 7001-7009).
A handler returns ``(code, data)``; the SDK's server blanks ``data`` when ``code`` is not 0.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

# generic RPC codes (unitree_sdk2py.rpc.internal)
RPC_OK = 0
RPC_ERR_SERVER_INTERNAL = 3202
RPC_ERR_SERVER_API_NOT_IMPL = 3203  # "Api not implement": this server does not serve that call
RPC_ERR_SERVER_API_PARAMETER = 3204  # malformed parameter: bad JSON, wrong type, NaN, absurd value
RPC_ERR_CLIENT_API_TIMEOUT = 3104  # client side: no answer within the client's timeout

# G1 loco service codes (unitree_sdk2 g1 loco error header)
LOCO_ERR_LOCOSTATE_NOT_AVAILABLE = 7301  # we use it for "the controller this call needs is not active"
LOCO_ERR_INVALID_FSM_ID = 7302  # an FSM id we do not support, or not enterable from the current state
LOCO_ERR_INVALID_TASK_ID = 7303

# motion switcher codes (unitree_sdk2 motion switcher error header)
SWITCHER_ERR_PARAMETER = 7001
SWITCHER_ERR_NAME_INVALID = 7004

CODE_NAMES = {
    RPC_OK: "OK",
    RPC_ERR_SERVER_INTERNAL: "server internal error",
    RPC_ERR_SERVER_API_NOT_IMPL: "api not implemented",
    RPC_ERR_SERVER_API_PARAMETER: "api parameter error",
    RPC_ERR_CLIENT_API_TIMEOUT: "call timed out (client side)",
    LOCO_ERR_LOCOSTATE_NOT_AVAILABLE: "LocoState not available",
    LOCO_ERR_INVALID_FSM_ID: "invalid fsm id",
    LOCO_ERR_INVALID_TASK_ID: "invalid task id",
    SWITCHER_ERR_PARAMETER: "parameter invalid",
    SWITCHER_ERR_NAME_INVALID: "name invalid",
}

MAX_PARAMETER_CHARS = 65536  # a real request is a few dozen characters


@dataclass(frozen=True)
class Reply:
    """The answer to one request, plus what the log should say about it."""

    code: int
    data: str = ""
    log: str = ""  # empty: nothing worth a log line


class BadParameter(ValueError):
    """A request parameter we refuse (answered with RPC_ERR_SERVER_API_PARAMETER)."""


def _no_constants(name: str):
    raise BadParameter(f"non-finite number {name} in the parameter")


def parse_object(parameter: str) -> dict:
    """The JSON object of a request. An empty parameter is ``{}`` (Unitree's C++ getters send "").

    Raises :class:`BadParameter` for anything else than a JSON object, and for NaN/Infinity, which
    Python's json would otherwise accept (JSON has no such values; Unitree's C++ parser rejects them).
    """
    if not isinstance(parameter, str):
        raise BadParameter(f"parameter is a {type(parameter).__name__}, not a string")
    if len(parameter) > MAX_PARAMETER_CHARS:
        raise BadParameter(f"parameter of {len(parameter)} characters")
    if not parameter.strip():
        return {}
    try:
        obj = json.loads(parameter, parse_constant=_no_constants)
    except BadParameter:
        raise
    except (ValueError, RecursionError) as e:
        raise BadParameter(f"parameter is not JSON ({e})") from None
    if not isinstance(obj, dict):
        raise BadParameter(f"parameter is a JSON {type(obj).__name__}, not an object")
    return obj


def number(obj: dict, key: str, default: float | None = None) -> float:
    """A finite number field (bools are not numbers here). ``default`` when the key is absent."""
    if key not in obj:
        if default is None:
            raise BadParameter(f"missing {key!r}")
        return default
    return finite(obj[key], key)


def finite(value, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadParameter(f"{what} is {value!r}, not a number")
    try:
        out = float(value)
    except OverflowError:  # an integer with hundreds of digits
        raise BadParameter(f"{what} is out of range") from None
    if not math.isfinite(out):  # 1e999 parses as inf
        raise BadParameter(f"{what} is not finite")
    return out


def integer(obj: dict, key: str) -> int:
    """An integer field (an integral float such as 500.0 is accepted, 500.5 is not)."""
    v = number(obj, key)
    if v != int(v):
        raise BadParameter(f"{key} is {obj[key]!r}, not an integer")
    return int(v)


def data_json(value) -> str:
    """Getter answers look like ``{"data": value}`` (Unitree's JsonizeDataInt / JsonizeDataFloat)."""
    return json.dumps({"data": value})
