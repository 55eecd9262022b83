"""A TCP front for the local Docker Engine socket: ``python engine_proxy.py [HOST:]PORT``.

The tests use it to reach the real engine as a remote one (``DOCKER_HOST=tcp://...``)
and to make the engine go away in the middle of a run (by stopping the proxy).
Prints ``ready <port>`` once it listens; stops on SIGTERM.
"""

from __future__ import annotations

import os
import selectors
import signal
import socket
import sys
import threading

ENGINE = os.environ.get("ENGINE_SOCKET", "/var/run/docker.sock")


def pipe(client: socket.socket) -> None:
    engine = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        engine.connect(ENGINE)
        selector = selectors.DefaultSelector()
        selector.register(client, selectors.EVENT_READ, engine)
        selector.register(engine, selectors.EVENT_READ, client)
        while True:
            for key, _ in selector.select():
                source = key.fileobj
                assert isinstance(source, socket.socket)  # the two sockets registered above
                data = source.recv(65536)
                if not data:
                    return
                key.data.sendall(data)
    except OSError:
        return
    finally:
        client.close()
        engine.close()


def main() -> None:
    host, _, port = sys.argv[1].rpartition(":")
    server = socket.create_server((host or "127.0.0.1", int(port)), reuse_port=False)
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    print(f"ready {server.getsockname()[1]}", flush=True)
    while True:
        client, _ = server.accept()
        threading.Thread(target=pipe, args=(client,), daemon=True).start()


if __name__ == "__main__":
    main()
