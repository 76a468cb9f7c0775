"""``ganforge serve``: load run folders and serve the studio on uvicorn."""

from __future__ import annotations

import argparse
import errno
import socket
import sys
from collections.abc import Mapping, Sequence

from ..argtypes import non_negative_int
from ..errors import GanforgeError
from .runs import RunLike, load_runs

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7860


def bind_socket(host: str, port: int) -> socket.socket:
    """A bound TCP socket, so a port in use is a clear error before uvicorn starts (port 0: any free one)."""
    try:
        family, kind, proto, _, addr = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as e:
        raise GanforgeError(f"cannot serve on host '{host}' ({e.strerror}); give an address like 127.0.0.1") from None
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(addr)
    except OSError as e:
        sock.close()
        if e.errno == errno.EADDRINUSE:
            raise GanforgeError(f"port {port} on {host} is in use; pick another with --port (0 = any free port)") \
                from None
        raise GanforgeError(f"cannot listen on {host}:{port} ({e.strerror})") from None
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


def serve(runs: Mapping[str, RunLike] | Sequence[RunLike], host: str = DEFAULT_HOST, port: int = DEFAULT_PORT) -> None:
    """Serve the studio for ``runs`` until Ctrl-C."""
    import uvicorn

    from .app import create_app

    app = create_app(runs)
    sock = bind_socket(host, port)
    print(f"ganforge studio: {len(app.state.runs)} run(s) at {url_of(sock)}  (Ctrl-C stops)", flush=True)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    server.run(sockets=[sock])


def add_serve_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="explore trained generators in a web browser",
                       description="Serve a local web page for sampling, picking seeds and classes, and "
                                   "interpolating between seeds. Each RUN_DIR is a run folder, or a folder "
                                   "holding run folders (e.g. runs/).")
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR")
    p.add_argument("--host", default=DEFAULT_HOST, help=f"address to listen on (default {DEFAULT_HOST}: this "
                                                        "machine only)")
    p.add_argument("--port", type=non_negative_int, default=DEFAULT_PORT,
                   help=f"port (default {DEFAULT_PORT}; 0 = any free port)")
    p.add_argument("--checkpoint", default="last", help="checkpoint name (default last)")
    p.add_argument("--device", help="auto, cpu, cuda")
    p.set_defaults(func=cmd_serve)


def cmd_serve(args: argparse.Namespace) -> int:
    if args.port > 65535:
        raise GanforgeError(f"--port must be 0..65535, got {args.port}")
    runs = load_runs(args.run_dirs, checkpoint=args.checkpoint, device=args.device,
                     note=lambda line: print(f"ganforge: {line}", file=sys.stderr))
    try:
        serve(runs, args.host, args.port)
    except KeyboardInterrupt:
        pass
    return 0
