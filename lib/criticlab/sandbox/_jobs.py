"""Jobs inside the sandbox worker: pre-forked children, segments of tests, and their watching.

Loaded by path inside the worker process (``_worker.py`` registers ``_criticlab_sys`` and
``_criticlab_child`` first; standard library only). A *zygote* is a child forked and confined
before its job arrives; a *job* is one sample, run as *segments* (one child for consecutive
call/assert tests, one per stdin/stdout test); the worker watches each child's pipes and
clocks and reports events to the executor, which decides every verdict.

Zygotes (forked, confined, waiting) come from ``_zygote.py``; this module runs jobs on them.
"""

import json
import os
import select
import signal
import time

import _criticlab_sys as sx

SETUP_LIMIT = 5.0
"""Seconds a child may take to set itself up before it counts as an infrastructure failure."""
DRAIN_GRACE = 0.25
STDOUT_TAIL = 4000
STDERR_TAIL = 4000


MAX_FRAME_DEPTH = 160
"""Nesting a record from the child may have (the harness encodes at most ~100 levels): deeper is a
forged record, refused here before any encoder or decoder on the way to the judge can choke on it."""


# ------------------------------------------------------------------------------------------
# jobs
# ------------------------------------------------------------------------------------------

FLUSH_DELAY = 0.002
"""Events are sent in batches at most this old, so a batch of fast tests costs one message."""


class Job:
    """One sample: its tests run in segments (one child for consecutive call/assert tests, one
    child per stdin/stdout test); a child that dies mid-segment is replaced for the next test."""

    def __init__(self, worker, msg):
        self.w = worker
        self.msg = msg
        self.id = msg["id"]
        self.tests = msg["tests"]
        self.time_limit = float(msg["time_limit"])
        self.load_limit = float(msg.get("load_limit", self.time_limit))
        self.started = time.monotonic()
        self.deadline = self.started + float(msg["deadline"])
        self.aborted = False
        self.skips = set()
        self.stdout_tail = b""
        self.stderr_tail = b""
        self.forks = 0
        self.stdio_compile_error = None
        self.infra_error = None
        self.trace = [("start", time.perf_counter())] if msg.get("trace") else None
        self.usage = {"user": 0.0, "sys": 0.0, "maxrss_kb": 0, "minflt": 0}
        self.events = []
        self.flush_at = None
        self.deferred = []  # finished segments whose children are reaped after "done"

    def emit(self, obj):
        self.events.append(obj)
        if self.flush_at is None:
            self.flush_at = time.monotonic() + FLUSH_DELAY

    def flush(self):
        if self.events:
            sx.send(self.w.ctl_out, {"op": "events", "id": self.id, "events": self.events})
            self.events = []
        self.flush_at = None

    def mark(self, name):
        if self.trace is not None:
            self.trace.append((name, time.perf_counter()))

    def account(self, usage):
        if usage is not None:
            self.usage["user"] += usage.ru_utime
            self.usage["sys"] += usage.ru_stime
            self.usage["maxrss_kb"] = max(self.usage["maxrss_kb"], usage.ru_maxrss)
            self.usage["minflt"] += usage.ru_minflt

    def run(self):
        self.dir = self.w.make_job_dir()
        self.ipc_before = None if self.w.claims["job_ipc_namespace"] else self.w.job_ipc_objects()
        try:
            index, total = 0, len(self.tests)
            while index < total and not self.aborted and self.infra_error is None:
                if time.monotonic() >= self.deadline:
                    for k in range(index, total):
                        self.emit({"op": "test", "i": k, "rec": None, "end": "deadline"})
                    break
                if self.tests[index]["k"] == "stdio":
                    if self.stdio_compile_error is not None:
                        self.emit({"op": "test", "i": index, "rec": dict(self.stdio_compile_error, i=index)})
                        index += 1
                        continue
                    index = Segment(self, index, index + 1, stdio=True).run()
                else:
                    end = index
                    while end < total and self.tests[end]["k"] != "stdio":
                        end += 1
                    index = Segment(self, index, end, stdio=False).run()
        except BaseException:
            self.cleanup()
            raise
        self.mark("tests_done")
        if not self.deferred:
            self.cleanup()
        self.mark("send")
        sx.send(
            self.w.ctl_out,
            {
                "op": "done",
                "id": self.id,
                "events": self.events,
                "run": time.monotonic() - self.started,
                "forks": self.forks,
                "stdout": self.stdout_tail.decode("utf-8", "replace"),
                "stderr": self.stderr_tail.decode("utf-8", "replace"),
                "infra": self.infra_error,
                "trace": self.trace,
                "usage": self.usage,
            },
        )
        self.events = []
        if self.deferred:
            self.cleanup()  # after "done": the caller has its verdict while we tidy up

    def cleanup(self):
        """Reap finished children, kill strays, remove the job directory and the job's IPC objects:
        nothing a job made outlives it. What cannot be removed retires the worker (see
        ``Worker.retire``): the next job must never run beside it, and this job's answer is already
        sent, so the failure belongs to the worker, not to a job."""
        for segment in self.deferred:
            # already SIGKILLed: its pid namespace dies with it; reaped without waiting here for
            # the kernel's teardown (see Worker.serve)
            self.w.dying.add(segment.z.pid)
            segment.z.close_fds()
        self.deferred.clear()
        if self.w.mode == "minimal":
            self.w.reap_orphans(exclude=self.w.spare_pids())
        elif not self.w.claims["pid_namespace"]:
            self.w.kill_uid()
        try:
            sx.remove_tree(self.dir)
        except OSError as err:
            self.w.retire(f"job directory left behind: {err}")
        if self.ipc_before is not None:
            try:
                sx.remove_ipc(self.w.job_ipc_objects() - self.ipc_before)
            except OSError as err:
                self.w.retire(f"IPC objects left behind: {err}")
        reap_zombies(self.w)
        self.mark("cleaned")

    def control(self, msg):
        """A frame from the executor while a child runs; returns True when the child must stop."""
        op = msg.get("op")
        if op in ("run", "exit"):
            self.w.pending.append(msg)  # handled after this job (the executor sends one job at a time)
            if op == "exit":
                self.aborted = True
            return op == "exit"
        if msg.get("id") != self.id:
            return False  # a late skip/abort for a job that already finished
        if op == "abort":
            self.aborted = True
            return True
        if op == "skip" and isinstance(msg.get("i"), int):
            self.skips.add(msg["i"])  # the segment stops the child if that test is still running
        return False


class Segment:
    """One child running tests ``first..last-1``, and everything needed to watch it."""

    def __init__(self, job, first, last, stdio):
        self.job = job
        self.w = job.w
        self.first = first
        self.last = last
        self.stdio = stdio
        self.current = first
        self.phase = "setup"  # setup -> load -> test
        self.phase_start = time.monotonic()
        self.kill_reason = None
        self.final_stdio = None
        self.load_failure = None
        self.stdout = bytearray()
        self.stdout_total = 0
        self.stderr = bytearray()
        self.stderr_total = 0
        self.chan = bytearray()
        self.chan_total = 0
        self.cap = int(self.w.limits["output_bytes"])
        self.oom_killed = False
        self.program_started = False

    def _start(self):
        job = self.job
        spec = dict(job.msg["spec"], first=self.first, last=self.last, stdio=self.stdio)
        message = {
            "dir": job.dir,
            "spec": spec,
            "nonce": job.msg["nonce"],
            "cpu": max(0.0, job.deadline - time.monotonic()),
            "input": self.job.tests[self.first].get("input", "") if self.stdio else None,
        }
        for _ in range(3):
            zygote = self.w.take_zygote()
            job.forks += 1
            if zygote.go(message):
                self.z = zygote
                self.phase_start = time.monotonic()
                return True
            zygote.discard()
        job.infra_error = "could not hand a job to a sandbox child (it died before starting)"
        return False

    def complete(self):
        return self.final_stdio is not None if self.stdio else self.current >= self.last

    def run(self):
        """Start, watch, classify; return the index of the next test to run."""
        job = self.job
        oom_before = self.w.oom_count() if self.w.oom_fds else 0
        job.mark("go")
        if not self._start():
            return self.last
        if self.last < len(job.tests):
            self.w.spare_zygote()  # another segment follows: fork its child while this one works
        status = self._watch()
        self.oom_killed = bool(self.w.oom_fds) and self.w.oom_count() > oom_before
        job.mark("reaped")
        self._capture_tails()
        return self._report(status, job)

    def _limit_deadline(self):
        limit = {"setup": SETUP_LIMIT, "load": self.job.load_limit}.get(self.phase, self.job.time_limit)
        return min(self.phase_start + limit, self.job.deadline if self.phase != "setup" else float("inf"))

    def _watch(self):
        z, job = self.z, self.job
        poller = select.poll()
        for fd in z.fds:
            poller.register(fd, select.POLLIN)
        if z.pidfd is not None:
            poller.register(z.pidfd, select.POLLIN)
        poller.register(self.w.ctl_in, select.POLLIN)
        status = None
        exited_at = None
        early = self.w.claims["pid_namespace"] and self.w.claims["fs_jail"]
        while True:
            now = time.monotonic()
            if job.flush_at is not None and now >= job.flush_at:
                job.flush()
            if status is None:
                if early and self.complete() and self.kill_reason is None:
                    self._drain(poller)
                    sx.kill_quietly(z.pid)
                    job.deferred.append(self)
                    return None
                if self._should_stop():
                    self._kill()
                remaining = self._limit_deadline() - now
                if remaining <= 0 and self.kill_reason is None:
                    self.kill_reason = (
                        "setup"
                        if self.phase == "setup"
                        else ("deadline" if now >= job.deadline else "timeout")
                    )
                    self._kill()
                if self.kill_reason is not None:
                    timeout = 0.001  # killed: wait for the exit
                else:
                    timeout = max(0.0, min(remaining, 0.005 if z.pidfd is None else 60.0))
            else:
                if not z.fds or now - exited_at > DRAIN_GRACE:
                    break
                timeout = DRAIN_GRACE
            if job.flush_at is not None:
                timeout = max(0.0, min(timeout, job.flush_at - now))
            for fd, _ in poller.poll(timeout * 1000):
                if fd == self.w.ctl_in:
                    msg = sx.recv(self.w.ctl_in)
                    if msg is None:
                        self._kill()
                        os._exit(0)
                    if job.control(msg):
                        self.kill_reason = self.kill_reason or "aborted"
                        self._kill()
                elif fd == z.pidfd:
                    poller.unregister(fd)
                elif fd in z.fds:
                    self._read(fd, poller)
            if status is None:
                reaped = z.reap(block=False)
                if reaped is not None:
                    status, usage = reaped
                    job.account(usage)
                    exited_at = time.monotonic()
                    if self.w.mode == "minimal":
                        sx.kill_group(z.pid)  # daemons holding our pipes; the rest go in Job.cleanup
                    poller.unregister(self.w.ctl_in)
        z.close_fds()
        return status

    def _drain(self, poller):
        """Read whatever the finished child already wrote (its output precedes its last record)."""
        for _ in range(64):
            ready = [fd for fd, _ in poller.poll(0) if fd in self.z.fds]
            if not ready:
                return
            for fd in ready:
                self._read(fd, poller)

    def _should_stop(self):
        if self.current in self.job.skips and self.phase == "test" and self.kill_reason is None:
            self.kill_reason = "skipped"
            return True
        return False

    def _kill(self):
        sx.kill_quietly(self.z.pid)
        sx.kill_group(self.z.pid)

    def _read(self, fd, poller):
        try:
            data = os.read(fd, 1 << 16)
        except OSError:
            data = b""
        if not data:
            poller.unregister(fd)
            os.close(fd)
            del self.z.fds[fd]
            return
        kind = self.z.fds[fd]
        if kind == "out":
            self.stdout_total += len(data)
            if self.stdio:
                self.stdout += data[: max(0, self.cap - len(self.stdout))]
            else:
                self.stdout = (self.stdout + data)[-STDOUT_TAIL:]
            if self.stdout_total > self.cap:
                self._over_limit("output")
        elif kind == "err":
            self.stderr_total += len(data)
            self.stderr = (self.stderr + data)[-STDERR_TAIL:]
            if self.stderr_total > self.cap:
                self._over_limit("output")
        else:
            self.chan_total += len(data)
            self.chan += data
            if self.chan_total > 4 * self.cap + (1 << 20):
                self._over_limit("output")
            self._frames()

    def _over_limit(self, reason):
        if self.kill_reason is None:
            self.kill_reason = reason
            self._kill()

    def _frames(self):
        if self.kill_reason == "channel":  # once forged, nothing later on the channel is trusted
            self.chan.clear()
            return
        while len(self.chan) >= 4:
            size = int.from_bytes(self.chan[:4], "big")
            if size > self.cap + (1 << 20):
                self._over_limit("output")
                self.chan.clear()
                return
            if len(self.chan) < 4 + size:
                return
            raw = bytes(self.chan[4 : 4 + size])
            del self.chan[: 4 + size]
            try:
                frame = json.loads(raw)
                valid = isinstance(frame, dict) and frame.pop("n", None) == self.job.msg["nonce"]
                # nesting needs an opening bracket per level: walk only frames that have enough
                deep = raw.count(b"[") + raw.count(b"{") > MAX_FRAME_DEPTH
                valid = (
                    valid and (not deep or depth_within(frame, MAX_FRAME_DEPTH)) and self._believable(frame)
                )
            except (ValueError, RecursionError, MemoryError):
                valid = False
            if not valid:
                self._over_limit("channel")
                self.chan.clear()
                return
            self._frame(frame)

    def _believable(self, frame):
        """False for a record only a forged frame can hold: a prelude failure for a problem without a
        prelude, or one after the harness handed control to the program (``{"ph": "run"}``). The
        nonce is in the child's memory, so the program can write valid frames; what it cannot do
        is run before its own code starts."""
        if frame.get("ph") == "run":
            self.program_started = True
            return True
        if frame.get("s") == "prelude":
            return bool(self.job.msg["spec"].get("prelude")) and not self.program_started
        return True

    def _frame(self, frame):
        now = time.monotonic()
        phase = frame.get("ph")
        self.job.mark(str(phase) if phase else ("probe" if "p" in frame else "record"))
        if self.phase == "setup":
            if phase == "ready":
                self.phase = "test" if self.stdio else "load"
                self.phase_start = now
            return  # nothing else can legitimately come before "ready"
        if phase == "loaded" and self.phase == "load":
            self.phase, self.phase_start = "test", now
        elif phase == "load" and self.phase == "load":
            self.load_failure = frame
        elif self.phase == "test" and frame.get("i") == self.current:
            if "p" in frame:
                if not self.stdio:
                    self.job.emit(
                        {
                            "op": "probe",
                            "i": self.current,
                            "p": frame.get("p"),
                            "v": frame.get("v"),
                            "big": bool(frame.get("big")),
                        }
                    )
            elif "s" in frame:
                if self.stdio:
                    self.final_stdio = frame
                else:
                    self.job.emit({"op": "test", "i": self.current, "rec": frame})
                self.current += 1
                self.phase_start = now

    def _capture_tails(self):
        job = self.job
        if not self.stdio:
            job.stdout_tail = (job.stdout_tail + bytes(self.stdout))[-STDOUT_TAIL:]
        job.stderr_tail = (job.stderr_tail + bytes(self.stderr))[-STDERR_TAIL:]

    def _end_reason(self, status):
        """Why the child stopped, from the parent's point of view."""
        if self.kill_reason is not None:
            return self.kill_reason, ""
        if status is None:
            return "exit", ""  # finished with every record in; stopped by us
        if self.oom_killed:
            return "memory", "killed by the memory cgroup"
        if os.WIFSIGNALED(status):
            sig = os.WTERMSIG(status)
            if sig == signal.SIGXCPU:
                return "cpu", "CPU time limit"
            if sig == signal.SIGXFSZ:
                return "filesize", "file size limit"
            try:
                name = signal.Signals(sig).name
            except ValueError:
                name = str(sig)
            return "signal", f"killed by {name}"
        code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else -1
        return "exit", f"exit code {code}"

    def _report(self, status, job):
        reason, detail = self._end_reason(status)
        if self.phase == "setup":
            if reason in ("aborted", "deadline"):
                return self.last
            err = bytes(self.stderr[-300:]).decode(errors="replace").strip()
            job.infra_error = f"sandbox child failed to start ({reason}: {detail}; {err})"
            return self.last
        if self.stdio:
            rec = self.final_stdio
            event = {
                "op": "test",
                "i": self.first,
                "rec": rec,
                "stdout": bytes(self.stdout).decode("utf-8", "replace"),
                "stdout_bytes": self.stdout_total,
                "stderr": bytes(self.stderr).decode("utf-8", "replace"),
            }
            clean_exit = status is None or (os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0)
            if reason != "exit" or not clean_exit:
                event["end"], event["detail"] = reason, detail
            if rec is not None and rec.get("s") == "compile":
                job.stdio_compile_error = rec
            job.emit(event)
            return self.last
        if self.phase == "load":
            if self.load_failure is not None and self.kill_reason is None:
                job.emit({"op": "load", "first": self.first, "last": self.last, "fail": self.load_failure})
            else:
                job.emit(
                    {
                        "op": "load",
                        "first": self.first,
                        "last": self.last,
                        "fail": None,
                        "end": reason,
                        "detail": detail,
                    }
                )
            return self.last
        if self.current < self.last:
            job.emit({"op": "test", "i": self.current, "rec": None, "end": reason, "detail": detail})
            if reason in ("aborted", "deadline"):
                return self.last if reason == "aborted" else self.current + 1
            return self.current + 1
        return self.last


def reap_zombies(worker):
    """Collect exited children; in minimal mode kill every child but the spare zygotes first."""
    spares = worker.spare_pids()
    for pid in sx.children_of(os.getpid()) if worker.mode == "minimal" else ():
        if pid not in spares:
            sx.kill_quietly(pid)
    for pid in sx.reap_exited():
        worker.dying.discard(pid)
        if pid in spares:  # a spare died on its own (killed from outside): forget it
            for zygote in [z for z in worker.spares if z.pid == pid]:
                zygote.close_fds()
                worker.spares.remove(zygote)


def depth_within(value, limit):
    """True if ``value`` (decoded JSON) nests at most ``limit`` lists/dicts deep; no recursion."""
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            item = item.values()
        elif not isinstance(item, list):
            continue
        if depth >= limit:
            return False
        stack.extend((x, depth + 1) for x in item if isinstance(x, (dict, list)))
    return True
