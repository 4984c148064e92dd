"""The robot's ``motion_switcher`` service as the simulator emulates it. Pure Python.

On the G1 this service says which high-level controller owns the motors (``CheckMode`` ->
``{"form": "0", "name": "ai"}``), loads one (``SelectMode``) or unloads it (``ReleaseMode``, after
which ``name`` is empty). Unitree's low-level examples loop ``ReleaseMode`` / ``CheckMode`` until the
name is empty before they publish ``rt/lowcmd``. The simulator has no built-in controller, so here the
mode is only state that is reported; what it changes on the robot (who drives the motors) it does not
change in the simulator, and the simulator says so in its log once.

API ids and parameters as ``unitree_sdk2py.comm.motion_switcher`` sends them:

====  ===========  ===========================  ==============================
id    call         parameter                    answer data
====  ===========  ===========================  ==============================
1001  CheckMode    ``{}`` (or empty)            ``{"form": "0", "name": NAME}``
1002  SelectMode   ``{"name": NAME_OR_ALIAS}``  empty
1003  ReleaseMode  ``{}``                       empty
1004  SetSilent    ``{"silent": BOOL}``         empty
1005  GetSilent    ``{}``                       ``{"silent": BOOL}``
====  ===========  ===========================  ==============================
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from g1_bringup.robot_api import rpc

SERVICE_NAME = "motion_switcher"
API_VERSION = "1.0.0.1"
CHECK_MODE = 1001
SELECT_MODE = 1002
RELEASE_MODE = 1003
SET_SILENT = 1004
GET_SILENT = 1005
API_IDS = (CHECK_MODE, SELECT_MODE, RELEASE_MODE, SET_SILENT, GET_SILENT)

# the G1's controller names and the services behind them (Unitree's G1 examples decode them so)
MODES = ("normal", "ai", "advanced")
ALIASES = {"sport_mode": "normal", "ai_sport": "ai", "advanced_sport": "advanced"}


@dataclass(frozen=True)
class SwitcherConfig:
    initial_mode: str = "ai"  # a G1 boots with its own controller active; "" = released
    form: str = "0"

    def __post_init__(self):
        if self.initial_mode and canonical(self.initial_mode) is None:
            raise ValueError(
                f"motion switcher mode {self.initial_mode!r}: one of {', '.join(MODES)} or '' (released)"
            )


def canonical(name: str) -> str | None:
    """``name`` as the robot reports it (aliases resolved), None when unknown."""
    if name in MODES:
        return name
    return ALIASES.get(name)


class MotionSwitcherCore:
    """State and request dispatch of the service. Not thread-safe: the shell serialises calls."""

    def __init__(self, cfg: SwitcherConfig | None = None):
        self.cfg = cfg or SwitcherConfig()
        self.name = canonical(self.cfg.initial_mode) or ""
        self.silent = False

    @property
    def active(self) -> bool:
        return bool(self.name)

    def handle(self, api_id: int, parameter: str) -> rpc.Reply:
        try:
            p = rpc.parse_object(parameter)
            if api_id == CHECK_MODE:
                return rpc.Reply(rpc.RPC_OK, json.dumps({"form": self.cfg.form, "name": self.name}))
            if api_id == SELECT_MODE:
                return self._select(p)
            if api_id == RELEASE_MODE:
                old, self.name = self.name, ""
                return rpc.Reply(rpc.RPC_OK, "", f"ReleaseMode: {old!r} released" if old else "")
            if api_id == SET_SILENT:
                silent = p.get("silent")
                if not isinstance(silent, bool):
                    raise rpc.BadParameter(f"silent is {silent!r}, not true/false")
                self.silent = silent
                return rpc.Reply(rpc.RPC_OK)
            if api_id == GET_SILENT:
                return rpc.Reply(rpc.RPC_OK, json.dumps({"silent": self.silent}))
        except rpc.BadParameter as e:
            return rpc.Reply(rpc.RPC_ERR_SERVER_API_PARAMETER, "", str(e))
        return rpc.Reply(rpc.RPC_ERR_SERVER_API_NOT_IMPL, "", f"unknown motion_switcher api {api_id}")

    def _select(self, p: dict) -> rpc.Reply:
        name = p.get("name")
        if not isinstance(name, str) or not name:
            raise rpc.BadParameter(f"name is {name!r}, not a controller name")
        mode = canonical(name)
        if mode is None:
            return rpc.Reply(
                rpc.SWITCHER_ERR_NAME_INVALID,
                "",
                f"SelectMode {name!r}: unknown controller (one of {', '.join(MODES)})",
            )
        old, self.name = self.name, mode
        return rpc.Reply(rpc.RPC_OK, "", f"SelectMode: {mode!r} active (was {old!r})" if old != mode else "")
