"""A fork server for the checks: one process imports torch once and forks a child per check.

Starting a fresh interpreter per check would spend about a second importing torch each time; a
fork takes milliseconds. The server is this file run as a script (``python -P zygote.py``, so that
neither its folder nor the current directory joins ``sys.path``); the grader talks to it through
:class:`Zygote`: a request is one JSON line on its stdin, and it answers with the child's pid at
once and with its exit code when it ends. The server imports nothing of the student's; each child
does (see :mod:`grading.child`). When the grader goes away, the server kills the children left.
"""
from __future__ import annotations

import contextlib
import itertools
import json
import os
import select
import signal
import subprocess
import sys
import threading
from pathlib import Path

POLL_SECONDS = 0.02     # how often the server looks for children that ended
STARTUP_SECONDS = 120   # the first answer waits for the server's import of torch
ZYGOTE_DIED = -999      # exit code reported when the server itself went away


class Child:
    """A forked check as the grader sees it: its pid, and its exit code once it has ended."""

    def __init__(self) -> None:
        self.pid = 0
        self.exitcode: int | None = None
        self.started = threading.Event()
        self.finished = threading.Event()

    def wait(self, timeout: float | None = None) -> bool:
        return self.finished.wait(timeout)


class Zygote:
    """The grader's handle on a running server (one per grader process, shared by its threads)."""

    def __init__(self, env: dict) -> None:
        self.process = subprocess.Popen([sys.executable, "-P", __file__], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, env=env)
        self._lock = threading.Lock()
        self._children: dict[int, Child] = {}
        self._ids = itertools.count()
        threading.Thread(target=self._read, daemon=True).start()

    def alive(self) -> bool:
        return self.process.poll() is None

    def fork(self, *args) -> Child:
        """Start ``grading.child.child_main(*args)`` in a forked child."""
        child = Child()
        with self._lock:
            number = next(self._ids)
            self._children[number] = child
            self.process.stdin.write((json.dumps({"id": number, "args": args}) + "\n").encode())
            self.process.stdin.flush()
        if not child.started.wait(STARTUP_SECONDS) or child.exitcode == ZYGOTE_DIED:
            raise RuntimeError("the grading fork server did not start a check (see the messages above)")
        return child

    def _read(self) -> None:
        for line in self.process.stdout:
            message = json.loads(line)
            with self._lock:
                child = self._children[message["id"]]
                if "pid" in message:
                    child.pid = message["pid"]
                    child.started.set()
                    continue
                del self._children[message["id"]]
            child.exitcode = message["exitcode"]
            child.finished.set()
        with self._lock:  # end of output: the server is gone, and so are its children
            for child in self._children.values():
                child.exitcode = ZYGOTE_DIED
                child.started.set()
                child.finished.set()


def _run_child(args: list, protocol: int) -> None:
    """In the forked child: never returns, whatever the check does."""
    code = 70
    try:
        os.close(protocol)  # the student's code must not write into the server's answers
        os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
        from grading.child import child_main
        child_main(*args)
        code = 0
    finally:
        os._exit(code)


def serve() -> None:
    """Fork a child per request line on stdin; answer with its pid, later with its exit code."""
    protocol = os.dup(1)
    os.dup2(2, 1)  # whatever else prints (torch warnings) must not mix with the answers
    children, pending = {}, b""

    def answer(**message) -> None:
        os.write(protocol, (json.dumps(message) + "\n").encode())

    while True:
        if select.select([0], [], [], POLL_SECONDS)[0]:
            chunk = os.read(0, 65536)
            if not chunk:
                break  # the grader has gone
            *lines, pending = (pending + chunk).split(b"\n")
            for line in lines:
                request = json.loads(line)
                pid = os.fork()
                if pid == 0:
                    _run_child(request["args"], protocol)
                children[pid] = request["id"]
                answer(id=request["id"], pid=pid)
        for pid in list(children):
            ended, status = os.waitpid(pid, os.WNOHANG)
            if ended:
                answer(id=children.pop(pid), exitcode=os.waitstatus_to_exitcode(status))
    for pid in children:  # the grader is gone: so are the checks it was waiting for
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for grading.* (-P left it out)
    import grading.child  # noqa: F401 -- torch and the checks, imported once for every child
    if os.environ.get("GRADING_PRELOAD_DYNAMO", "1") == "1":  # off under Gradescope: 70 MB in every process
        import torch._dynamo  # noqa: F401 -- the first optimizer imports it, 1.5 s in every training check
    serve()
