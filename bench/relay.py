"""Relay benchmark: our selective-forwarding MediaNode against aiortc's MediaRelay, side by side.

One publisher sends a 1280x720 30 fps VP8 stream, encoder target 1.5 Mbps (libvpx delivers about
1.7), of a synthetic, noisy, moving scene with a frame counter and the capture time stamped into
the pixels. For each relay and each K, a
fresh set of three processes is started: the publisher, the relay, and one process holding all K
subscribers. Everything runs on 127.0.0.1 and the numbers are only printed, never asserted.

    cd /work/main && /tmp/venv/bin/python bench/relay.py      # or: make bench
    /tmp/venv/bin/python bench/relay.py --ks 1,4 --warmup 2 --seconds 5 --skip-mediarelay
    /tmp/venv/bin/python bench/relay.py --json > relay.json
    /tmp/venv/bin/python bench/relay.py --ks 1 --seconds 30 --skip-mediarelay --repeat 9   # K = 1, pinned down

Per relay and K it measures:
- relay CPU: time.process_time() of the relay process over the window, in cores;
- CPU per subscriber: (relay CPU - the same process's CPU over an equal window after its
  subscribers have left) / K, and the raw relay CPU / K;
- memory per subscriber: (relay VmRSS at the end of the window - VmRSS of the same relay process
  with the publisher connected and 0 subscribers) / K;
- subscriber fps: decoded frames per second (min and median over the decoding subscribers) and,
  for the subscribers that only count encoded frames, their minimum;
- added latency: capture-to-decode latency (stamped pixels, median and p90) minus that of a direct
  publisher -> subscriber connection measured in the same run.

The "ours" 0-subscriber window is the node with its publisher and no subscriber (it does not decode).
MediaRelay's is MediaRelay with one local subscriber that drains the decoded frames, so it is receive
+ decode: the per-subscriber cost is the re-encode. To keep the subscriber process
from starving the two cores, only the first --decoders subscribers decode; the rest count complete
encoded frames at aiortc's receiver (RTP timestamp gaps show skipped frames) and never decode.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import multiprocessing
import multiprocessing.connection
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:  # run from a checkout without installing the package
    sys.path.insert(0, ROOT)

import _relay_procs as procs  # noqa: E402  (bench/ is sys.path[0] when run as a script)

RELAY_NAMES = {"ours": "MediaNode", "mediarelay": "MediaRelay", "direct": "direct"}
TARGET_CPU_PER_SUBSCRIBER = 0.004  # cores (0.4 % of one core)
TARGET_MB_PER_SUBSCRIBER = 2.0
TARGET_RATIO_AT_4 = 30.0
TARGET_LATENCY_ADDED_AT_1 = 5.0  # ms, median


@dataclasses.dataclass(frozen=True)
class Config:
    relay: str  # "direct" | "ours" | "mediarelay"
    k: int

    @property
    def label(self) -> str:
        return f"{RELAY_NAMES[self.relay]} K={self.k}"


class BenchError(RuntimeError):
    pass


# --------------------------------------------------------------------------- running one configuration


def run_config(config: Config, args: argparse.Namespace) -> dict[str, Any]:
    """Start the processes of one configuration, measure one window, return what each reported."""
    ctx = multiprocessing.get_context("spawn")
    processes: dict[str, Any] = {}
    controls: dict[str, Any] = {}

    def start(role: str, target: Any, *target_args: Any) -> None:
        parent_end, child_end = ctx.Pipe()
        process = ctx.Process(target=target, args=(child_end, *target_args), name=f"bench-{role}", daemon=True)
        process.start()
        child_end.close()
        processes[role], controls[role] = process, parent_end

    if config.relay == "direct":
        publisher_end, subscriber_end = ctx.Pipe()
        start("publisher", procs.run_publisher, publisher_end, "answer")
    else:
        publisher_end, relay_publisher_end = ctx.Pipe()
        relay_subscriber_end, subscriber_end = ctx.Pipe()
        start("publisher", procs.run_publisher, publisher_end, "offer")
        start("relay", procs.run_relay, relay_publisher_end, relay_subscriber_end, config.relay, config.k)
    start("subscribers", procs.run_subscribers, subscriber_end, config.k, args.decoders)
    try:
        ready = collect(controls, processes, "ready", timeout=60 + 2 * config.k)
        start_at = time.time() + args.warmup
        for control in controls.values():
            control.send(("window", start_at, start_at + args.seconds))
        # the relay measures its 0-subscriber window after the main one
        wait = args.warmup + 2 * args.seconds + procs.IDLE_SETTLE + 60
        results = collect(controls, processes, "result", timeout=wait)
        results["subscribers"]["silent"] = ready["subscribers"]["silent"]
        return results
    finally:
        stop_processes(controls, processes)


def collect(controls: dict[str, Any], processes: dict[str, Any], kind: str, timeout: float) -> dict[str, Any]:
    """One `kind` message from every process; a process error or death raises BenchError."""
    by_connection = {control: role for role, control in controls.items()}
    pending = set(controls.values())
    received: dict[str, Any] = {}
    deadline = time.monotonic() + timeout
    while pending:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            missing = sorted(by_connection[c] for c in pending)
            raise BenchError(f"timed out waiting for {kind!r} from {', '.join(missing)}")
        for control in multiprocessing.connection.wait(list(pending), timeout=min(remaining, 1.0)):
            role = by_connection[control]
            try:
                message = control.recv()
            except EOFError:
                raise BenchError(f"the {role} process exited (code {processes[role].exitcode})") from None
            if message[0] == "error":
                raise BenchError(f"the {role} process failed:\n{message[1]}")
            if message[0] != kind:
                raise BenchError(f"the {role} process sent {message[0]!r}, expected {kind!r}")
            received[role] = message[1]
            pending.discard(control)
    return received


def stop_processes(controls: dict[str, Any], processes: dict[str, Any]) -> None:
    for control in controls.values():
        with contextlib.suppress(OSError):
            control.send(("stop",))
    deadline = time.monotonic() + 15
    for role, process in processes.items():
        process.join(timeout=max(0.1, deadline - time.monotonic()))
        if process.is_alive():
            print(f"  ({role} process did not exit; killing pid {process.pid})", file=sys.stderr)
            process.kill()
            process.join(timeout=5)
    for control in controls.values():
        control.close()


# --------------------------------------------------------------------------- derived numbers


def summarise(config: Config, raw: dict[str, Any], direct: dict[str, Any] | None) -> dict[str, Any]:
    """The per-configuration row of the final table, from the processes' raw reports."""
    subs, relay = raw["subscribers"], raw.get("relay")
    latency = subs["latency_ms"]
    row: dict[str, Any] = {
        "relay": config.relay,
        "k": config.k,
        "publisher_kbps": raw["publisher"]["kbps"],
        "publisher_fps": raw["publisher"]["fps"],
        "publisher_cpu": raw["publisher"]["cpu"],
        "subscribers_cpu": subs["cpu"],
        "fps_min": min(subs["decoded_fps"], default=None),
        "fps_median": statistics.median(subs["decoded_fps"]) if subs["decoded_fps"] else None,
        "encoded_fps_min": min(subs["encoded_fps"], default=None),
        "missing_frames": subs["missing_decoded"] + subs["missing_encoded"],
        "decode_errors": subs["decode_errors"],
        "bad_stamps": subs["bad_stamps"],
        "silent_subscribers": subs["silent"],
        "latency_median": latency["median"],
        "latency_p90": latency["p90"],
        "latency_samples": latency["samples"],
    }
    if direct is not None and latency["median"] is not None:
        row["latency_added_median"] = latency["median"] - direct["latency_median"]
        row["latency_added_p90"] = latency["p90"] - direct["latency_p90"]
    if relay is not None:
        row["relay_cpu"] = relay["cpu"]
        row["relay_user_cpu"], row["relay_sys_cpu"] = relay.get("cpu_user"), relay.get("cpu_sys")
        row["rss_mb"] = relay["rss_kb"] / 1024
        row["rss_delta_mb"] = (relay["rss_kb"] - relay["rss_baseline_kb"]) / 1024
        idle = relay["idle"]
        row["idle_cpu"], row["idle_user_cpu"], row["idle_sys_cpu"] = idle["cpu"], idle["user"], idle["sys"]
        row["cpu_per_sub_raw"] = relay["cpu"] / config.k
        row["rss_per_sub_mb"] = row["rss_delta_mb"] / config.k
        row["cpu_per_sub"] = (relay["cpu"] - idle["cpu"]) / config.k
        row["user_cpu_per_sub"] = (relay["cpu_user"] - idle["user"]) / config.k
        row["total_cpu"] = relay["cpu"] + row["publisher_cpu"] + row["subscribers_cpu"]
        row["relay_sent_fps_min"] = min(relay["sent_fps_per_subscriber"], default=None)
        for key in ("window", "totals", "per_subscriber_frames_dropped", "sent_fps_per_subscriber", "decoded_fps"):
            if key in relay:
                row[f"relay_{key}"] = relay[key]
    logs = {role: report["log"] for role, report in raw.items() if report.get("log")}
    if logs:
        row["log"] = logs
    return row


# --------------------------------------------------------------------------- output


def fmt(value: Any, spec: str = ".3f", missing: str = "-") -> str:
    return missing if value is None else format(value, spec)


def ratio(numerator: float | None, denominator: float | None) -> str:
    if numerator is None or not denominator or denominator <= 0:
        return "-"
    return f"{numerator / denominator:.1f}x"


def progress_line(row: dict[str, Any]) -> str:
    parts = [f"{RELAY_NAMES[row['relay']]:>10} K={row['k']:<2}"]
    if "relay_cpu" in row:
        parts.append(f"relay cpu {row['relay_cpu']:.3f}")
        parts.append(f"0 subs {row['idle_cpu']:.3f}")
        parts.append(f"cpu/sub {row['cpu_per_sub']:.4f} (raw {row['cpu_per_sub_raw']:.4f})")
        parts.append(f"rss/sub {row['rss_per_sub_mb']:.2f} MB")
    if row["fps_min"] is not None:
        parts.append(f"fps {row['fps_min']:.1f}/{row['fps_median']:.1f}")
    if row["encoded_fps_min"] is not None:
        parts.append(f"enc fps min {row['encoded_fps_min']:.1f}")
    if row["latency_median"] is not None:
        parts.append(f"latency {row['latency_median']:.1f}/{row['latency_p90']:.1f} ms")
    parts.append(f"pub {row['publisher_kbps']:.0f} kbps")
    parts.append(f"cpu pub/subs {row['publisher_cpu']:.2f}/{row['subscribers_cpu']:.2f}")
    window = row.get("relay_window")
    if window and (window["keyframe_requests"] or window["dropped_frames"] or window["keyframes_in"]):
        parts.append(
            f"node: {window['keyframes_in']} keyframes in, {window['keyframe_requests']} "
            f"keyframe requests, {window['dropped_frames']} dropped"
        )
    if row["missing_frames"] or row["decode_errors"] or row["bad_stamps"] or row["silent_subscribers"]:
        parts.append(
            f"missing {row['missing_frames']} decode-errors {row['decode_errors']} "
            f"bad-stamps {row['bad_stamps']} silent {row['silent_subscribers']}"
        )
    return " | ".join(parts)


Cell = Callable[[dict[str, Any]], str]


def print_table(
    title: str,
    rows: dict[Config, dict[str, Any]],
    ks: list[int],
    skipped: set[Config],
    columns: list[tuple[str, str, Cell]],
) -> None:
    """One line per K; each column is (header, relay or "ratio", cell). Ratio cells get both rows."""
    print(f"\n{title}")
    headers = ["  K"] + [header for header, _, _ in columns]
    lines = []
    for k in ks:
        ours, mr = rows.get(Config("ours", k)), rows.get(Config("mediarelay", k))
        line = [f"{k:>3}"]
        for _, relay, cell in columns:
            if relay == "ratio":
                usable = all(r is not None and "error" not in r for r in (ours, mr))
                line.append(cell({"ours": ours, "mediarelay": mr}) if usable else "-")
                continue
            row = rows.get(Config(relay, k))
            if Config(relay, k) in skipped:
                line.append("saturated/skipped")
            elif row is None:
                line.append("not run")
            elif "error" in row:
                line.append("error")
            else:
                line.append(cell(row))
        lines.append(line)
    widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(headers)]
    print(" | ".join(h.rjust(w) for h, w in zip(headers, widths, strict=True)))
    print("-+-".join("-" * w for w in widths))
    for line in lines:
        print(" | ".join(c.rjust(w) for c, w in zip(line, widths, strict=True)))


def per_sub(key: str) -> Cell:
    return lambda r: f"{fmt(r.get(key), '.4f')} ({r['cpu_per_sub_raw']:.4f})"


def pair(low: str, high: str, spec: str = ".1f", signed: bool = False) -> Cell:
    def cell(r: dict[str, Any]) -> str:
        if r.get(low) is None:
            return "-"
        sign = "+" if signed else ""
        return f"{r[low]:{sign}{spec}}/{r[high]:{sign}{spec}}"

    return cell


def print_report(
    rows: dict[Config, dict[str, Any]], ks: list[int], skipped: set[Config], args: argparse.Namespace
) -> None:
    direct = rows.get(Config("direct", 1))
    print(
        f"\nRelay benchmark: {procs.WIDTH}x{procs.HEIGHT} {procs.FPS} fps VP8, "
        f"warm-up {args.warmup:g} s, window {args.seconds:g} s, {os.cpu_count()} CPUs, "
        f"{platform.processor() or platform.machine()}, Python {platform.python_version()}"
    )
    if direct and "error" not in direct:
        print(
            f"direct publisher->subscriber latency: median {direct['latency_median']:.1f} ms, "
            f"p90 {direct['latency_p90']:.1f} ms; publisher {direct['publisher_kbps']:.0f} kbps, "
            f"{direct['publisher_fps']:.1f} fps"
        )

    def ratio_of(key: str) -> Cell:
        return lambda both: ratio(both["mediarelay"].get(key), both["ours"].get(key))

    print_table(
        "Relay CPU (cores) and memory; 0 subs = the same process once its subscribers left,"
        " CPU/sub = (CPU - 0 subs) / K, raw = CPU / K",
        rows,
        ks,
        skipped,
        [
            ("MediaNode CPU", "ours", lambda r: f"{r['relay_cpu']:.3f}"),
            ("0 subs", "ours", lambda r: f"{r['idle_cpu']:.3f}"),
            ("MediaRelay CPU", "mediarelay", lambda r: f"{r['relay_cpu']:.3f}"),
            ("0 subs", "mediarelay", lambda r: f"{r['idle_cpu']:.3f}"),
            ("MR/ours", "ratio", ratio_of("relay_cpu")),
            ("MediaNode CPU/sub (raw)", "ours", per_sub("cpu_per_sub")),
            ("MediaRelay CPU/sub (raw)", "mediarelay", per_sub("cpu_per_sub")),
            ("MR/ours per sub", "ratio", ratio_of("cpu_per_sub")),
            ("MediaNode MB/sub", "ours", lambda r: f"{r['rss_per_sub_mb']:.2f}"),
            ("MediaRelay MB/sub", "mediarelay", lambda r: f"{r['rss_per_sub_mb']:.2f}"),
        ],
    )
    print_table(
        "Relay CPU split (cores): user = the relay's own code; sys = the kernel, which on loopback also"
        " delivers each packet to and wakes the receiving process",
        rows,
        ks,
        skipped,
        [
            ("MediaNode user", "ours", lambda r: fmt(r.get("relay_user_cpu"), ".3f")),
            ("MediaNode sys", "ours", lambda r: fmt(r.get("relay_sys_cpu"), ".3f")),
            ("MediaNode user/sub", "ours", lambda r: fmt(r.get("user_cpu_per_sub"), ".4f")),
            ("MediaRelay user", "mediarelay", lambda r: fmt(r.get("relay_user_cpu"), ".3f")),
            ("MediaRelay sys", "mediarelay", lambda r: fmt(r.get("relay_sys_cpu"), ".3f")),
        ],
    )
    print_table(
        "Subscribers: decoded fps (min/median) and latency added over direct (median/p90, ms)",
        rows,
        ks,
        skipped,
        [
            ("MediaNode fps", "ours", pair("fps_min", "fps_median")),
            ("MediaRelay fps", "mediarelay", pair("fps_min", "fps_median")),
            ("MediaNode +latency", "ours", pair("latency_added_median", "latency_added_p90", signed=True)),
            ("MediaRelay +latency", "mediarelay", pair("latency_added_median", "latency_added_p90", signed=True)),
            ("MediaNode missing frames", "ours", lambda r: str(r["missing_frames"])),
            ("MediaRelay missing frames", "mediarelay", lambda r: str(r["missing_frames"])),
        ],
    )
    print_table(
        "Load: relay's slowest sender (fps) and CPU of publisher + relay + subscribers (cores)",
        rows,
        ks,
        skipped,
        [
            ("MediaNode sent fps", "ours", lambda r: fmt(r.get("relay_sent_fps_min"), ".1f")),
            ("MediaRelay sent fps", "mediarelay", lambda r: fmt(r.get("relay_sent_fps_min"), ".1f")),
            ("MediaNode all CPU", "ours", lambda r: f"{r['total_cpu']:.2f}"),
            ("MediaRelay all CPU", "mediarelay", lambda r: f"{r['total_cpu']:.2f}"),
        ],
    )
    print_targets(rows)
    for config, row in rows.items():
        if "error" in row:
            print(f"\n{config.label}: ERROR\n{row['error']}")


def print_targets(rows: dict[Config, dict[str, Any]]) -> None:
    print("\nTargets (MediaNode)")
    ours = {c.k: r for c, r in rows.items() if c.relay == "ours" and "error" not in r and c.k}
    worst_cpu = max((r["cpu_per_sub"] for r in ours.values() if "cpu_per_sub" in r), default=None)
    worst_mb = max((r["rss_per_sub_mb"] for r in ours.values()), default=None)
    if worst_cpu is not None:
        print(
            f"  CPU per subscriber <= {TARGET_CPU_PER_SUBSCRIBER:.3f} cores: worst {worst_cpu:.4f} "
            f"-> {'met' if worst_cpu <= TARGET_CPU_PER_SUBSCRIBER else 'MISSED'}"
        )
    if worst_mb is not None:
        print(
            f"  memory per subscriber <= {TARGET_MB_PER_SUBSCRIBER:.1f} MB: worst {worst_mb:.2f} MB "
            f"-> {'met' if worst_mb <= TARGET_MB_PER_SUBSCRIBER else 'MISSED'}"
        )
    ours4, mr4 = rows.get(Config("ours", 4)), rows.get(Config("mediarelay", 4))
    if ours4 and mr4 and "error" not in ours4 and "error" not in mr4:
        total = mr4["relay_cpu"] / ours4["relay_cpu"]
        print(
            f"  >= {TARGET_RATIO_AT_4:.0f}x cheaper than MediaRelay at K=4, relay CPU: {total:.1f}x "
            f"-> {'met' if total >= TARGET_RATIO_AT_4 else 'MISSED'}"
        )
        if ours4.get("cpu_per_sub") and mr4.get("cpu_per_sub"):
            marginal = mr4["cpu_per_sub"] / ours4["cpu_per_sub"]
            print(
                f"  >= {TARGET_RATIO_AT_4:.0f}x cheaper than MediaRelay at K=4, CPU per subscriber: "
                f"{marginal:.1f}x -> {'met' if marginal >= TARGET_RATIO_AT_4 else 'MISSED'}"
            )
    ours1 = rows.get(Config("ours", 1))
    if ours1 and "latency_added_median" in ours1:
        added = ours1["latency_added_median"]
        print(
            f"  median latency added at K=1 <= {TARGET_LATENCY_ADDED_AT_1:.0f} ms: {added:+.1f} ms "
            f"-> {'met' if added <= TARGET_LATENCY_ADDED_AT_1 else 'MISSED'}"
        )


def median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Of repeated runs of one configuration, the one with the median CPU per subscriber, carrying
    every run's figure in "cpu_per_sub_runs"; an error in any run is the result."""
    failed = [run for run in runs if "error" in run]
    if failed or len(runs) == 1 or "cpu_per_sub" not in runs[0]:
        return failed[0] if failed else runs[0]
    ordered = sorted(runs, key=lambda run: run["cpu_per_sub"])
    return {**ordered[(len(ordered) - 1) // 2], "cpu_per_sub_runs": [run["cpu_per_sub"] for run in ordered]}


def print_repeats(rows: dict[Config, dict[str, Any]]) -> None:
    repeated = {c: r for c, r in rows.items() if "cpu_per_sub_runs" in r}
    if not repeated:
        return
    print("\nCPU per subscriber over repeated runs (the tables show the median run)")
    for config, row in sorted(repeated.items(), key=lambda item: item[0].k):
        runs = row["cpu_per_sub_runs"]
        print(
            f"  {config.label}: median {row['cpu_per_sub']:.4f}, {len(runs)} runs "
            f"{runs[0]:.4f}-{runs[-1]:.4f}: {', '.join(f'{x:.4f}' for x in runs)}"
        )


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--ks",
        default="1,4,8,16",
        help="subscriber counts, comma-separated; default 1,4,8,16",
    )
    parser.add_argument("--warmup", type=float, default=4.0, help="seconds after connecting before measuring")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the measurement window")
    parser.add_argument(
        "--decoders",
        type=int,
        default=4,
        help="subscribers that decode and measure latency (the rest count encoded frames)",
    )
    parser.add_argument(
        "--mediarelay-max-k",
        type=int,
        default=8,
        help="skip MediaRelay above this K (it saturates two cores); default 8",
    )
    parser.add_argument("--skip-mediarelay", action="store_true", help="measure MediaNode only")
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="run each MediaNode configuration this many times and report the run with the median"
        " CPU per subscriber (the spread is printed too); default 1",
    )
    parser.add_argument("--json", action="store_true", help="print the results as JSON on stdout instead of the tables")
    args = parser.parse_args(argv)
    try:
        args.ks = sorted({int(k) for k in args.ks.split(",") if k.strip()} - {0})
    except ValueError:
        parser.error(f"--ks must be comma-separated integers, not {args.ks!r}")
    if not args.ks or min(args.ks) < 0:
        parser.error("--ks needs at least one positive K")
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    if args.decoders < 1:
        parser.error("--decoders must be at least 1 (latency is measured on decoding subscribers)")
    return args


def plan(args: argparse.Namespace) -> tuple[list[Config], set[Config]]:
    configs = [Config("direct", 1)] + [Config("ours", k) for k in args.ks]
    skipped: set[Config] = set()
    if not args.skip_mediarelay:
        for k in args.ks:
            config = Config("mediarelay", k)
            if k > args.mediarelay_max_k:
                skipped.add(config)
            else:
                configs.append(config)
    return configs, skipped


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    configs, skipped = plan(args)
    rows: dict[Config, dict[str, Any]] = {}
    began = time.monotonic()
    for config in configs:
        runs = []
        for run in range(args.repeat if config.relay == "ours" else 1):
            print(f"running {config.label}{f' (run {run + 1})' if run else ''} ...", file=sys.stderr, flush=True)
            try:
                raw = run_config(config, args)
            except BenchError as exc:
                runs.append({"relay": config.relay, "k": config.k, "error": str(exc)})
                print(f"  ERROR: {exc}", file=sys.stderr, flush=True)
                break
            direct = rows.get(Config("direct", 1))
            row = summarise(config, raw, direct if direct and "error" not in direct else None)
            runs.append(row)
            print("  " + progress_line(row), file=sys.stderr, flush=True)
            for role, entries in row.get("log", {}).items():
                for entry in entries:
                    print(f"  log[{role}] x{entry['count']}: {entry['example']}", file=sys.stderr)
        rows[config] = median_run(runs)
    print(f"done in {time.monotonic() - began:.0f} s", file=sys.stderr)
    if args.json:
        json.dump(
            {
                "machine": {
                    "cpus": os.cpu_count(),
                    "processor": platform.processor() or platform.machine(),
                    "python": platform.python_version(),
                    "platform": platform.platform(),
                },
                "settings": {
                    "ks": args.ks,
                    "warmup": args.warmup,
                    "seconds": args.seconds,
                    "decoders": args.decoders,
                    "mediarelay_max_k": args.mediarelay_max_k,
                    "width": procs.WIDTH,
                    "height": procs.HEIGHT,
                    "fps": procs.FPS,
                    "bitrate": procs.BITRATE,
                },
                "skipped": [dataclasses.asdict(c) for c in sorted(skipped, key=lambda c: (c.relay, c.k))],
                "results": list(rows.values()),
            },
            sys.stdout,
            indent=2,
        )
        print()
    else:
        print_report(rows, args.ks, skipped, args)
        print_repeats(rows)
    return 1 if any("error" in row for row in rows.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
