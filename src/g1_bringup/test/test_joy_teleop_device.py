"""joy_teleop's device side, end to end, on an SDL2 virtual joystick (no /dev/input needed).

The pad is created with ``SDL_JoystickAttachVirtual`` in the very libSDL2 that pygame loaded (its
wheel bundles one), in this process, so pygame's joystick discovery, axis reading, hot-plug events
and the node's /cmd_vel publishing all run for real. Everything (SDL calls, the node's timer, the
probe's subscriptions) runs on this one thread through ``spin_once``.
"""

from __future__ import annotations

import ctypes
import time
from pathlib import Path

import pytest

rclpy = pytest.importorskip("rclpy", reason="needs the ROS venv (source scripts/env.sh)")
pygame = pytest.importorskip("pygame", reason="pygame is in requirements.txt")

pytestmark = pytest.mark.ros

SDL_JOYSTICK_TYPE_GAMECONTROLLER = 1
UP = LEFT = -32768  # SDL: stick up / left is negative (pygame reads -1.0)
# SDL gives the virtual pad an identity GameController mapping (raw button i = controller button i),
# so these are both the raw indices we set and the Joy indices the node sees:
# enable 5, x <- LEFTY (1), y <- LEFTX (0), yaw <- RIGHTX (2), turbo 4
ENABLE, AX_X, AX_Y, AX_YAW, TURBO = 5, 1, 0, 2, 4
HOLONOMIC = (
    f"enable_button:={ENABLE}",
    f"axis_linear.x:={AX_X}",
    f"axis_linear.y:={AX_Y}",
    f"axis_angular.yaw:={AX_YAW}",
    "scale_linear.x:=0.8",
    "scale_linear.y:=0.3",
    "scale_linear_turbo.x:=1.5",
    "scale_angular.yaw:=0.8",
)
DATA = Path(__file__).resolve().parent / "data" / "teleop_twist_joy"
# An SDL mapping with the raw order of an Xbox 360 pad on Linux (xpad/evdev), where joy_node's raw
# numbering and game_controller_node's numbering differ: raw b5 is RB (controller button 10), raw b8
# is GUIDE (controller button 5), raw a3 is the right stick's x (controller axis 2).
XBOX_LIKE = (
    "a:b0,b:b1,x:b2,y:b3,leftshoulder:b4,rightshoulder:b5,back:b6,start:b7,guide:b8,leftstick:b9,"
    "rightstick:b10,leftx:a0,lefty:a1,lefttrigger:a2,rightx:a3,righty:a4,righttrigger:a5"
)


def _pygame_sdl() -> ctypes.CDLL:
    """The libSDL2 pygame uses (from /proc/self/maps), with the virtual joystick API typed."""
    pygame.init()
    maps = Path("/proc/self/maps").read_text().splitlines()
    libs = sorted({ln.split()[-1] for ln in maps if Path(ln.split()[-1]).name.startswith("libSDL2-")})
    if not libs:
        pytest.skip("cannot find the libSDL2 pygame loaded in /proc/self/maps")
    sdl = ctypes.CDLL(libs[0])
    try:
        sdl.SDL_JoystickAttachVirtual.argtypes = [ctypes.c_int] * 4
        sdl.SDL_JoystickDetachVirtual.argtypes = [ctypes.c_int]
        sdl.SDL_JoystickSetVirtualAxis.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int16]
        sdl.SDL_JoystickSetVirtualButton.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_uint8]
    except AttributeError:
        pytest.skip(f"SDL {pygame.version.SDL} in {libs[0]} has no virtual joystick API (needs >= 2.0.14)")
    sdl.SDL_JoystickOpen.argtypes = [ctypes.c_int]
    sdl.SDL_JoystickOpen.restype = ctypes.c_void_p
    sdl.SDL_JoystickClose.argtypes = [ctypes.c_void_p]
    sdl.SDL_JoystickGetDeviceInstanceID.argtypes = [ctypes.c_int]
    sdl.SDL_GetError.restype = ctypes.c_char_p
    sdl.SDL_GameControllerAddMapping.argtypes = [ctypes.c_char_p]
    sdl.SDL_GameControllerMappingForDeviceIndex.argtypes = [ctypes.c_int]
    sdl.SDL_GameControllerMappingForDeviceIndex.restype = ctypes.c_void_p  # caller frees: a small leak
    return sdl


class VirtualPad:
    """A 6-axis, 12-button virtual game controller (triggers, axes 4 and 5, rest at -32768)."""

    def __init__(self, sdl: ctypes.CDLL):
        self.sdl = sdl
        index = sdl.SDL_JoystickAttachVirtual(SDL_JOYSTICK_TYPE_GAMECONTROLLER, 6, 12, 0)
        assert index >= 0, sdl.SDL_GetError()
        self.index = index
        self.instance_id = sdl.SDL_JoystickGetDeviceInstanceID(index)
        self.handle = sdl.SDL_JoystickOpen(index)  # the setters need an open joystick
        assert self.handle, sdl.SDL_GetError()

    def set(self, axes: dict[int, int] | None = None, buttons: dict[int, int] | None = None) -> None:
        for i, v in (axes or {}).items():
            assert self.sdl.SDL_JoystickSetVirtualAxis(self.handle, i, v) == 0
        for i, v in (buttons or {}).items():
            assert self.sdl.SDL_JoystickSetVirtualButton(self.handle, i, v) == 0

    def detach(self) -> None:
        if self.handle is None:
            return
        self.sdl.SDL_JoystickClose(self.handle)
        self.handle = None
        for index in range(self.sdl.SDL_NumJoysticks()):
            if self.sdl.SDL_JoystickGetDeviceInstanceID(index) == self.instance_id:
                assert self.sdl.SDL_JoystickDetachVirtual(index) == 0, self.sdl.SDL_GetError()


class Rig:
    """JoyTeleopNode plus a probe node recording /cmd_vel and the node's /rosout lines."""

    def __init__(self, argv: list[str], stamped: bool = False):
        from geometry_msgs.msg import Twist, TwistStamped
        from rcl_interfaces.msg import Log
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.qos import DurabilityPolicy, QoSProfile

        from g1_bringup.teleop.joy_teleop import JoyTeleopNode

        self.node = JoyTeleopNode(argv)
        self.probe = rclpy.create_node("joy_teleop_probe")
        self.cmds: list[tuple[float, float, float]] = []
        self.stamped: list = []
        self.logs: list[str] = []
        if stamped:
            self.probe.create_subscription(TwistStamped, "/cmd_vel", self._on_stamped, 50)
        else:
            self.probe.create_subscription(Twist, "/cmd_vel", self._on_twist, 50)
        # /rosout is transient-local: a late subscriber still gets the node's start-up lines
        rosout_qos = QoSProfile(depth=1000, durability=DurabilityPolicy.TRANSIENT_LOCAL)
        self.probe.create_subscription(Log, "/rosout", self._on_log, rosout_qos)
        self.executor = SingleThreadedExecutor()
        self.executor.add_node(self.node)
        self.executor.add_node(self.probe)

    def _on_twist(self, m) -> None:
        self.cmds.append((m.linear.x, m.linear.y, m.angular.z))

    def _on_stamped(self, m) -> None:
        self.stamped.append(m)
        self._on_twist(m.twist)

    def _on_log(self, m) -> None:
        if m.name == "joy_teleop":
            self.logs.append(m.msg)

    def spin(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.executor.spin_once(timeout_sec=0.01)

    def spin_until(self, done, timeout: float) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if done():
                return True
            self.executor.spin_once(timeout_sec=0.01)
        return done()

    def take(self) -> list[tuple[float, float, float]]:
        out, self.cmds = self.cmds, []
        return out

    def close(self) -> None:
        self.executor.shutdown(timeout_sec=0.5)
        self.node.destroy_node()
        self.probe.destroy_node()


@pytest.fixture
def rig_factory(ros_env, monkeypatch):
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")  # no window, no sound card
    monkeypatch.setenv("SDL_AUDIODRIVER", "dummy")
    sdl = _pygame_sdl()
    made: list[tuple[Rig, list[VirtualPad]]] = []

    def make(
        *params: str, stamped: bool = False, files: tuple[Path, ...] = ()
    ) -> tuple[Rig, ctypes.CDLL, list[VirtualPad]]:
        args = ["joy_teleop", "--ros-args"] + [a for f in files for a in ("--params-file", str(f))]
        args += [a for p in params for a in ("-p", p)]
        rclpy.init(args=args)
        pads: list[VirtualPad] = []
        made.append((Rig(args, stamped), pads))
        return made[-1][0], sdl, pads

    yield make
    for rig, pads in made:
        for pad in pads:
            pad.detach()
        rig.close()
    if rclpy.ok():
        rclpy.shutdown()
    pygame.event.clear()


def _near(cmd, want, tol=1e-3) -> bool:
    return all(abs(a - b) <= tol for a, b in zip(cmd, want, strict=True))


def test_virtual_pad_drives_cmd_vel(rig_factory):
    rig, sdl, pads = rig_factory(*HOLONOMIC, f"enable_turbo_button:={TURBO}")
    rig.spin(0.3)  # no pad yet: nothing is published, the node says so
    assert rig.take() == []
    assert rig.spin_until(lambda: any("no gamepad found" in m for m in rig.logs), 2.0), rig.logs

    pad = VirtualPad(sdl)
    pads.append(pad)
    pad.set(axes={AX_X: UP})  # stick up but enable released
    assert rig.spin_until(lambda: rig.node.pad is not None, 1.0), "JOYDEVICEADDED did not connect"
    assert rig.spin_until(lambda: any(m.startswith("gamepad: ") for m in rig.logs), 1.0), rig.logs
    assert any("numbering: game_controller)" in m for m in rig.logs), rig.logs
    rig.spin(0.5)
    released = rig.take()  # teleop_twist_joy: one zero for the first released sample, then nothing
    assert len(released) <= 1 and all(c == (0.0, 0.0, 0.0) for c in released), released

    pad.set(buttons={ENABLE: 1})  # enable + stick up: forward at scale_linear.x, streamed at 20 Hz
    rig.spin(0.5)
    held = rig.take()
    assert len(held) >= 5, held
    assert _near(held[-1], (0.8, 0.0, 0.0)), held[-1]

    pad.set(axes={AX_X: 0, AX_Y: LEFT, AX_YAW: LEFT})  # left stick left, yaw stick left
    assert rig.spin_until(lambda: rig.cmds and _near(rig.cmds[-1], (0.0, 0.3, 0.8)), 1.0), rig.cmds
    rig.take()

    pad.set(axes={AX_X: UP, AX_Y: 0, AX_YAW: 0}, buttons={TURBO: 1})  # turbo scale
    assert rig.spin_until(lambda: rig.cmds and _near(rig.cmds[-1], (1.5, 0.0, 0.0)), 1.0), rig.cmds

    rig.take()
    pad.set(buttons={ENABLE: 0, TURBO: 0})  # release: exactly one zero, then silence
    rig.spin(0.6)
    assert rig.take() == [(0.0, 0.0, 0.0)]

    pad.set(buttons={ENABLE: 1})  # driving again, then the pad disappears
    assert rig.spin_until(lambda: rig.cmds and _near(rig.cmds[-1], (0.8, 0.0, 0.0)), 1.0), rig.cmds
    rig.take()
    pad.detach()
    assert rig.spin_until(lambda: any("gamepad removed" in m for m in rig.logs), 1.0), rig.logs
    rig.spin(0.5)
    gone = rig.take()
    assert gone and gone[-1] == (0.0, 0.0, 0.0), gone  # zero after removal, then silence
    assert gone.count((0.0, 0.0, 0.0)) == 1 and rig.node.pad is None, gone

    rig.logs.clear()
    pad2 = VirtualPad(
        sdl
    )  # plugged back in: reconnects (on the hot-plug event; the 2 s scan is the fallback)
    pads.append(pad2)
    pad2.set(axes={AX_X: UP}, buttons={ENABLE: 1})
    assert rig.spin_until(lambda: rig.cmds and _near(rig.cmds[-1], (0.8, 0.0, 0.0)), 3.0), rig.cmds
    assert rig.spin_until(lambda: any(m.startswith("gamepad: ") for m in rig.logs), 1.0), rig.logs


def test_second_pad_does_not_disturb_and_stamped_output(rig_factory):
    rig, sdl, pads = rig_factory(*HOLONOMIC, "publish_stamped_twist:=true", "frame:=pad_frame", stamped=True)
    first = VirtualPad(sdl)
    pads.append(first)
    first.set(axes={AX_X: UP}, buttons={ENABLE: 1})
    assert rig.spin_until(lambda: rig.cmds and _near(rig.cmds[-1], (0.8, 0.0, 0.0)), 2.0), rig.cmds
    assert rig.stamped[-1].header.frame_id == "pad_frame"
    assert rig.stamped[-1].header.stamp.sec > 0
    in_use = rig.node.pad

    second = VirtualPad(sdl)  # another pad plugged in and then out: the first one keeps driving
    pads.append(second)
    rig.spin(0.3)
    second.detach()
    rig.spin(0.3)
    rig.take()
    rig.spin(0.4)
    still = rig.take()
    assert rig.node.pad is in_use
    assert len(still) >= 4 and all(_near(c, (0.8, 0.0, 0.0)) for c in still), still


@pytest.fixture
def xbox_like_mapping():
    """Give the virtual pad's GUID the Xbox-like SDL mapping; restore SDL's own mapping afterwards
    (every virtual pad of this process shares the GUID)."""
    sdl = _pygame_sdl()
    state: dict = {}

    def install(pad: VirtualPad) -> None:
        ptr = sdl.SDL_GameControllerMappingForDeviceIndex(pad.index)
        original = ctypes.string_at(ptr).decode()
        guid = original.split(",", 1)[0]
        state["original"] = original
        assert sdl.SDL_GameControllerAddMapping(f"{guid},Xbox-like test pad,{XBOX_LIKE}".encode()) >= 0

    yield install
    if "original" in state:
        sdl.SDL_GameControllerAddMapping(state["original"].encode())


@pytest.mark.parametrize("numbering", ["game_controller", "joystick"])
def test_unmodified_upstream_xbox_file_on_an_xbox_like_pad(
    rig_factory, xbox_like_mapping, tmp_path, numbering
):
    """Upstream's xbox.config.yaml (keyed teleop_twist_joy_node) as it is, plus one key we do not know.
    Same sticks, same enable button (X is 2 in both numberings); the turbo button 5 is GUIDE in
    game_controller_node's numbering and RB in joy_node's."""
    config = tmp_path / "xbox.config.yaml"
    config.write_text((DATA / "xbox.config.yaml").read_text() + "    use_fort: false\n")
    params = () if numbering == "game_controller" else ("device_mapping:=joystick",)
    rig, sdl, pads = rig_factory(*params, files=(config,))
    assert rig.spin_until(lambda: any("UNKNOWN PARAMETER" in m and "use_fort" in m for m in rig.logs), 2.0), (
        rig.logs
    )
    pad = VirtualPad(sdl)
    pads.append(pad)
    xbox_like_mapping(pad)  # before the node opens it: the node only runs inside spin below
    raw_x, raw_rb, raw_guide = 2, 5, 8
    pad.set(axes={1: UP}, buttons={raw_x: 1})  # left stick up, X held
    assert rig.spin_until(lambda: rig.cmds and _near(rig.cmds[-1], (0.7, 0.0, 0.0)), 3.0), (
        rig.cmds,
        rig.logs,
    )
    opened = f"numbering: {numbering})"
    assert rig.spin_until(lambda: any(m.startswith("gamepad: ") and opened in m for m in rig.logs), 1.0), (
        rig.logs
    )

    pad.set(axes={1: 0, 0: LEFT})  # left stick left: upstream turns (no side step: axis_linear.y = -1)
    assert rig.spin_until(lambda: rig.cmds and _near(rig.cmds[-1], (0.0, 0.0, 0.4)), 1.0), rig.cmds

    pad.set(buttons={raw_rb: 1})  # RB: turbo only in joy_node's numbering
    rig.spin(0.3)
    rig.take()
    rig.spin(0.3)
    turbo_on_rb = _near(rig.take()[-1], (0.0, 0.0, 1.0))  # turbo yaw scale: upstream default 1.0
    assert turbo_on_rb == (numbering == "joystick")

    pad.set(buttons={raw_rb: 0, raw_guide: 1})  # GUIDE: turbo only in game_controller numbering
    rig.spin(0.3)
    rig.take()
    rig.spin(0.3)
    turbo_on_guide = _near(rig.take()[-1], (0.0, 0.0, 1.0))
    assert turbo_on_guide == (numbering == "game_controller")
