"""Never command a real G1 while its own controller owns the motors (the robot's ``motion_switcher``).

A G1 boots with Unitree's locomotion controller active; LowCmd from us would fight it. The robot's
``motion_switcher`` service tells (``CheckMode`` -> ``{"name": "ai"}``; an empty name once released).
pd_bridge with ``robot: real`` asks it at start-up, keeps asking until it is released, and asks again
before it leaves ZERO_TORQUE/DAMPING; until the answer is "released" it sends no LowCmd at all and
refuses ENABLE/STAND/POLICY with :data:`RELEASE_HINT`. No answer counts as "not released" (safe side).

:class:`MotionSwitcherGate` is the decision logic with an injected query (unit-tested without DDS);
:func:`sdk_query` makes the query with ``unitree_sdk2py``'s own ``MotionSwitcherClient``.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass

RELEASE_HINT = (
    "release it first: with the robot hanging, L2+B (damping) then L2+R2 (debug mode) on the remote, "
    "or `install/lib/g1_bringup/motion_switcher --release --interface <nic> --domain 0`"
)
RPC_ERR_CLIENT_API_TIMEOUT = 3104


@dataclass(frozen=True)
class SwitcherStatus:
    code: int  # RPC status code of CheckMode (0 = answered)
    name: str | None  # the active controller, "" when released, None without an answer

    @property
    def released(self) -> bool:
        return self.code == 0 and self.name == ""


def verdict(status: SwitcherStatus) -> tuple[bool, str]:
    """(may we command?, why not)."""
    if status.released:
        return True, ""
    if status.code != 0 or status.name is None:
        why = "no answer" if status.code == RPC_ERR_CLIENT_API_TIMEOUT else f"error code {status.code}"
        return False, (
            f"cannot tell whether the robot's own controller is active (motion_switcher CheckMode: {why}); "
            f"not commanding. Check the network, or {RELEASE_HINT}"
        )
    return False, f"the robot's own controller {status.name!r} is active (motion_switcher); {RELEASE_HINT}"


def parse_check_mode(code: int, data) -> SwitcherStatus:
    """A CheckMode answer as ``MotionSwitcherClient.CheckMode`` returns it (data: dict or JSON text)."""
    if code != 0:
        return SwitcherStatus(code, None)
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except ValueError:
            return SwitcherStatus(-1, None)
    name = data.get("name") if isinstance(data, dict) else None
    return SwitcherStatus(0, name) if isinstance(name, str) else SwitcherStatus(-1, None)


class MotionSwitcherGate:
    """``allowed`` is True only after a check found no active controller.

    ``check()`` queries now (blocking up to the client's timeout); ``watch()`` starts a daemon thread
    that re-checks every ``period`` s until released, so a user can release the robot with the remote
    while the bridge runs. Logs once per change of verdict.
    """

    def __init__(
        self,
        query: Callable[[], SwitcherStatus],
        log_error: Callable[[str], None],
        log_info: Callable[[str], None],
        period: float = 2.0,
    ):
        self._query = query
        self._err, self._info = log_error, log_info
        self.period = period
        self.allowed = False
        self._last_why: str | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def check(self) -> tuple[bool, str]:
        with self._lock:
            try:
                status = self._query()
            except Exception as e:  # a broken query must read as "not released"
                status = SwitcherStatus(-1, None)
                self._err(f"motion_switcher query failed: {e}")
            ok, why = verdict(status)
            if ok and not self.allowed:
                self._info("motion_switcher: no Unitree controller active; commanding is allowed")
            elif not ok and why != self._last_why:
                self._err(why)
            self.allowed, self._last_why = ok, why
            return ok, why

    def watch(self) -> None:
        def loop():
            while not self._stop.is_set() and not self.check()[0]:
                self._stop.wait(self.period)

        self._thread = threading.Thread(target=loop, name="motion_switcher_gate", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()


class SdkSwitcherClient:
    """``unitree_sdk2py``'s ``MotionSwitcherClient`` (the process must have initialised the SDK's
    channel factory: ``unitree_io.init_dds``)."""

    def __init__(self, timeout: float = 2.0):
        from unitree_sdk2py.comm.motion_switcher.motion_switcher_client import MotionSwitcherClient

        self.client = MotionSwitcherClient()
        self.client.SetTimeout(timeout)
        self.client.Init()

    def check(self) -> SwitcherStatus:
        code, data = self.client.CheckMode()
        return parse_check_mode(code, data)

    def release(self) -> int:
        return self.client.ReleaseMode()[0]

    def select(self, name: str) -> int:
        return self.client.SelectMode(name)[0]


def bridge_gate(log_error: Callable[[str], None], log_info: Callable[[str], None]) -> MotionSwitcherGate:
    """The gate pd_bridge uses on a real robot: SDK client, first check at once, then watching."""
    client = SdkSwitcherClient()
    gate = MotionSwitcherGate(client.check, log_error, log_info)
    gate.watch()
    return gate
