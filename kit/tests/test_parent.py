"""kit.parent: a supervised child ends with its supervisor — real processes, a real SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from kit.parent import ENV

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="PR_SET_PDEATHSIG is Linux's")

CHILD = (
    "from kit.parent import die_with_parent; die_with_parent(); import os, sys, time; "
    "print(os.environ.get({env!r}, 'gone'), flush=True); time.sleep(60)"
)


def test_a_child_whose_supervisor_is_already_gone_ends_at_once() -> None:
    # A parent pid that is not the child's parent: the supervisor died before the child asked.
    child = subprocess.run(
        [sys.executable, "-c", CHILD.format(env=ENV)], env={**os.environ, ENV: "1"}, capture_output=True, timeout=30
    )
    assert child.returncode == -signal.SIGTERM


def test_without_a_supervisor_nothing_changes() -> None:
    script = CHILD.replace("time.sleep(60)", "sys.exit(3)").format(env=ENV)
    env = {k: v for k, v in os.environ.items() if k != ENV}
    child = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, timeout=30, text=True)
    assert child.returncode == 3
    assert child.stdout.strip() == "gone"


def test_the_child_gets_sigterm_when_its_supervisor_is_killed() -> None:
    # A supervisor (a Python process) starts the child with its own pid, prints the child's pid, and waits; it is
    # then SIGKILLed, which runs no cleanup of its own: only the kernel can tell the child.
    supervisor = textwrap.dedent(
        f"""
        import os, subprocess, sys
        child = subprocess.Popen([sys.executable, "-c", {CHILD.format(env=ENV)!r}],
                                 env={{**os.environ, {ENV!r}: str(os.getpid())}}, stdout=subprocess.PIPE, text=True)
        assert child.stdout.readline().strip() == "gone"  # taken out of the environment once read
        print(child.pid, flush=True)
        child.wait()
        """
    )
    process = subprocess.Popen([sys.executable, "-c", supervisor], stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    child_pid = int(process.stdout.readline())
    process.kill()
    process.wait(timeout=30)
    # The orphan was re-parented and told to stop. Not our child, so nothing to wait on: its /proc entry is
    # watched until it is gone (or a zombie), for at most 10 s.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{child_pid}/stat") as stat:
                if stat.read().split(") ")[1].startswith("Z"):
                    return
        except FileNotFoundError:
            return
        time.sleep(0.01)
    os.kill(child_pid, signal.SIGKILL)
    pytest.fail("the child outlived its supervisor")
