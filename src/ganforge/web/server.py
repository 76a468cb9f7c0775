"""``ganforge serve``: the studio on uvicorn, for run folders, the runs root and the shipped generators."""

from __future__ import annotations

import argparse
import atexit
import errno
import socket
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from ..argtypes import non_negative_int, positive_int
from ..errors import GanforgeError
from ..run.shipped import is_shipped_ref, shipped_names, shipped_path
from .catalog import Catalog
from .runs import RunLike, find_run_dirs
from .studio import StudioOptions

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7860
DEFAULT_RUNS_ROOT = "runs"
LOOPBACK = ("127.0.0.1", "localhost", "::1")
GRACE_S = 5  # seconds open event streams get to end when the server stops


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


def make_server(app, **config):
    """A uvicorn server that ends the studio's event streams first when asked to stop (Ctrl-C, SIGTERM):
    uvicorn waits for open responses, and an event stream never ends by itself."""
    import uvicorn

    class StudioServer(uvicorn.Server):
        def handle_exit(self, sig: int, frame) -> None:
            app.state.studio.hub.close()
            super().handle_exit(sig, frame)

    return StudioServer(uvicorn.Config(app, log_level="warning", access_log=False,
                                       timeout_graceful_shutdown=GRACE_S, **config))


def serve(runs: Catalog | Mapping[str, RunLike] | Sequence[RunLike], host: str = DEFAULT_HOST,
          port: int = DEFAULT_PORT, options: StudioOptions | None = None) -> None:
    """Serve the studio for ``runs`` until Ctrl-C."""
    from .app import create_app

    app = create_app(runs, options)
    atexit.register(app.state.studio.jobs.shutdown)  # however the server ends, its children end with it
    sock = bind_socket(host, port)
    sock.listen(2048)  # a browser opening the printed URL at once waits in the backlog rather than being refused
    print(f"ganforge studio: {len(app.state.runs)} run(s) at {url_of(sock)}  (Ctrl-C stops)", flush=True)
    make_server(app).run(sockets=[sock])


def build_catalog(refs: Sequence[str], *, runs_root: Path, scan_root: bool, checkpoint: str, device: str | None,
                  note=print) -> Catalog:
    """The runs of ``ganforge serve REF...``: each a run folder (it must load, once it has a checkpoint), a folder
    of run folders (one that cannot load is skipped with a note), or ``pretrained:NAME``; none: every shipped
    generator and the runs root."""
    catalog = Catalog(runs_root=runs_root, scan_root=scan_root or not refs, checkpoint=checkpoint, device=device,
                      note=note, pretrained=[] if refs else shipped_names())
    for ref in refs:
        if is_shipped_ref(ref):
            shipped_path(ref)  # an unknown name: one line listing the names
            catalog.add_pretrained(ref)
            continue
        dirs = find_run_dirs([ref])
        outright = dirs == [Path(ref)]
        for d in dirs:
            sr = catalog.add_folder(d)
            try:
                sr.config()
                if sr.has_generator:
                    _ = sr.run  # a checkpoint that cannot be loaded is found now, not at the first request
            except GanforgeError as e:
                if outright:
                    raise
                catalog.served.pop(sr.id, None)
                note(f"skipping {d}: {e}")
    return catalog


def add_serve_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="watch runs train, start and compare them, explore generators in a browser",
                       description="Serve a local web page: watch runs train live, start, stop and resume runs, "
                                   "compare runs, sample and interpolate. Each RUN is a run folder, a folder "
                                   "holding run folders (e.g. runs/), or pretrained:NAME; with none, the "
                                   "generators that ship with ganforge and the runs root.")
    p.add_argument("run_dirs", nargs="*", metavar="RUN")
    p.add_argument("--runs-root", help=f"where runs started from the page go, and whose runs are listed "
                                       f"(default {DEFAULT_RUNS_ROOT}/; listed when no RUN is given or when set)")
    p.add_argument("--data-root", help="a folder whose sub-folders the page offers as datasets (folder:NAME); "
                                       "mnist/ and fashion-mnist/ there are used for those datasets")
    p.add_argument("--max-runs", type=positive_int, default=1, help="runs training at once (default 1)")
    p.add_argument("--host", default=DEFAULT_HOST, help=f"address to listen on (default {DEFAULT_HOST}: this "
                                                        "machine only)")
    p.add_argument("--port", type=non_negative_int, default=DEFAULT_PORT,
                   help=f"port (default {DEFAULT_PORT}; 0 = any free port)")
    p.add_argument("--checkpoint", default="last", help="checkpoint name (default last)")
    p.add_argument("--device", help="auto, cpu, cuda (for sampling, and for the runs it starts)")
    p.set_defaults(func=cmd_serve)


def cmd_serve(args: argparse.Namespace) -> int:
    if args.port > 65535:
        raise GanforgeError(f"--port must be 0..65535, got {args.port}")
    data_root = Path(args.data_root) if args.data_root else None
    if data_root is not None and not data_root.is_dir():
        raise GanforgeError(f"--data-root {args.data_root}: no such folder")
    runs_root = Path(args.runs_root or DEFAULT_RUNS_ROOT)
    if runs_root.exists() and not runs_root.is_dir():
        raise GanforgeError(f"--runs-root {runs_root}: not a folder")
    catalog = build_catalog(args.run_dirs, runs_root=runs_root, scan_root=args.runs_root is not None,
                            checkpoint=args.checkpoint, device=args.device,
                            note=lambda line: print(f"ganforge: {line}", file=sys.stderr))
    options = StudioOptions(runs_root=runs_root.resolve(), data_root=data_root.resolve() if data_root else None,
                            max_runs=args.max_runs, device=args.device,
                            allowed_hosts=LOOPBACK if args.host in LOOPBACK else None)
    try:
        serve(catalog, args.host, args.port, options)
    except KeyboardInterrupt:
        pass
    return 0
