"""Serve a Unitree RPC service over DDS with the SDK's own server class (thin shell).

``unitree_sdk2py.rpc.server.Server`` reads ``rt/api/<service>/request`` (``unitree_api`` ``Request_``),
calls the handler registered for the request's api id with the JSON parameter, and writes the
``Response_`` (status code + data) on ``rt/api/<service>/response``; unregistered ids get 3203 and a
handler that raises 3202, so the clients see exactly what a robot would send. It needs the SDK's
channel factory initialised first (``twist_controller.unitree_io.init_dds``: one domain + interface per
process), and it runs handlers on one thread of its own, one request at a time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from g1_bringup.robot_api import rpc, switcher_core

Handler = Callable[[int, str], rpc.Reply]


def serve(
    service: str,
    api_version: str,
    api_ids: tuple[int, ...],
    handle: Handler,
    log: Callable[[str], None],
    warn: Callable[[str], None] | None = None,
):
    """Start ``service``: every id of ``api_ids`` goes to ``handle(api_id, parameter)``; replies with
    a log line go to ``log`` (code 0) or ``warn`` (errors). Returns the SDK server object (it lives as
    long as the process; the SDK has no way to stop one)."""
    from unitree_sdk2py.rpc.server import Server

    warn = _rate_limited(warn or log)

    def call(api_id: int, parameter: str) -> tuple[int, str]:
        try:
            reply = handle(api_id, parameter)
        except Exception as e:  # a bug must not kill the server thread: answer and keep serving
            warn(f"{service} api {api_id}: internal error {type(e).__name__}: {e}")
            return rpc.RPC_ERR_SERVER_INTERNAL, ""
        if reply.code != rpc.RPC_OK:
            name = rpc.CODE_NAMES.get(reply.code, "")
            warn(f"{service} api {api_id}: {reply.log or 'refused'} -> {reply.code} {name}")
        elif reply.log:
            log(f"{service} api {api_id}: {reply.log}")
        return reply.code, reply.data

    server = Server(service)
    server._SetApiVersion(api_version)
    for api_id in api_ids:
        server._RegistHandler(api_id, lambda parameter, a=api_id: call(a, parameter), False)
    server.Start(False)
    return server


def _rate_limited(log: Callable[[str], None], per_s: int = 10) -> Callable[[str], None]:
    """At most ``per_s`` lines a second (a client flooding bad requests must not flood the log); the
    next line that passes says how many were dropped."""
    state = {"t0": 0.0, "n": 0, "dropped": 0}

    def out(line: str) -> None:
        now = time.monotonic()
        if now - state["t0"] >= 1.0:
            state["t0"], state["n"] = now, 0
        if state["n"] >= per_s:
            state["dropped"] += 1
            return
        state["n"] += 1
        if state["dropped"]:
            line += f" ({state['dropped']} similar lines dropped)"
            state["dropped"] = 0
        log(line)

    return out


class MotionSwitcherService:
    """The simulator's ``motion_switcher`` (state in :class:`switcher_core.MotionSwitcherCore`)."""

    def __init__(self, cfg: switcher_core.SwitcherConfig, log: Callable[[str], None]):
        self.core = switcher_core.MotionSwitcherCore(cfg)
        self.log = log
        self._lock = threading.Lock()
        self._warned = False
        self.requests = 0
        self.server = serve(
            switcher_core.SERVICE_NAME, switcher_core.API_VERSION, switcher_core.API_IDS, self._handle, log
        )

    def _handle(self, api_id: int, parameter: str) -> rpc.Reply:
        with self._lock:
            self.requests += 1
            return self.core.handle(api_id, parameter)

    @property
    def mode(self) -> str:
        with self._lock:
            return self.core.name

    def note_lowcmd(self) -> None:
        """Called per applied LowCmd: say once that the emulated controller does not fight back."""
        if self._warned:
            return
        name = self.mode
        if name:
            self._warned = True
            self.log(
                f"LowCmd while motion_switcher reports {name!r} active: applied anyway (on the robot, "
                "release the controller first: ReleaseMode, or L2+R2 on the remote)"
            )
