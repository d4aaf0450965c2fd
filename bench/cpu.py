"""CPU used per process during a measured window, from /proc (Linux), in % of one core.

Besides the processes the bench starts, it sums every `postgres` and every `redis-server` /
`valkey-server` process on the machine, and reports the machine's total busy time and the rest
(`other`: whatever else runs on the box).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")
SHARED = {"postgres": ("postgres",), "redis": ("redis-server", "valkey-server")}


@dataclass(frozen=True)
class Snapshot:
    seconds: dict[str, float]  # CPU seconds so far, per watched process
    shared: dict[str, dict[str, float]]  # CPU seconds so far, per group, per pid
    busy: float  # machine-wide busy ticks
    total: float  # machine-wide ticks, all cores


def _process_seconds(pid: int | str) -> float:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat.rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


def _shared_seconds() -> dict[str, dict[str, float]]:
    groups: dict[str, dict[str, float]] = {name: {} for name in SHARED}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            comm = (entry / "comm").read_text().strip()
        except OSError:
            continue
        for name, comms in SHARED.items():
            if comm in comms:
                groups[name][entry.name] = _process_seconds(entry.name)
    return groups


def _machine() -> tuple[float, float]:
    values = [float(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    total = sum(values[:8])  # user..steal (guest time is already inside user)
    return total - idle, total


def snapshot(pids: dict[str, int]) -> Snapshot:
    seconds = {name: _process_seconds(pid) for name, pid in pids.items()}
    busy, total = _machine()
    return Snapshot(seconds, _shared_seconds(), busy, total)


def usage(before: Snapshot, after: Snapshot) -> dict[str, float]:
    """% of one core per name between the snapshots, plus `machine` (of all cores) and `other`."""
    cores = os.cpu_count() or 1
    ticks = after.total - before.total
    wall = ticks / TICKS / cores
    if wall <= 0:
        return {}
    result = {name: 100 * (after.seconds[name] - before.seconds.get(name, 0.0)) / wall for name in after.seconds}
    for name, pids in after.shared.items():
        # Processes that exited in between are lost (postgres backends of closed connections): a small undercount.
        earlier = before.shared.get(name, {})
        result[name] = 100 * sum(seconds - earlier.get(pid, 0.0) for pid, seconds in pids.items()) / wall
    result["machine"] = 100 * cores * (after.busy - before.busy) / ticks
    result["other"] = max(0.0, result["machine"] - sum(v for k, v in result.items() if k != "machine"))
    return result
