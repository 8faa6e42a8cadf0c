"""fm_rest — the HTTP side: /api/v4 routing (gorilla-mux-like: path match,
then method; 405 on a method mismatch, 404 AppError for unknown API paths),
the ServeHTTP wrapper (token parsing, session check, X-Request-ID and the
other common headers, AppError bodies), the rate limiter (GCRA, reference
§3), fault injection and the REST handlers (reference §2, §4).
"""

import asyncio
import math
import re
import time

from aiohttp import web

from fm_util import (MAX_PAYLOAD_BYTES, MIN_READ, VERSION_ID, AppError,
                     gojson, invalid_body, invalid_url, is_valid_id, new_id,
                     parse_json_body, permission_error, session_expired)
import fm_ws

# ---------------------------------------------------------------------------
# Rate limiting (throttled's GCRA, as wrapped by app/ratelimit.go)


class RateLimiter:
    def __init__(self):
        self.configure(False, 10, 100)

    def configure(self, enabled, per_sec, burst):
        self.enabled = bool(enabled)
        self.per_sec = int(per_sec)
        self.burst = int(burst)
        self.emission = 10 ** 9 // max(1, self.per_sec)     # ns
        self.tolerance = self.emission * (self.burst + 1)
        self.limit = self.burst + 1
        self.tat = {}

    def check(self, key):
        """GCRARateLimiter.RateLimit(key, 1) + setRateLimitHeaders.
        Returns (limited, headers)."""
        now = time.monotonic_ns()
        tat = self.tat.get(key)
        if tat is None:
            tat = now
        increment = self.emission
        new_tat = now + increment if now > tat else tat + increment
        allow_at = new_tat - self.tolerance
        diff = now - allow_at
        retry_after = -1
        if diff < 0:
            if increment <= self.tolerance:
                retry_after = -diff
            ttl = tat - now
            limited = True
        else:
            ttl = new_tat - now
            self.tat[key] = new_tat
            limited = False
        nxt = self.tolerance - ttl
        remaining = nxt // self.emission if nxt >= 0 else 0
        h = {"X-RateLimit-Limit": str(self.limit),
             "X-RateLimit-Remaining": str(remaining)}
        if ttl >= 0:
            h["X-RateLimit-Reset"] = str(math.ceil(ttl / 1e9))
        if retry_after >= 0:
            h["Retry-After"] = str(math.ceil(retry_after / 1e9))
        return limited, h


# ---------------------------------------------------------------------------
# Routing

SEG = {"user_id": "[A-Za-z0-9]+", "post_id": "[A-Za-z0-9]+",
       "channel_id": "[A-Za-z0-9]+", "team_id": "[A-Za-z0-9]+",
       "action_id": "[A-Za-z0-9]+", "username": r"[A-Za-z0-9\.\-_]+",
       "emoji_name": r"[A-Za-z0-9\_\-\+]+", "team_name": "[A-Za-z0-9_-]+",
       "channel_name": "[A-Za-z0-9_-]+"}

ROUTES = []     # (template, compiled regex, {method: (handler, needs_session)})


def route(method, template, session=True):
    def deco(fn):
        for t, rx, methods in ROUTES:
            if t == template:
                methods[method] = (fn, session)
                return fn
        pattern = re.sub(r"\{(\w+)\}",
                         lambda m: "(?P<%s>%s)" % (m.group(1), SEG[m.group(1)]),
                         template)
        ROUTES.append((template, re.compile("^" + pattern + "$"),
                       {method: (fn, session)}))
        return fn
    return deco


WS_RE = re.compile(r"^/api/v4/websocket/?$")


def match(method, path):
    """(template, handler, needs_session, params) | (template, None, ...) on
    a method mismatch | None."""
    if WS_RE.match(path):
        if method == "GET":
            return ("/api/v4/websocket", "ws", False, {})
        return ("/api/v4/websocket", None, False, {})
    mismatch = None
    for template, rx, methods in ROUTES:
        m = rx.match(path)
        if not m:
            continue
        if method in methods:
            fn, session = methods[method]
            return (template, fn, session, m.groupdict())
        if mismatch is None:
            mismatch = (template, None, False, {})
    return mismatch


def route_key(request):
    r = match(request.method, request.path)
    if r is None:
        return "%s <unknown>" % request.method
    return "%s %s" % (request.method, r[0])


def parse_token(request):
    """app.ParseAuthTokenFromRequest: cookie, then Authorization
    (Bearer/Token), then ?access_token=."""
    if "MMAUTHTOKEN" in request.cookies:
        return request.cookies["MMAUTHTOKEN"], "cookie"
    h = request.headers.get("Authorization", "")
    if len(h) > 6 and h[:6].upper() == "BEARER":
        return h[7:], "header"
    if len(h) > 5 and h[:5].lower() == "token":
        return h[6:], "header"
    q = request.query.get("access_token", "")
    if q:
        return q, "query"
    return "", None


class Ctx:
    __slots__ = ("request", "server", "app", "params", "uid", "token",
                 "body_raw", "query")

    def body(self, name="post"):
        try:
            return parse_json_body(self.body_raw)
        except ValueError:
            raise invalid_body(name)

    def require_id(self, key):
        v = self.params.get(key, "")
        if not is_valid_id(v):
            raise invalid_url(key)
        return v

    def require_user_id(self):
        v = self.params.get("user_id", "")
        if v == "me":
            return self.uid
        if not is_valid_id(v):
            raise invalid_url("user_id")
        return v


def common_headers(request, rid):
    h = {"X-Request-ID": rid, "X-Version-ID": VERSION_ID,
         "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}
    if request.method == "GET":
        h["Expires"] = "0"
    return h


def json_response(status, obj, headers):
    return web.Response(status=status, body=gojson(obj).encode(),
                        content_type="application/json", headers=headers)


async def api_dispatch(request):
    """Every /api/v4 request that got past the middlewares."""
    server = request.app["fake"]
    rid = new_id()
    headers = common_headers(request, rid)
    m = match(request.method, request.path)
    try:
        if m is None:
            e = AppError(404, "api.context.404.app_error")
            d = e.to_dict(rid)
            d["detailed_error"] = ("There doesn't appear to be an api call for the url='%s'."
                                   "  Typo? are you missing a team_id or user_id as part of the url?"
                                   % request.path)
            return json_response(404, d, headers)
        template, fn, needs_session, params = m
        if fn is None:      # gorilla: path matched, method did not
            return web.Response(status=405)
        token, where = parse_token(request)
        uid = None
        if token:
            found = server.app.tokens.get(token)
            if found is None:
                if needs_session:
                    raise session_expired()
            elif where == "query":
                raise AppError(401, "api.context.token_provided.app_error")
            else:
                uid = found
                if where == "cookie" and request.method != "GET" and \
                        request.headers.get("X-Requested-With") != "XMLHttpRequest" and \
                        request.headers.get("X-CSRF-Token") != "csrf-" + token:
                    raise session_expired()
        if fn == "ws":
            return await fm_ws.handle_websocket(request, uid, token if uid else "")
        if needs_session and uid is None:
            raise session_expired()
        if uid is not None:
            server.hub.touch(uid, token)
        raw = await request.read()
        if len(raw) > MAX_PAYLOAD_BYTES + MIN_READ:
            raise AppError(413, "api.context.request_body_too_large.app_error")
        ctx = Ctx()
        ctx.request, ctx.server, ctx.app = request, server, server.app
        ctx.params, ctx.uid, ctx.token = params, uid, token
        ctx.body_raw, ctx.query = raw, request.query
        status, obj = await fn(ctx)
        return json_response(status, obj, headers)
    except AppError as e:
        return json_response(e.status, e.to_dict(rid), headers)


# ---------------------------------------------------------------------------
# Middleware: stats, rate limit, fault injection, delay


@web.middleware
async def api_middleware(request, handler):
    server = request.app["fake"]
    path = request.path
    if path.startswith("/_fake/"):
        return await handler(request)
    stats = server.stats
    key = route_key(request)
    stats["requests"][key] = stats["requests"].get(key, 0) + 1
    stats["last_headers"][key] = dict(request.headers)
    is_ws = WS_RE.match(path) is not None
    if not is_ws:
        server.in_flight += 1
        stats["max_concurrent"] = max(stats["max_concurrent"], server.in_flight)
    try:
        rl_headers = {}
        if server.ratelimit.enabled:
            limited, rl_headers = server.ratelimit.check(request.remote or "")
            if limited:
                stats["status_429"] += 1
                h = dict(rl_headers)
                h["X-Content-Type-Options"] = "nosniff"
                return web.Response(status=429, text="limit exceeded\n",
                                    content_type="text/plain", charset="utf-8",
                                    headers=h)
        if path.startswith("/api/v4"):
            rule = server.take_failure(request.method, path)
            if rule is not None:
                stats["injected"] += 1
                if rule.get("drop"):
                    if request.transport is not None:
                        request.transport.abort()
                    return web.Response(status=500)
                resp = injected_response(request, rule)
                resp.headers.update(rl_headers)
                return resp
            if not is_ws:
                delay = server.delay_for(path)
                if delay > 0:
                    await asyncio.sleep(delay)
        resp = await handler(request)
        if not isinstance(resp, web.WebSocketResponse):
            resp.headers.update(rl_headers)
        return resp
    finally:
        if not is_ws:
            server.in_flight -= 1


def injected_response(request, rule):
    rid = new_id()
    headers = common_headers(request, rid)
    status = int(rule.get("status", 500))
    body = rule.get("body")
    if body is None:
        return json_response(status, AppError(status, "fake.injected.app_error").to_dict(rid),
                             headers)
    if isinstance(body, (dict, list)):
        return json_response(status, body, headers)
    try:
        parse_json_body(str(body).encode())
        ctype = "application/json"
    except ValueError:
        ctype = "text/plain"
    return web.Response(status=status, text=str(body), content_type=ctype,
                        headers=headers)


# ---------------------------------------------------------------------------
# Handlers. Each returns (status, json-able object).


@route("GET", "/api/v4/system/ping", session=False)
async def system_ping(ctx):
    return 200, {"ActiveSearchBackend": "database", "status": "OK"}


def _user_out(ctx, u):
    return dict(u)


@route("GET", "/api/v4/users/{user_id}")
async def get_user(ctx):
    uid = ctx.require_user_id()
    u = ctx.app.users.get(uid)
    if u is None:
        raise AppError(404, "app.user.missing_account.const")
    return 200, _user_out(ctx, u)


@route("GET", "/api/v4/users/username/{username}")
async def get_user_by_name(ctx):
    uid = ctx.app.by_name.get(ctx.params["username"].lower())
    if uid is None:
        raise AppError(404, "app.user.get_by_username.app_error")
    return 200, _user_out(ctx, ctx.app.users[uid])


@route("POST", "/api/v4/users/ids")
async def get_users_by_ids(ctx):
    ids = ctx.body("user_ids")
    if not isinstance(ids, list) or not ids:
        raise invalid_body("user_ids")
    return 200, [_user_out(ctx, ctx.app.users[i]) for i in ids
                 if isinstance(i, str) and i in ctx.app.users]


@route("GET", "/api/v4/users/{user_id}/teams")
async def get_user_teams(ctx):
    uid = ctx.require_user_id()
    if uid != ctx.uid:
        raise permission_error()
    return 200, [ctx.app.team] if uid in ctx.app.team_members else []


@route("GET", "/api/v4/users/{user_id}/teams/{team_id}/channels")
async def get_user_team_channels(ctx):
    uid = ctx.require_user_id()
    tid = ctx.require_id("team_id")
    if uid != ctx.uid:
        raise permission_error()
    if tid != ctx.app.team["id"] or uid not in ctx.app.team_members:
        raise permission_error()
    return 200, [dict(ch) for cid, ch in ctx.app.channels.items()
                 if (ch["team_id"] in (tid, "")) and ctx.app.is_member(cid, uid)]


@route("GET", "/api/v4/teams/{team_id}")
async def get_team(ctx):
    tid = ctx.require_id("team_id")
    if tid != ctx.app.team["id"]:
        raise AppError(404, "app.team.get.find.app_error")
    if ctx.uid not in ctx.app.team_members:
        raise permission_error()
    return 200, ctx.app.team


@route("GET", "/api/v4/teams/name/{team_name}")
async def get_team_by_name(ctx):
    if ctx.params["team_name"] != ctx.app.team["name"]:
        raise AppError(404, "app.team.get_by_name.missing.app_error")
    if ctx.uid not in ctx.app.team_members:
        raise permission_error()
    return 200, ctx.app.team


@route("GET", "/api/v4/teams/{team_id}/channels/name/{channel_name}")
async def get_channel_by_name(ctx):
    tid = ctx.require_id("team_id")
    name = ctx.params["channel_name"]
    for ch in ctx.app.channels.values():
        if ch["team_id"] == tid and ch["name"] == name:
            if not ctx.app.can_read_channel(ctx.uid, ch):
                raise AppError(404, "app.channel.get_by_name.missing.app_error")
            return 200, ch
    raise AppError(404, "app.channel.get_by_name.missing.app_error")


def _channel(ctx):
    cid = ctx.require_id("channel_id")
    ch = ctx.app.channels.get(cid)
    if ch is None:
        raise AppError(404, "app.channel.get.existing.app_error")
    return ch


@route("GET", "/api/v4/channels/{channel_id}")
async def get_channel(ctx):
    ch = _channel(ctx)
    if not ctx.app.can_read_channel(ctx.uid, ch):
        raise permission_error()
    return 200, ch


@route("GET", "/api/v4/channels/{channel_id}/members/{user_id}")
async def get_channel_member(ctx):
    ch = _channel(ctx)
    uid = ctx.require_user_id()
    if not ctx.app.can_read_channel(ctx.uid, ch):
        raise permission_error()
    if not ctx.app.is_member(ch["id"], uid):
        raise AppError(404, "app.channel.get_member.missing.app_error")
    return 200, {"channel_id": ch["id"], "user_id": uid,
                 "roles": "channel_user", "last_viewed_at": 0, "msg_count": 0,
                 "mention_count": 0, "mention_count_root": 0,
                 "urgent_mention_count": 0, "msg_count_root": 0,
                 "notify_props": {"desktop": "default", "email": "default",
                                  "ignore_channel_mentions": "default",
                                  "mark_unread": "all", "push": "default"},
                 "last_update_at": ch["create_at"], "scheme_guest": False,
                 "scheme_user": True, "scheme_admin": False,
                 "explicit_roles": ""}


@route("POST", "/api/v4/channels/direct")
async def create_direct(ctx):
    ids = ctx.body("user_ids")
    return 201, ctx.app.direct_channel(ctx.uid, ids)


@route("GET", "/api/v4/channels/{channel_id}/posts")
async def get_channel_posts(ctx):
    since_s = ctx.query.get("since", "")
    since = 0
    if since_s:
        if not re.match(r"^[+-]?[0-9]+$", since_s):
            raise invalid_body("since")
        since = int(since_s)
    ch = _channel(ctx)
    if not ctx.app.can_read_channel(ctx.uid, ch):
        raise permission_error()
    if since > 0:
        return 200, ctx.app.posts_since(ch["id"], since)
    try:
        page = int(ctx.query.get("page", "0") or 0)
        per_page = int(ctx.query.get("per_page", "60") or 60)
    except ValueError:
        raise invalid_url("page")
    per_page = 60 if per_page <= 0 else min(per_page, 200)
    return 200, ctx.app.posts_page(ch["id"], max(page, 0), per_page)


@route("POST", "/api/v4/posts")
async def create_post(ctx):
    body = ctx.body("post")
    set_online = ctx.query.get("set_online", "true").lower() not in ("false", "0", "f")
    if not isinstance(body, dict):
        raise invalid_body("post")
    p, _ = ctx.app.create_post(ctx.uid, body, set_online)
    return 201, ctx.app.out(p)


@route("GET", "/api/v4/posts/{post_id}")
async def get_post(ctx):
    pid = ctx.require_id("post_id")
    return 200, ctx.app.out(ctx.app.get_post(ctx.uid, pid))


@route("GET", "/api/v4/posts/{post_id}/thread")
async def get_thread(ctx):
    pid = ctx.require_id("post_id")
    return 200, ctx.app.thread(ctx.uid, pid)


@route("PUT", "/api/v4/posts/{post_id}")
async def update_post(ctx):
    pid = ctx.require_id("post_id")
    body = ctx.body("post")
    return 200, ctx.app.out(ctx.app.put_post(ctx.uid, pid, body))


@route("PUT", "/api/v4/posts/{post_id}/patch")
async def patch_post(ctx):
    pid = ctx.require_id("post_id")
    body = ctx.body("post")
    return 200, ctx.app.out(ctx.app.patch_post(ctx.uid, pid, body))


@route("DELETE", "/api/v4/posts/{post_id}")
async def delete_post(ctx):
    pid = ctx.require_id("post_id")
    ctx.app.delete_post(ctx.uid, pid)
    return 200, {"status": "OK"}


@route("POST", "/api/v4/posts/{post_id}/actions/{action_id}")
async def do_post_action(ctx):
    pid = ctx.require_id("post_id")
    aid = ctx.params["action_id"]
    try:
        req = parse_json_body(ctx.body_raw) if ctx.body_raw else {}
    except ValueError:
        req = {}
    if not isinstance(req, dict):
        req = {}
    sel = req.get("selected_option") if isinstance(req.get("selected_option"), str) else ""
    cookie = req.get("cookie") if isinstance(req.get("cookie"), str) else ""
    record = ctx.request.get("click_record")
    trigger = await ctx.app.do_post_action(ctx.uid, pid, aid, sel, cookie, record)
    return 200, {"status": "OK", "trigger_id": trigger}


@route("POST", "/api/v4/reactions")
async def save_reaction(ctx):
    body = ctx.body("reaction")
    return 200, ctx.app.save_reaction(ctx.uid, body)


@route("GET", "/api/v4/posts/{post_id}/reactions")
async def get_reactions(ctx):
    pid = ctx.require_id("post_id")
    ctx.app.get_post(ctx.uid, pid)
    return 200, ctx.app.reactions_for(pid)


@route("DELETE", "/api/v4/users/{user_id}/posts/{post_id}/reactions/{emoji_name}")
async def delete_reaction(ctx):
    uid = ctx.require_user_id()
    pid = ctx.require_id("post_id")
    ctx.app.delete_reaction(ctx.uid, uid, pid, ctx.params["emoji_name"])
    return 200, {"status": "OK"}
