"""Per-worker cgroups: a cap on the processes and the memory of everything a worker's jobs start.

rlimits are per process (a fork bomb of small processes passes them); a cgroup caps the sum.
Groups are created below the executor's own cgroup, in cgroup v1 (``pids``, ``memory``
hierarchies) or v2 (the unified hierarchy, when those controllers are delegated).

Policy ``auto`` only creates groups in hierarchies where this process sits at the root, which
is what a container with a cgroup namespace looks like; below someone else's cgroup (a systemd
unit, a job scheduler) groups are created only with policy ``nested``, because a group left
behind by a killed executor would block its owner's clean-up. Stale groups of dead executors
are removed at start-up.
"""

from __future__ import annotations

import contextlib
import os
import signal
from dataclasses import dataclass, field
from pathlib import Path

PREFIX = "criticlab-"


@dataclass
class Hierarchy:
    """One place where groups can be made: a directory and the controllers it offers."""

    base: Path
    kinds: tuple[str, ...]
    version: int


@dataclass
class WorkerGroups:
    """The groups of one worker; ``paths`` go to the worker, which joins them itself."""

    paths: list[dict] = field(default_factory=list)
    oom_files: list[str] = field(default_factory=list)
    dirs: list[Path] = field(default_factory=list)

    def kill_all(self) -> None:
        """SIGKILL every process still in these groups (after a worker was killed)."""
        for directory in self.dirs:
            try:
                pids = (directory / "cgroup.procs").read_text().split()
            except OSError:
                continue
            for pid in pids:
                with contextlib.suppress(OSError, ValueError):
                    os.kill(int(pid), signal.SIGKILL)

    def remove(self) -> None:
        for directory in self.dirs:
            _rmdir(directory)
        self.dirs.clear()


def _rmdir(directory: Path) -> None:
    with contextlib.suppress(OSError):
        directory.rmdir()


def _mounts() -> list[tuple[str, str, str, set[str]]]:
    """(mount root, mount point, fstype, super options) of cgroup mounts."""
    out = []
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return out
    for line in lines:
        left, _, right = line.partition(" - ")
        parts, rparts = left.split(), right.split()
        if len(parts) < 5 or len(rparts) < 3 or rparts[0] not in ("cgroup", "cgroup2"):
            continue
        out.append((parts[3], parts[4], rparts[0], set(rparts[2].split(","))))
    return out


def _own_paths() -> dict[str, str]:
    """controller (or '' for v2) → this process's cgroup path."""
    out: dict[str, str] = {}
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return out
    for line in lines:
        _, controllers, path = line.split(":", 2)
        for name in controllers.split(",") if controllers else [""]:
            out[name] = path
    return out


def discover(policy: str = "auto") -> list[Hierarchy]:
    """Writable places for worker groups with the pids/memory controllers, per ``policy``."""
    if policy == "off" or not hasattr(os, "getuid"):
        return []
    own = _own_paths()
    found: list[Hierarchy] = []
    for root, point, fstype, options in _mounts():
        if fstype == "cgroup":
            kinds = tuple(k for k in ("pids", "memory") if k in options)
            if not kinds:
                continue
            own_path = own.get(kinds[0])
        else:
            own_path = own.get("")
            try:
                delegated = set(
                    (Path(point) / own_path.lstrip("/") / "cgroup.subtree_control").read_text().split()
                )
            except (OSError, AttributeError):
                continue
            kinds = tuple(k for k in ("pids", "memory") if k in delegated)
            if not kinds:
                continue
        if own_path is None:
            continue
        relative = os.path.relpath(own_path, root) if own_path.startswith(root) else None
        if relative is None:
            continue
        at_root = relative in (".", "")
        if not at_root and policy != "nested":
            continue
        base = Path(point) / ("" if at_root else relative)
        if os.access(base, os.W_OK):
            found.append(Hierarchy(base, kinds, 1 if fstype == "cgroup" else 2))
    return found


def remove_stale(hierarchies: list[Hierarchy]) -> None:
    """Remove empty groups left by executors that no longer run (named ``criticlab-<pid>-...``)."""
    for hierarchy in hierarchies:
        try:
            entries = list(hierarchy.base.iterdir())
        except OSError:
            continue
        for entry in entries:
            if not entry.name.startswith(PREFIX) or not entry.is_dir():
                continue
            pid_text = entry.name[len(PREFIX) :].split("-", 1)[0]
            if pid_text.isdigit() and not Path(f"/proc/{pid_text}").exists():
                _rmdir(entry)


def create(hierarchies: list[Hierarchy], name: str, *, memory_bytes: int, max_pids: int) -> WorkerGroups:
    """Make the groups of one worker; what cannot be made is skipped (the worker reports it)."""
    groups = WorkerGroups()
    for hierarchy in hierarchies:
        directory = hierarchy.base / name
        try:
            directory.mkdir(exist_ok=True)
        except OSError:
            continue
        kinds = []
        for kind in hierarchy.kinds:
            if kind == "pids" and _write(directory / "pids.max", str(max_pids)):
                kinds.append("pids")
            if kind == "memory":
                if hierarchy.version == 1:
                    ok = _write(directory / "memory.limit_in_bytes", str(memory_bytes))
                    _write(directory / "memory.memsw.limit_in_bytes", str(memory_bytes))  # no swap escape
                    oom = directory / "memory.oom_control"
                else:
                    ok = _write(directory / "memory.max", str(memory_bytes))
                    _write(directory / "memory.swap.max", "0")
                    oom = directory / "memory.events"
                if ok:
                    kinds.append("memory")
                    groups.oom_files.append(str(oom))
        groups.dirs.append(directory)
        if kinds:
            groups.paths.append({"path": str(directory), "kinds": kinds})
    return groups


def _write(path: Path, text: str) -> bool:
    try:
        path.write_text(text)
        return True
    except OSError:
        return False
