#!/usr/bin/python3
"""server.py — a faithful fake Mattermost server for smrelay's tests.

Usage:
  /usr/bin/python3 server.py --host 127.0.0.1 --port 0
        [--ping-interval S] [--pong-wait S] [--auth-timeout S]
        [--reap-after S] [--integration-timeout S]
        [--tls-cert FILE --tls-key FILE]

Prints "PORT <n>" on stdout once listening (nothing else is written to
stdout), logs problems to stderr, exits 0 on SIGTERM/SIGINT.

The behaviour follows /work/shared/reference/mattermost.md ("Implications
for a faithful fake server"): REST v4 posts/users/channels/reactions/
actions, AppError bodies and headers, the GCRA rate limiter (off until a
test enables it), and the WebSocket API with hello/seq, keepalive, the
8192-byte frame cap and resume. Test control lives under /_fake/ (see
fm_control.py and README.md). Seed data and ids: fm_model.py.

Requires Debian's python3-aiohttp (3.8); no other dependency.
"""

import sys

sys.dont_write_bytecode = True

import argparse        # noqa: E402
import asyncio         # noqa: E402
import logging         # noqa: E402
import os              # noqa: E402
import signal          # noqa: E402
import ssl             # noqa: E402

from aiohttp import web  # noqa: E402

import fm_control      # noqa: E402
from fm_app import App  # noqa: E402
from fm_rest import RateLimiter, api_dispatch, api_middleware  # noqa: E402
from fm_ws import Hub  # noqa: E402


class FakeServer:
    def __init__(self, args):
        self.ping_interval = args.ping_interval
        self.pong_wait = args.pong_wait
        self.auth_timeout = args.auth_timeout
        self.reap_after = args.reap_after
        self.hub = Hub(self)
        self.app = App(self.hub, args.integration_timeout)
        self.ratelimit = RateLimiter()
        self.in_flight = 0
        self._reset_controls()

    def _reset_controls(self):
        self.failures = []
        self.delay_ms = 0.0
        self.delay_rx = None
        self.stats = {"requests": {}, "status_429": 0, "injected": 0,
                      "ws_connects": 0, "ws_resumes": 0,
                      "ws_resume_outcomes": {"replay": 0, "lost": 0, "lossless": 0},
                      "ws_pong_timeouts": 0, "ws_auth_timeouts": 0,
                      "ws_too_big": 0, "max_concurrent": 0,
                      "last_headers": {}}

    def reset(self):
        """Back to the seed state: data, WebSocket connections, rate limit,
        injected faults, delay and stats."""
        self.hub.forget_all()
        self.app.reset()
        self.ratelimit.configure(False, 10, 100)
        self._reset_controls()

    def take_failure(self, method, path):
        for rule in self.failures:
            if rule["method"] not in ("", "*", method.upper()):
                continue
            if not rule["rx"].search(path):
                continue
            if rule["count"] > 0:
                rule["count"] -= 1
                if rule["count"] == 0:
                    self.failures.remove(rule)
            return rule
        return None

    def delay_for(self, path):
        if self.delay_ms <= 0:
            return 0.0
        if self.delay_rx is not None and not self.delay_rx.search(path):
            return 0.0
        return self.delay_ms / 1000.0


async def not_found(request):
    return web.Response(status=404, text="404 page not found\n",
                        content_type="text/plain", charset="utf-8")


async def reaper(server):
    while True:
        await asyncio.sleep(max(1.0, server.reap_after / 2))
        server.hub.reap(server.reap_after)


async def run(args):
    server = FakeServer(args)
    webapp = web.Application(middlewares=[api_middleware],
                             client_max_size=64 * 1024 * 1024)
    webapp["fake"] = server
    fm_control.add_routes(webapp.router)
    webapp.router.add_route("*", "/api/v4", api_dispatch)
    webapp.router.add_route("*", "/api/v4/{tail:.*}", api_dispatch)
    webapp.router.add_route("*", "/{tail:.*}", not_found)
    runner = web.AppRunner(webapp, access_log=None, handle_signals=False)
    await runner.setup()
    ssl_ctx = None
    if args.tls_cert:
        ssl_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ssl_ctx.load_cert_chain(args.tls_cert, args.tls_key)
    site = web.TCPSite(runner, args.host, args.port, ssl_context=ssl_ctx,
                       shutdown_timeout=1.0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    await server.app.start()
    sys.stdout.write("PORT %d\n" % port)
    sys.stdout.flush()
    # Nothing else goes to stdout: the harness may close its end of the pipe.
    nul = os.open(os.devnull, os.O_WRONLY)
    os.dup2(nul, 1)
    os.close(nul)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    reap = loop.create_task(reaper(server))
    await stop.wait()
    reap.cancel()
    server.hub.forget_all()
    try:
        await asyncio.wait_for(runner.cleanup(), 3)
    except Exception:
        pass
    await server.app.close()


def main():
    p = argparse.ArgumentParser(description="fake Mattermost server for tests")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--ping-interval", type=float, default=60.0,
                   help="seconds between WebSocket Ping frames (60)")
    p.add_argument("--pong-wait", type=float, default=100.0,
                   help="read deadline, extended by each Pong (100)")
    p.add_argument("--auth-timeout", type=float, default=5.0,
                   help="close unauthenticated WebSockets after (5)")
    p.add_argument("--reap-after", type=float, default=300.0,
                   help="forget disconnected connection ids after (300)")
    p.add_argument("--integration-timeout", type=float, default=30.0,
                   help="button integration request timeout (30)")
    p.add_argument("--tls-cert")
    p.add_argument("--tls-key")
    args = p.parse_args()
    if bool(args.tls_cert) != bool(args.tls_key):
        p.error("--tls-cert and --tls-key go together")
    if args.ping_interval <= 0 or args.pong_wait <= 0 or args.auth_timeout <= 0:
        p.error("intervals must be positive")
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="fake_mattermost: %(levelname)s %(name)s: %(message)s")
    # Abrupt closes are part of the job; aiohttp reports them at ERROR level.
    logging.getLogger("aiohttp.server").setLevel(logging.CRITICAL)
    asyncio.run(run(args))
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
