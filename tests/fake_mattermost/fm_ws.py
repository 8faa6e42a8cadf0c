"""fm_ws — the WebSocket side: hub, per-connection state (WebConn) and the
GET /api/v4/websocket handler, modelled on Mattermost's
app/platform/web_hub.go, web_conn.go, websocket_router.go and
api4/websocket.go (reference §1).

What is reproduced:
- auth by token on the upgrade (cookie / Authorization header; a valid
  ?access_token= is refused with 401), or by an authentication_challenge
  action; unauthenticated connections are closed after auth_timeout;
- hello (seq 0) on fresh registration; events carry seq 0,1,2,...;
  replies carry seq_reply and no seq;
- Ping control frames every ping_interval; the read deadline (pong_wait) is
  extended only by Pong frames; client Pings are answered;
- 8192-byte inbound message cap (close 1009);
- resume with connection_id + sequence_number: the send queue (256) and the
  dead queue (128, events already written) survive a disconnect; replay,
  "lost" (new connection_id + hello) and lossless paths as in writePump;
  a full send queue drops the connection from the hub;
- delivery filter of WebConn.ShouldSendEvent (user / channel membership).
Abrupt closes (gorilla's ws.Close()) are transport aborts: no close frame.
"""

import asyncio
import json
import re
import socket
import time
from collections import deque

from aiohttp import WSMsgType, web

from fm_app import Event, broadcast_to
from fm_util import (SERVER_VERSION, VERSION_ID, AppError, gojson,
                     is_valid_id, new_id, now_ms)

DEAD_QUEUE_SIZE = 128
SEND_QUEUE_SIZE = 256
MAX_MESSAGE = 8192
HOSTNAME = socket.gethostname()


class Reply:
    """model.WebSocketResponse."""

    __slots__ = ("status", "seq_reply", "data", "error")

    def __init__(self, status, seq_reply, data=None, error=None):
        self.status = status
        self.seq_reply = seq_reply
        self.data = data
        self.error = error


def encode_event(ev, seq):
    data = gojson(ev.data, sort_keys=True)
    bc = gojson(ev.broadcast)
    if ev.precomputed:
        return '{"event": %s, "data": %s, "broadcast": %s, "seq": %d}' % (
            gojson(ev.name), data, bc, seq)
    return '{"event":%s,"data":%s,"broadcast":%s,"seq":%d}\n' % (
        gojson(ev.name), data, bc, seq)


def encode_reply(r):
    d = {"status": r.status}
    if r.seq_reply:
        d["seq_reply"] = r.seq_reply
    if r.data:
        d["data"] = dict(sorted(r.data.items()))
    if r.error:
        d["error"] = r.error
    return gojson(d) + "\n"


def ws_error(seq, status, err_id):
    e = AppError(status, err_id).to_dict()
    return Reply("FAIL", seq, error=e)


class SendQueue:
    """The buffered `send` channel of a WebConn (kept across resumes)."""

    def __init__(self):
        self.items = deque()
        self.wake = asyncio.Event()
        self.closed = False

    def put(self, item):
        self.items.append(item)
        self.wake.set()

    def close(self):
        self.closed = True
        self.wake.set()


class Hub:
    def __init__(self, server):
        self.server = server
        self.conns = set()          # registered WebConns, active or not
        self.live = set()           # every WebConn with an open socket

    # -- index
    def register(self, wc):
        wc.active = True
        self.conns.add(wc)
        if wc.token and wc.reuse == 0:
            wc.queue.put(hello_event(wc))

    def unregister(self, wc):
        wc.active = False

    def check_conn(self, user_id, conn_id):
        """CheckConn: removes and returns an inactive connection."""
        if not user_id:
            return None
        for wc in list(self.conns):
            if wc.user_id == user_id and wc.conn_id == conn_id and not wc.active:
                self.conns.discard(wc)
                return wc
        return None

    def close_and_remove(self, wc):
        wc.queue.close()
        self.conns.discard(wc)

    def reap(self, older_than):
        now = time.monotonic()
        for wc in list(self.conns):
            if not wc.active and now - wc.last_activity > older_than:
                self.conns.discard(wc)

    def touch(self, user_id, token):
        """UpdateWebConnUserActivity from REST traffic."""
        now = time.monotonic()
        for wc in self.conns:
            if wc.active and wc.user_id == user_id and wc.token == token:
                wc.last_activity = now

    # -- sending
    def _enqueue(self, wc, item):
        if wc.queue.closed:
            return
        if len(wc.queue.items) >= SEND_QUEUE_SIZE:
            self.close_and_remove(wc)
            return
        wc.queue.put(item)

    def send_message(self, wc, msg):
        if wc in self.conns:
            self._enqueue(wc, msg)

    def broadcast(self, ev):
        for wc in list(self.conns):
            if wc.should_send(ev):
                self._enqueue(wc, run_hooks(ev, wc))

    # -- test control
    def drop(self, user_id=None):
        """Abruptly closes live sockets (of one user), leaving their
        connections resumable. Returns how many."""
        n = 0
        for wc in list(self.live):
            if user_id is None or wc.user_id == user_id:
                wc.kill()
                self.unregister(wc)
                n += 1
        return n

    def forget_all(self):
        """A server restart: every socket closed, every connection id
        forgotten."""
        n = len(self.conns)
        for wc in list(self.live):
            wc.kill()
            self.unregister(wc)
        for wc in list(self.conns):
            wc.queue.close()
        self.conns.clear()
        return n

    def describe(self):
        out = []
        for wc in self.conns | self.live:
            out.append({"user_id": wc.user_id, "connection_id": wc.conn_id,
                        "active": wc.active, "registered": wc in self.conns,
                        "live": wc in self.live, "sequence": wc.sequence,
                        "queued": len(wc.queue.items),
                        "reuse_count": wc.reuse})
        return out


def hello_event(wc):
    return Event("hello", {"connection_id": wc.conn_id,
                           "server_hostname": HOSTNAME,
                           "server_version": VERSION_ID},
                 broadcast_to(user_id=wc.user_id), precomputed=False)


def run_hooks(ev, wc):
    """Broadcast hooks: per-recipient mentions / should_ack on posted."""
    if not ev.hook or ev.hook[0] != "posted":
        return ev
    _, mentioned, is_dm = ev.hook
    data = dict(ev.data)
    if wc.user_id in mentioned:
        data["mentions"] = gojson([wc.user_id])
    if wc.posted_ack and (is_dm or wc.user_id in mentioned):
        data["should_ack"] = True
    return Event(ev.name, data, ev.broadcast, ev.precomputed)


class WebConn:
    def __init__(self, server, ws, request, user_id, token, posted_ack):
        self.server = server
        self.hub = server.hub
        self.ws = ws
        self.transport = request.transport
        self.user_id = user_id or ""
        self.token = token or ""
        self.conn_id = ""
        self.queue = SendQueue()
        self.dead = [None] * DEAD_QUEUE_SIZE
        self.dead_ptr = 0
        self.sequence = 0
        self.reuse = 0
        self.active = True
        self.posted_ack = posted_ack
        self.last_activity = time.monotonic()
        self.ended = False
        self.writer = None
        self.read_deadline = asyncio.get_running_loop().time() + server.pong_wait

    # -- delivery filter (ShouldSendEvent)
    def should_send(self, ev):
        if not self.token:
            return False
        bc = ev.broadcast
        if bc.get("connection_id"):
            return self.conn_id == bc["connection_id"]
        if bc.get("omit_connection_id") and self.conn_id == bc["omit_connection_id"]:
            return False
        if bc.get("user_id"):
            return self.user_id == bc["user_id"]
        if bc.get("omit_users") and self.user_id in bc["omit_users"]:
            return False
        if bc.get("channel_id"):
            return self.server.app.is_member(bc["channel_id"], self.user_id)
        if bc.get("team_id"):
            return self.user_id in self.server.app.team_members
        return True

    # -- abrupt close
    def abort(self):
        t = self.transport
        if t is not None and not t.is_closing():
            t.abort()

    def kill(self):
        self.ended = True
        self.abort()
        if self.writer is not None:
            self.writer.cancel()
        self.queue.wake.set()

    # -- dead queue (circular buffer, as in web_conn.go)
    def add_to_dead_queue(self, entry):
        self.dead[self.dead_ptr] = entry
        self.dead_ptr = (self.dead_ptr + 1) % DEAD_QUEUE_SIZE

    def has_msg_loss(self):
        if self.dead_ptr == 0:
            if self.dead[DEAD_QUEUE_SIZE - 1] is None:
                return False
            index = DEAD_QUEUE_SIZE - 1
        else:
            index = self.dead_ptr - 1
        return self.dead[index][0] != self.sequence - 1

    def is_in_dead_queue(self, seq):
        for i in range(DEAD_QUEUE_SIZE):
            e = self.dead[i]
            if e is None:
                return False, 0
            if e[0] == seq:
                return True, i
        return False, 0

    def clear_dead_queue(self):
        for i in range(DEAD_QUEUE_SIZE):
            if self.dead[i] is None:
                break
            self.dead[i] = None
        self.dead_ptr = 0

    async def _write_dead(self, entry):
        self.sequence += 1
        await self.ws.send_str(entry[1])

    async def drain_dead_queue(self, index):
        if self.dead[0] is None:
            return
        if self.dead[self.dead_ptr] is None:
            for i in range(index, self.dead_ptr):
                await self._write_dead(self.dead[i])
            return
        cur = index
        while True:
            await self._write_dead(self.dead[cur])
            old_seq = self.dead[cur][0]
            cur = (cur + 1) % DEAD_QUEUE_SIZE
            if old_seq > self.dead[cur][0]:
                break

    # -- pumps
    async def pump(self):
        loop = asyncio.get_running_loop()
        self.hub.live.add(self)
        self.writer = loop.create_task(self.write_pump())
        watchdog = loop.create_task(self.deadline_watch())
        try:
            await self.read_pump()
        except Exception:
            pass
        finally:
            self.abort()
            self.ended = True
            self.queue.wake.set()
            watchdog.cancel()
            try:
                await self.writer
            except BaseException:
                pass
            self.hub.live.discard(self)
            self.hub.unregister(self)

    async def deadline_watch(self):
        loop = asyncio.get_running_loop()
        while True:
            d = self.read_deadline - loop.time()
            if d <= 0:
                self.server.stats["ws_pong_timeouts"] += 1
                self.abort()
                return
            await asyncio.sleep(d)

    async def write_pump(self):
        loop = asyncio.get_running_loop()
        stats = self.server.stats
        try:
            if self.sequence != 0:
                found, idx = self.is_in_dead_queue(self.sequence)
                if found:
                    stats["ws_resume_outcomes"]["replay"] += 1
                    await self.drain_dead_queue(idx)
                elif self.has_msg_loss():
                    stats["ws_resume_outcomes"]["lost"] += 1
                    self.clear_dead_queue()
                    self.conn_id = new_id()
                    self.sequence = 0
                    text = encode_event(hello_event(self), 0)
                    self.add_to_dead_queue((0, text))
                    self.sequence += 1
                    await self.ws.send_str(text)
                else:
                    stats["ws_resume_outcomes"]["lossless"] += 1
            next_ping = loop.time() + self.server.ping_interval
            auth_at = loop.time() + self.server.auth_timeout
            q = self.queue
            while not self.ended:
                if q.items:
                    item = q.items.popleft()
                    if isinstance(item, Event):
                        seq = self.sequence
                        text = encode_event(item, seq)
                        self.sequence += 1
                        self.add_to_dead_queue((seq, text))
                    else:
                        text = encode_reply(item)
                    await self.ws.send_str(text)
                    continue
                if q.closed:
                    await self.ws._writer._send_frame(b"", WSMsgType.CLOSE)
                    return
                now = loop.time()
                if now >= next_ping:
                    await self.ws.ping()
                    next_ping = now + self.server.ping_interval
                    continue
                if auth_at is not None and now >= auth_at:
                    if not self.token:
                        self.server.stats["ws_auth_timeouts"] += 1
                        return
                    auth_at = None
                    continue
                deadline = next_ping if auth_at is None else min(next_ping, auth_at)
                q.wake.clear()
                if q.items or q.closed or self.ended:
                    continue
                try:
                    await asyncio.wait_for(q.wake.wait(), max(0.0, deadline - now))
                except asyncio.TimeoutError:
                    pass
        except asyncio.CancelledError:
            pass
        except Exception:
            pass
        finally:
            self.abort()

    async def read_pump(self):
        loop = asyncio.get_running_loop()
        while True:
            msg = await self.ws.receive()
            t = msg.type
            if t == WSMsgType.TEXT:
                req = self._decode(msg.data)
                if req is None:
                    return
                self.serve(req)
            elif t == WSMsgType.PING:
                try:
                    await self.ws.pong(msg.data)
                except Exception:
                    return
            elif t == WSMsgType.PONG:
                self.read_deadline = loop.time() + self.server.pong_wait
            elif t == WSMsgType.CLOSE:
                code = msg.data if isinstance(msg.data, int) and \
                    (1000 <= msg.data <= 4999) and \
                    msg.data not in (1005, 1006, 1015) else 1000
                try:
                    await self.ws.close(code=code)
                except Exception:
                    pass
                return
            elif t == WSMsgType.ERROR:
                if getattr(msg.data, "code", None) == 1009:
                    self.server.stats["ws_too_big"] += 1
                return
            else:
                # BINARY (msgpack is not implemented), CLOSING, CLOSED
                return

    @staticmethod
    def _decode(text):
        """json.NewDecoder(rd).Decode(&req): the first JSON value; a type
        mismatch is an error (the connection is closed)."""
        try:
            req, _ = json.JSONDecoder().raw_decode(text.lstrip(" \t\r\n"))
        except ValueError:
            return None
        if req is None:
            return {}
        if not isinstance(req, dict):
            return None
        seq = req.get("seq")
        if seq is not None and (isinstance(seq, bool) or not isinstance(seq, int)):
            return None
        action = req.get("action")
        if action is not None and not isinstance(action, str):
            return None
        data = req.get("data")
        if data is not None and not isinstance(data, dict):
            return None
        return req

    def serve(self, req):
        """WebSocketRouter.ServeWebSocket plus the built-in handlers."""
        action = req.get("action") or ""
        seq = req.get("seq") or 0
        data = req.get("data") or {}
        if action.startswith("custom_"):
            return
        if action == "":
            self.hub.send_message(self, ws_error(seq, 400, "api.web_socket_router.no_action.app_error"))
            return
        if seq <= 0:
            self.hub.send_message(self, ws_error(seq, 400, "api.web_socket_router.bad_seq.app_error"))
            return
        if action == "authentication_challenge":
            if self.token:
                return
            token = data.get("token")
            uid = self.server.app.tokens.get(token) if isinstance(token, str) else None
            if uid is None:
                self.abort()
                return
            self.token = token
            self.user_id = uid
            self.hub.register(self)
            self.hub.send_message(self, Reply("OK", seq))
            return
        if not self.token:
            self.hub.send_message(self, ws_error(seq, 401, "api.web_socket_router.not_authenticated.app_error"))
            return
        if action == "ping":
            self.hub.send_message(self, Reply("OK", seq, {
                "text": "pong", "version": SERVER_VERSION,
                "server_time": now_ms(), "node_id": ""}))
        elif action == "user_typing":
            cid = data.get("channel_id")
            if not isinstance(cid, str) or not is_valid_id(cid):
                self.hub.send_message(self, ws_error(seq, 400, "api.websocket_handler.invalid_param.app_error"))
                return
            parent = data.get("parent_id") if isinstance(data.get("parent_id"), str) else ""
            self.server.app.publish(Event(
                "typing", {"parent_id": parent, "user_id": self.user_id},
                broadcast_to(channel_id=cid, omit_users={self.user_id: True})))
            self.hub.send_message(self, Reply("OK", seq))
        else:
            self.hub.send_message(self, ws_error(seq, 500, "api.web_socket_router.bad_action.app_error"))


_SEQ_RE = re.compile(r"^[+-]?[0-9]+$")


async def handle_websocket(request, session_user, token):
    """connectWebSocket. session_user/token: the upgrade's valid session
    (None/"" when there is none)."""
    server = request.app["fake"]
    origin = request.headers.get("Origin")
    if origin:
        host = origin.split("://", 1)[-1].split("/", 1)[0]
        if host.lower() != (request.host or "").lower():
            return web.Response(status=403, text="Forbidden\n",
                                content_type="text/plain", charset="utf-8")
    ws = web.WebSocketResponse(autoping=False, autoclose=False,
                               max_msg_size=MAX_MESSAGE + 1, compress=False,
                               timeout=0.5)
    if not ws.can_prepare(request).ok:
        return web.Response(status=400, text="Bad Request\n",
                            content_type="text/plain", charset="utf-8")
    await ws.prepare(request)
    server.stats["ws_connects"] += 1
    q = request.query
    wc = WebConn(server, ws, request, session_user, token,
                 q.get("posted_ack") == "true")
    conn_id = q.get("connection_id", "")
    if conn_id == "" or not session_user:
        wc.conn_id = new_id()
    else:
        if not is_valid_id(conn_id):
            wc.abort()
            return ws
        old = server.hub.check_conn(session_user, conn_id)
        if old is None:
            wc.conn_id = new_id()
        else:
            seq = q.get("sequence_number", "")
            if not _SEQ_RE.match(seq) or int(seq) < 0:
                wc.abort()
                return ws
            server.stats["ws_resumes"] += 1
            wc.conn_id = conn_id
            wc.queue = old.queue
            wc.dead = old.dead
            wc.dead_ptr = old.dead_ptr
            wc.reuse = old.reuse + 1
            wc.sequence = int(seq)
    if session_user:
        server.hub.register(wc)
    await wc.pump()
    return ws
