"""motion_switcher: ask or change which of Unitree's controllers owns the G1's motors.

  install/lib/g1_bringup/motion_switcher --check   --interface eth0        # real robot (domain 0)
  install/lib/g1_bringup/motion_switcher --release --interface eth0        # before our stack commands it
  install/lib/g1_bringup/motion_switcher --select ai --interface eth0      # give it back to Unitree's
  install/lib/g1_bringup/motion_switcher --check --domain 1 --interface lo # our simulator

Uses unitree_sdk2py's own MotionSwitcherClient. ``--release`` repeats ReleaseMode until CheckMode
reports no controller (as Unitree's low-level examples do), at most ``--tries`` times. Exit status 0
on success, 1 when the service did not answer or the controller stayed active, 2 on bad arguments.
Hang the robot before releasing: without a controller it goes limp.
"""

from __future__ import annotations

import argparse
import sys
import time


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="motion_switcher",
        description=__doc__.splitlines()[0],
        epilog="\n".join(__doc__.splitlines()[1:]),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    what = ap.add_mutually_exclusive_group(required=True)
    what.add_argument("--check", action="store_true", help="print the active controller ('' = none)")
    what.add_argument("--release", action="store_true", help="release the active controller")
    what.add_argument("--select", metavar="NAME", help="activate a controller: normal, ai, advanced")
    ap.add_argument("--domain", type=int, default=0, help="DDS domain (robot 0, simulator 1)")
    ap.add_argument("--interface", default="eth0", help="network interface on the robot's network")
    ap.add_argument("--timeout", type=float, default=5.0, help="s to wait for each answer")
    ap.add_argument("--tries", type=int, default=10, help="ReleaseMode attempts, 1 s apart")
    args = ap.parse_args(argv)

    from twist_controller import unitree_io
    from twist_controller.motion_switcher import SdkSwitcherClient

    unitree_io.init_dds(args.domain, args.interface or None)
    client = SdkSwitcherClient(args.timeout)
    status = client.check()
    if status.code != 0:
        print(
            f"no answer from motion_switcher (code {status.code}) on domain {args.domain}, {args.interface!r}"
        )
        return 1
    if args.check:
        print(f"active controller: {status.name!r}" if status.name else "no controller active (released)")
        return 0
    if args.select:
        code = client.select(args.select)
        status = client.check()
        print(f"SelectMode({args.select!r}) -> code {code}; active controller: {status.name!r}")
        return 0 if code == 0 and status.name else 1
    tries = max(1, args.tries)
    while not status.released and tries > 0:
        print(f"releasing {status.name!r} ...")
        client.release()
        time.sleep(1.0)
        status = client.check()
        tries -= 1
    if status.released:
        print("no controller active (released)")
        return 0
    print(f"still active: {status.name!r} (code {status.code})")
    return 1


if __name__ == "__main__":
    sys.exit(main())
