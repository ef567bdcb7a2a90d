"""A TCP forwarder on loopback in front of a real PostgreSQL, that fails the
way a powered-off primary or a server stuck on its disk does.

    fwd = Forwarder(target_port)          # forwards 127.0.0.1:fwd.port -> target
    fwd.silent()   # keeps every connection and accepts new ones, forwards
                   # nothing, closes nothing: no FIN, no RST, no byte
    fwd.down()     # a refused host: every connection closed, new ones too
    fwd.forward()  # back to normal (silent connections resume)
    fwd.close()

Runs in the test's own process (threads); every socket has a bounded
select, so close() ends it for sure.
"""

from __future__ import annotations

import selectors
import socket
import threading

FORWARD, SILENT, DOWN = "forward", "silent", "down"
TICK = 0.05


class Forwarder:
    def __init__(self, target_port: int, target_host: str = "127.0.0.1"):
        self.target = (target_host, target_port)
        self.mode = FORWARD
        self.closed = False
        self.lock = threading.Lock()
        self.sockets: list[socket.socket] = []
        self.clients: set[socket.socket] = set()
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.listener.settimeout(TICK)
        self.port = self.listener.getsockname()[1]
        self.threads = [threading.Thread(target=self._accept, daemon=True)]
        self.threads[0].start()

    # --- control ----------------------------------------------------------

    def forward(self) -> None:
        self.mode = FORWARD

    def silent(self) -> None:
        self.mode = SILENT

    def down(self) -> None:
        self.mode = DOWN
        with self.lock:
            for s in self.sockets:
                _close(s)
            self.sockets.clear()
            self.clients.clear()

    def close(self) -> None:
        self.closed = True
        self.down()
        for t in self.threads:
            t.join(timeout=5)
        self.listener.close()

    def connections(self) -> int:
        """Client connections open through the forwarder."""
        with self.lock:
            return sum(1 for s in self.clients if s.fileno() != -1)

    # --- the work ---------------------------------------------------------

    def _accept(self) -> None:
        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except (socket.timeout, OSError):
                continue
            if self.mode == DOWN:
                _close(client)
                continue
            t = threading.Thread(target=self._pump, args=(client,), daemon=True)
            self.threads.append(t)
            t.start()

    def _pump(self, client: socket.socket) -> None:
        upstream = None
        with self.lock:
            self.sockets.append(client)
            self.clients.add(client)
        try:
            # A connection accepted while silent waits, as a server that
            # never answers: nothing is read, nothing sent, nothing closed.
            while self.mode == SILENT and not self.closed:
                threading.Event().wait(TICK)
            if self.mode != FORWARD or self.closed:
                return
            upstream = socket.create_connection(self.target, timeout=5)
            with self.lock:
                self.sockets.append(upstream)
            sel = selectors.DefaultSelector()
            sel.register(client, selectors.EVENT_READ, upstream)
            sel.register(upstream, selectors.EVENT_READ, client)
            while not self.closed and self.mode != DOWN:
                if self.mode == SILENT:
                    threading.Event().wait(TICK)
                    continue
                for key, _ in sel.select(TICK):
                    data = key.fileobj.recv(65536)
                    if not data:
                        return
                    key.data.sendall(data)
        except OSError:
            return
        finally:
            for s in (client, upstream):
                if s is not None:
                    _close(s)
                    with self.lock:
                        if s in self.sockets:
                            self.sockets.remove(s)
                        self.clients.discard(s)


def _close(s: socket.socket) -> None:
    try:
        s.close()
    except OSError:
        pass
