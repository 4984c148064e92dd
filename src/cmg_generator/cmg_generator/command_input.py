"""/cmd_vel handling without ROS: validation, staleness, and the command the generator should follow.

teleop_twist_joy sends one zero twist on release and then nothing; Nav2 streams; Foxglove's
Teleop panel streams while pressed. So the node never assumes a steady stream: a command older
than ``timeout`` is replaced by zero (the generator's rate limiter then ramps the robot smoothly
to standing). NaN/inf commands are rejected and the last good command keeps ageing out.
Clamping to the trained range and rate limiting live in ``CMGGenerator`` so every source gets the
same treatment.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

ZERO = (0.0, 0.0, 0.0)


@dataclass
class CommandInputConfig:
    timeout: float = 0.5  # s without a fresh /cmd_vel -> command zero (stand)


class CommandInput:
    def __init__(self, config: CommandInputConfig | None = None):
        self.config = config or CommandInputConfig()
        self._last: tuple[float, float, float] = ZERO
        self._stamp: float | None = None
        self.rejected = 0

    def submit(self, vx: float, vy: float, wz: float, now: float) -> str | None:
        """Store a command; returns why it was rejected, or None."""
        values = (vx, vy, wz)
        if not all(isinstance(v, (int, float)) and math.isfinite(v) for v in values):
            self.rejected += 1
            return f"non-finite /cmd_vel {values} ignored"
        self._last = (float(vx), float(vy), float(wz))
        self._stamp = now
        return None

    def is_stale(self, now: float) -> bool:
        return self._stamp is None or now - self._stamp > self.config.timeout

    def current(self, now: float) -> tuple[float, float, float]:
        """The command to follow now: the last good one while fresh, zero once it timed out."""
        return ZERO if self.is_stale(now) else self._last
