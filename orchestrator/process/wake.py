"""Waking the daemon early: runners and CLI commands tell it there is news.

Two channels. The fast one: a datagram to a socket the daemon listens on (Linux's abstract
namespace, named after the state directory, so no path length limit and nothing to clean up
after a kill -9); it arrives in well under a millisecond. The daemon ignores datagrams from
other users. The portable one: a byte appended to state/wake, which the daemon watches with
file events (tens of milliseconds) and a stat poll. poke() uses the socket when a daemon
listens there and falls back to the file otherwise. Waking is only ever an optimisation: the
interval tick is the safety net.
"""

from __future__ import annotations

import hashlib
import os
import socket
import struct
import sys
import threading
from pathlib import Path

from orchestrator.base import log

_log = log.get("orchestrator.wake")
WAKE_FILE = "wake"
STOP_CHECK_SECONDS = 1.0


def wake_path(state_dir: Path) -> Path:
    return state_dir / WAKE_FILE


def wake_address(state_dir: Path) -> str | None:
    """The abstract socket name for this state directory (None where there is no abstract namespace)."""
    if not sys.platform.startswith("linux"):
        return None
    digest = hashlib.sha256(str(Path(state_dir).resolve()).encode()).hexdigest()[:32]
    return f"\0orchestrator-wake-{digest}"


def poke(state_dir: Path) -> None:
    """Tell a running daemon there is news. Harmless when no daemon runs."""
    if _send(state_dir):
        return
    path = wake_path(state_dir)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            os.write(fd, b".")
        finally:
            os.close(fd)
        if path.stat().st_size > 4096:
            os.truncate(path, 0)
    except OSError as exc:  # waking is an optimisation; the interval tick is the safety net
        _log.debug("wake_file_failed", error=str(exc))


def _send(state_dir: Path) -> bool:
    address = wake_address(state_dir)
    if address is None:
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.setblocking(False)
            sock.sendto(b".", address)
        return True
    except BlockingIOError:
        return True  # the daemon's queue is full of wakes already: it will tick
    except OSError:
        return False  # nobody listens (no daemon, or an old one): use the file


class WakeListener:
    """The daemon's end: calls on_wake() for each datagram from this user. Closed by close()."""

    def __init__(self, state_dir: Path, on_wake, stop_check: float = STOP_CHECK_SECONDS):
        self.on_wake = on_wake
        self.stop_check = stop_check
        self.sock: socket.socket | None = None
        self._stop = threading.Event()
        self.address = address = wake_address(state_dir)
        if address is None:
            return
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
            sock.bind(address)
        except OSError as exc:  # another daemon's (impossible under the daemon lock) or no support
            sock.close()
            _log.warning("wake_socket_unavailable", error=str(exc), fallback="file events")
            return
        sock.settimeout(stop_check)
        self.sock = sock
        self._thread = threading.Thread(target=self._serve, name="wake-socket", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        uid = os.getuid()
        creds_size = socket.CMSG_SPACE(struct.calcsize("3i"))
        sock = self.sock
        assert sock is not None, "started only once the socket is bound"
        while not self._stop.is_set():
            try:
                _data, ancillary, _flags, _addr = sock.recvmsg(16, creds_size)
            except TimeoutError:
                continue
            except OSError:
                return  # closed
            if self._stop.is_set():
                return
            sender = next((struct.unpack("3i", data[:12])[1] for level, kind, data in ancillary
                           if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS), None)
            if sender == uid:
                self.on_wake()

    def close(self) -> None:
        """Stop listening; once this returns, pokes go to the file again."""
        self._stop.set()
        if self.sock is None:
            return
        # One more datagram wakes the receiving thread now, and it sees the stop. (shutdown() does
        # not: on a datagram socket poll says "hang up" but recvmsg has nothing, and Python retries
        # it in a busy loop until the timeout, a second of one core at every drain's end.)
        assert self.address is not None, "a socket is bound only where there is an address"
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
                sock.setblocking(False)
                sock.sendto(b".", self.address)
        except OSError as exc:  # a full queue wakes it as well; otherwise it sees the stop within the timeout
            _log.debug("wake_socket_stop", error=str(exc))
        self._thread.join(self.stop_check * 2)
        self.sock.close()
        self.sock = None
