"""fmtest — helpers for the fake server's own tests: start server.py as a
child process, talk to it with aiohttp's client."""

import asyncio
import json
import os
import subprocess
import sys
import time
import unittest

import aiohttp

HERE = os.path.dirname(os.path.abspath(__file__))
SERVER = os.path.join(HERE, "server.py")
PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable


class FakeProc:
    """server.py on 127.0.0.1, a free port. args: extra CLI arguments."""

    def __init__(self, *args):
        self.proc = subprocess.Popen(
            [PYTHON, "-B", SERVER, "--host", "127.0.0.1", "--port", "0"] + list(args),
            stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
        line = self.proc.stdout.readline().decode()
        if not line.startswith("PORT "):
            self.proc.kill()
            raise RuntimeError("fake server did not start: %r" % line)
        self.port = int(line.split()[1])
        self.base = "http://127.0.0.1:%d" % self.port
        self.ws_url = "ws://127.0.0.1:%d/api/v4/websocket" % self.port

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()
        return self.proc.returncode


class FakeCase(unittest.IsolatedAsyncioTestCase):
    """One server per test class (ARGS); reset before every test."""

    ARGS = ()
    fake = None

    @classmethod
    def setUpClass(cls):
        cls.fake = FakeProc(*cls.ARGS)
        cls.addClassCleanup(cls.fake.stop)

    async def asyncSetUp(self):
        self.http = aiohttp.ClientSession()
        self.sockets = []
        st, seed = await self.ctl("GET", "/_fake/seed")
        assert st == 200
        await self.ctl("POST", "/_fake/reset")
        self.seed = seed
        self.bot_id = seed["bot_id"]
        self.alice_id = seed["alice_id"]
        self.bob_id = seed["bob_id"]
        self.carol_id = seed["carol_id"]
        self.town = seed["town_id"]
        self.other = seed["other_id"]

    async def asyncTearDown(self):
        for ws in self.sockets:
            await ws.close()
        await self.http.close()

    # -- HTTP
    async def ctl(self, method, path, body=None):
        async with self.http.request(method, self.fake.base + path,
                                     json=body) as r:
            return r.status, json.loads(await r.text())

    async def api(self, method, path, token=None, body=None, headers=None,
                  raw=None):
        """-> (status, headers, parsed JSON or text)"""
        h = dict(headers or {})
        if token:
            h["Authorization"] = "Bearer " + token
        data = raw
        if body is not None:
            data = json.dumps(body)
            h.setdefault("Content-Type", "application/json")
        async with self.http.request(method, self.fake.base + path, data=data,
                                     headers=h) as r:
            text = await r.text()
            try:
                parsed = json.loads(text)
            except ValueError:
                parsed = text
            return r.status, r.headers, parsed

    async def post_as(self, user, message, channel=None, **extra):
        body = {"user": user, "channel_id": channel or self.town,
                "message": message}
        body.update(extra)
        st, p = await self.ctl("POST", "/_fake/post", body)
        self.assertEqual(st, 201, p)
        return p

    # -- WebSocket
    async def ws(self, token=None, query="", autoping=True, headers=None,
                 hello=True):
        h = dict(headers or {})
        if token:
            h["Authorization"] = "Bearer " + token
        url = self.fake.ws_url + ("?" + query if query else "")
        ws = await self.http.ws_connect(url, headers=h, autoping=autoping,
                                        autoclose=False, max_msg_size=0)
        self.sockets.append(ws)
        if token and hello:
            m = await self.recv(ws)
            self.assertEqual(m["event"], "hello", m)
            ws.hello = m
        return ws

    @staticmethod
    async def _receive(ws, deadline):
        """One frame, with an overall deadline (aiohttp's own receive
        timeout restarts on every hidden ping)."""
        left = max(0.01, deadline - time.monotonic())
        return await asyncio.wait_for(ws.receive(), left)

    async def recv_raw(self, ws, timeout=3.0):
        deadline = time.monotonic() + timeout
        while True:
            msg = await self._receive(ws, deadline)
            if msg.type == aiohttp.WSMsgType.TEXT:
                return msg.data
            if msg.type in (aiohttp.WSMsgType.PING, aiohttp.WSMsgType.PONG):
                continue
            raise AssertionError("expected a text frame, got %r" % (msg,))

    async def recv(self, ws, timeout=3.0):
        return json.loads(await self.recv_raw(ws, timeout))

    async def recv_event(self, ws, name, timeout=3.0):
        deadline = time.monotonic() + timeout
        while True:
            m = await self.recv(ws, max(0.05, deadline - time.monotonic()))
            if m.get("event") == name:
                return m

    async def silent(self, ws, wait=0.3):
        """Asserts that nothing but control frames arrives for `wait` s."""
        deadline = time.monotonic() + wait
        try:
            while True:
                msg = await self._receive(ws, deadline)
                if msg.type in (aiohttp.WSMsgType.PING, aiohttp.WSMsgType.PONG):
                    continue
                raise AssertionError("unexpected frame %r" % (msg,))
        except asyncio.TimeoutError:
            pass

    async def next_frame(self, ws, timeout=3.0):
        """The next frame that is not a ping/pong."""
        deadline = time.monotonic() + timeout
        while True:
            msg = await self._receive(ws, deadline)
            if msg.type not in (aiohttp.WSMsgType.PING, aiohttp.WSMsgType.PONG):
                return msg

    async def closed_abruptly(self, ws, timeout=3.0):
        """The server dropped the TCP connection without a close frame."""
        msg = await self.next_frame(ws, timeout)
        self.assertIn(msg.type, (aiohttp.WSMsgType.CLOSED,
                                 aiohttp.WSMsgType.ERROR), msg)

    async def wait_for(self, pred, timeout=3.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if await pred():
                return True
            await asyncio.sleep(0.02)
        return False
