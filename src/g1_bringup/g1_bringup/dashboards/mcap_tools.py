"""Summarize an MCAP recording of the G1 stack (topics, schemas, counts, rates, gaps) and plot commanded vs
measured velocity to a PNG.

    mcap_summary run.mcap                      # table of channels
    mcap_summary run.mcap --json               # the same as JSON
    mcap_summary run.mcap --plot velocity.png  # commanded (/cmd_vel), reference (CMG) and measured (/odom)

Velocities come from ``/cmd_vel`` (geometry_msgs/Twist), ``/reference_motion`` (its clamped ``command``)
and ``/odom`` (twist in the body frame), decoded with rclpy when it is available; without rclpy the
bridge's ``/g1/dashboard`` JSON channel is used instead.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np


def _messages(path: Path, status: dict):
    """Yield (channel, schema, message) records in file order. Reads the records themselves, not the
    summary section, so the file of a run that was killed (no footer) still gives every complete chunk;
    ``status["complete"]`` says whether the file ended properly."""
    from mcap.records import Channel, DataEnd, Footer, Header, Message, Schema
    from mcap.stream_reader import StreamReader

    schemas: dict[int, Schema] = {}
    channels: dict[int, Channel] = {}
    status.update(complete=False, channels=channels, schemas=schemas, profile="")
    with open(path, "rb") as f:
        try:
            for r in StreamReader(f, skip_magic=False).records:
                if isinstance(r, Header):
                    status["profile"] = r.profile
                elif isinstance(r, Schema):
                    schemas[r.id] = r
                elif isinstance(r, Channel):
                    channels[r.id] = r
                elif isinstance(r, Message):
                    ch = channels.get(r.channel_id)
                    if ch is not None:
                        yield ch, schemas.get(ch.schema_id), r
                elif isinstance(r, DataEnd | Footer):
                    status["complete"] = True
        except Exception as exc:  # truncated file: keep what was read
            status["error"] = f"{type(exc).__name__}: {exc}"


def summarize(path: str | Path, gap_factor: float = 3.0) -> dict:
    """Per channel: schema, encodings, count, rate, median period, largest gap and gap count (gaps longer
    than ``gap_factor`` median periods), bytes."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    status: dict = {}
    times: dict[int, list[int]] = {}
    sizes: dict[int, int] = {}
    for channel, _schema, msg in _messages(path, status):
        times.setdefault(channel.id, []).append(msg.log_time)
        sizes[channel.id] = sizes.get(channel.id, 0) + len(msg.data)
    topics = {}
    t_all = [t for ts in times.values() for t in ts]
    for cid, ch in status["channels"].items():
        schema = status["schemas"].get(ch.schema_id)
        ts = np.asarray(sorted(times.get(cid, [])), dtype=np.int64)
        entry = {
            "schema": schema.name if schema else "",
            "schema_encoding": schema.encoding if schema else "",
            "message_encoding": ch.message_encoding,
            "qos_metadata": "offered_qos_profiles" in ch.metadata,
            "count": int(ts.size),
            "bytes": int(sizes.get(cid, 0)),
        }
        if ts.size >= 2:
            dt = np.diff(ts) * 1e-9
            span = (ts[-1] - ts[0]) * 1e-9
            med = float(np.median(dt))
            entry.update(
                rate_hz=round((ts.size - 1) / span, 3) if span > 0 else 0.0,
                median_period_ms=round(med * 1e3, 3),
                max_gap_ms=round(float(dt.max()) * 1e3, 3),
                gaps=int(np.sum(dt > gap_factor * med)) if med > 0 else 0,
            )
        else:
            entry.update(rate_hz=0.0, median_period_ms=0.0, max_gap_ms=0.0, gaps=0)
        topics[ch.topic] = entry
    duration = (max(t_all) - min(t_all)) * 1e-9 if t_all else 0.0
    out = {
        "file": str(path),
        "profile": status["profile"],
        "complete": status["complete"],
        "duration_s": round(duration, 3),
        "messages": sum(e["count"] for e in topics.values()),
        "topics": dict(sorted(topics.items())),
    }
    if "error" in status:
        out["read_error"] = status["error"]
    return out


def format_summary(s: dict) -> str:
    profile = f", profile {s['profile']!r}" if s.get("profile") else ""
    lines = [f"{s['file']}: {s['messages']} messages over {s['duration_s']:.2f} s{profile}"]
    if not s.get("complete", True):
        lines.append("  (file not finished: the run was killed; summary from the complete chunks)")
    w = max([len(t) for t in s["topics"]] + [5])
    lines.append(f"{'topic':{w}s}  {'count':>7s} {'rate Hz':>8s} {'max gap ms':>10s} {'gaps':>5s}  schema")
    for t, e in s["topics"].items():
        lines.append(
            f"{t:{w}s}  {e['count']:7d} {e['rate_hz']:8.2f} {e['max_gap_ms']:10.1f} {e['gaps']:5d}  "
            f"{e['schema']} ({e['message_encoding']})"
        )
    return "\n".join(lines)


def velocity_series(path: str | Path) -> dict[str, np.ndarray]:
    """Time series (t in s from the first message; vx, vy, wz) of 'cmd', 'reference' and 'measured'."""
    series: dict[str, list[tuple[float, float, float, float]]] = {"cmd": [], "reference": [], "measured": []}
    dash: dict[str, list] = {"cmd": [], "reference": [], "measured": []}
    try:
        from rclpy.serialization import deserialize_message

        from g1_bringup.dashboards.foxglove_schemas import import_message_type

        types = {
            "/cmd_vel": import_message_type("geometry_msgs/msg/Twist"),
            "/reference_motion": import_message_type("twist_msgs/msg/ReferenceMotion"),
            "/odom": import_message_type("nav_msgs/msg/Odometry"),
        }
    except ImportError:
        deserialize_message, types = None, {}
    status: dict = {}
    rows = sorted(_messages(Path(path), status), key=lambda r: r[2].log_time)
    t0 = rows[0][2].log_time if rows else 0
    for channel, _schema, msg in rows:
        t = (msg.log_time - t0) * 1e-9
        topic = channel.topic
        if topic in types and channel.message_encoding == "cdr" and deserialize_message is not None:
            m = deserialize_message(msg.data, types[topic])
            if topic == "/odom":
                tw = m.twist.twist
            elif topic == "/reference_motion":
                tw = m.command
            else:
                tw = m
            key = {"/cmd_vel": "cmd", "/reference_motion": "reference", "/odom": "measured"}[topic]
            series[key].append((t, tw.linear.x, tw.linear.y, tw.angular.z))
        elif topic == "/g1/dashboard":
            d = json.loads(msg.data)
            for key, field in (("cmd", "cmd"), ("reference", "ref_cmd"), ("measured", "measured")):
                if field in d:
                    v = d[field]
                    dash[key].append((t, v["vx"], v["vy"], v["wz"]))
    out = {}
    for key in series:
        vals = series[key] or dash[key]
        out[key] = np.asarray(vals, dtype=float).reshape(-1, 4)
    return out


def plot_velocity(path: str | Path, png: str | Path, title: str | None = None) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    s = velocity_series(path)
    if all(v.size == 0 for v in s.values()):
        raise ValueError(f"{path}: no /cmd_vel, /reference_motion, /odom or /g1/dashboard messages to plot")
    fig, axes = plt.subplots(3, 1, figsize=(9, 7), sharex=True)
    labels = (("vx", "m/s", 1), ("vy", "m/s", 2), ("yaw rate", "rad/s", 3))
    styles = {
        "cmd": dict(color="tab:orange", lw=1.2, drawstyle="steps-post", label="commanded /cmd_vel"),
        "reference": dict(color="tab:green", lw=1.2, ls="--", label="reference (CMG, clamped)"),
        "measured": dict(color="tab:blue", lw=1.0, label="measured /odom"),
    }
    for ax, (name, unit, col) in zip(axes, labels, strict=True):
        for key, st in styles.items():
            a = s[key]
            if a.size:
                ax.plot(a[:, 0], a[:, col], **st)
        ax.set_ylabel(f"{name} [{unit}]")
        ax.grid(alpha=0.3)
    axes[0].legend(loc="upper right", fontsize=8)
    axes[-1].set_xlabel("time [s]")
    fig.suptitle(title or f"commanded vs measured velocity — {Path(path).name}")
    fig.tight_layout()
    png = Path(png)
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, dpi=110)
    plt.close(fig)
    return png


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="mcap_summary", description=__doc__.split("\n\n")[0])
    ap.add_argument("mcap", help="MCAP file (from foxglove_bridge record_path / stack --record)")
    ap.add_argument("--json", action="store_true", help="print the summary as JSON")
    ap.add_argument("--plot", metavar="PNG", help="write commanded vs measured velocity to this PNG")
    ap.add_argument("--gap-factor", type=float, default=3.0, help="gap = interval > factor x median period")
    a = ap.parse_args(argv)
    try:
        s = summarize(a.mcap, a.gap_factor)
    except FileNotFoundError as exc:
        print(f"mcap_summary: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(s, indent=2) if a.json else format_summary(s))
    if a.plot:
        try:
            print(f"wrote {plot_velocity(a.mcap, a.plot)}")
        except ValueError as exc:
            print(f"mcap_summary: {exc}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
