"""fm_control — the /_fake/ test-control endpoints (no auth, never rate
limited, not counted in stats). Each answers JSON; errors are
{"error": "..."} with status 400/404, except where a call plays a user's
action through the real code path (post, click, reaction, edit, direct),
which answers the AppError and status the real API would have given.
"""

import re

from aiohttp import web

from fm_model import post_out
from fm_util import AppError, gojson, parse_json_body


def _json(obj, status=200):
    return web.Response(status=status, text=gojson(obj),
                        content_type="application/json")


def _bad(msg, status=400):
    return _json({"error": msg}, status)


async def _body(request):
    raw = await request.read()
    if not raw:
        return {}
    try:
        b = parse_json_body(raw)
    except ValueError:
        return None
    return b if isinstance(b, dict) else None


def _user(server, ref):
    return server.app.user_ref(ref) if isinstance(ref, str) else None


def _channel(server, body):
    cid = body.get("channel_id")
    if isinstance(cid, str) and cid in server.app.channels:
        return cid
    name = body.get("channel")
    for ch in server.app.channels.values():
        if name and ch["name"] == name:
            return ch["id"]
    return cid if isinstance(cid, str) else ""


def _app_error(e):
    return _json(e.to_dict(), e.status)


async def seed(request):
    return _json(request.app["fake"].app.seed())


async def post(request):
    """{user, channel_id | channel, message, root_id?, props?, type?,
    file_ids?, pending_post_id?} -> 201 Post, as POST /api/v4/posts."""
    server = request.app["fake"]
    b = await _body(request)
    if b is None:
        return _bad("body must be a JSON object")
    uid = _user(server, b.get("user"))
    if uid is None:
        return _bad("unknown user")
    body = {k: b[k] for k in ("message", "root_id", "props", "type", "file_ids",
                              "pending_post_id") if k in b}
    body["channel_id"] = _channel(server, b)
    try:
        p, _ = server.app.create_post(uid, body, b.get("set_online", True))
    except AppError as e:
        return _app_error(e)
    return _json(server.app.out(p), 201)


async def edit(request):
    """{user, post_id, message?, props?} -> PUT /posts/{id}/patch as user."""
    server = request.app["fake"]
    b = await _body(request)
    if b is None:
        return _bad("body must be a JSON object")
    uid = _user(server, b.get("user"))
    if uid is None:
        return _bad("unknown user")
    patch = {k: b[k] for k in ("message", "props", "is_pinned") if k in b}
    try:
        p = server.app.patch_post(uid, str(b.get("post_id", "")), patch)
    except AppError as e:
        return _app_error(e)
    return _json(server.app.out(p))


async def reaction(request):
    """{user, post_id, emoji_name, remove?} -> POST /reactions (or the
    DELETE) as user."""
    server = request.app["fake"]
    b = await _body(request)
    if b is None:
        return _bad("body must be a JSON object")
    uid = _user(server, b.get("user"))
    if uid is None:
        return _bad("unknown user")
    try:
        if b.get("remove"):
            server.app.delete_reaction(uid, uid, str(b.get("post_id", "")),
                                       str(b.get("emoji_name", "")))
            return _json({"status": "OK"})
        r = server.app.save_reaction(uid, {"user_id": uid,
                                           "post_id": b.get("post_id"),
                                           "emoji_name": b.get("emoji_name")})
    except AppError as e:
        return _app_error(e)
    return _json(r)


async def direct(request):
    """{user, other} -> POST /channels/direct as user; 201 Channel."""
    server = request.app["fake"]
    b = await _body(request)
    if b is None:
        return _bad("body must be a JSON object")
    uid, other = _user(server, b.get("user")), _user(server, b.get("other"))
    if uid is None or other is None:
        return _bad("unknown user")
    try:
        ch = server.app.direct_channel(uid, [uid, other])
    except AppError as e:
        return _app_error(e)
    return _json(ch, 201)


async def click(request):
    """{user, post_id, action_id, selected_option?, cookie?} plays a button
    click. Answers {"status": <HTTP status the clicker got>, "body": <its
    JSON body>, "integration": {"request": <JSON sent to the integration
    URL>, "status": <its HTTP status>, "body": <its raw answer>, "error"?}}."""
    server = request.app["fake"]
    b = await _body(request)
    if b is None:
        return _bad("body must be a JSON object")
    uid = _user(server, b.get("user"))
    if uid is None:
        return _bad("unknown user")
    record = {}
    pid, aid = str(b.get("post_id", "")), str(b.get("action_id", ""))
    if not re.match(r"^[A-Za-z0-9]+$", aid) or not re.match(r"^[A-Za-z0-9]+$", pid):
        err = AppError(404, "api.context.404.app_error")
        return _json({"status": 404, "body": err.to_dict(), "integration": record})
    try:
        if len(pid) != 26:
            raise AppError(400, "api.context.invalid_url_param.app_error",
                           {"Name": "post_id"})
        trigger = await server.app.do_post_action(
            uid, pid, aid, str(b.get("selected_option", "") or ""),
            str(b.get("cookie", "") or ""), record)
        return _json({"status": 200,
                      "body": {"status": "OK", "trigger_id": trigger},
                      "integration": record})
    except AppError as e:
        return _json({"status": e.status, "body": e.to_dict(),
                      "integration": record})


async def posts(request):
    """?channel_id= (optional): every post (no history rows), oldest first,
    unstripped props, with edit_count, history (old versions, oldest
    first) and reactions."""
    server = request.app["fake"]
    app = server.app
    cid = request.query.get("channel_id", "")
    history = {}
    for p in app.posts.values():
        if p["original_id"]:
            history.setdefault(p["original_id"], []).append(p)
    out = []
    for p in sorted(app.posts.values(), key=lambda q: q["create_at"]):
        if p["original_id"] or (cid and p["channel_id"] != cid):
            continue
        d = post_out(p, strip=False, reactions=app.reactions_for(p["id"]))
        h = sorted(history.get(p["id"], []), key=lambda q: q["update_at"])
        d["edit_count"] = len(h)
        d["history"] = [{"message": q["message"], "props": q["props"],
                         "update_at": q["update_at"]} for q in h]
        d["reactions"] = app.reactions_for(p["id"])
        out.append(d)
    return _json({"posts": out})


async def ephemerals(request):
    """?user= (optional): ephemeral posts sent (to that user)."""
    server = request.app["fake"]
    ref = request.query.get("user", "")
    uid = _user(server, ref) if ref else None
    return _json({"ephemerals": [e for e in server.app.ephemerals
                                 if uid is None or e["user_id"] == uid]})


async def events(request):
    """?after=N: published events from index N on (0-based)."""
    server = request.app["fake"]
    try:
        after = int(request.query.get("after", "0"))
    except ValueError:
        return _bad("after must be an integer")
    evs = server.app.events
    return _json({"events": [dict(ev.to_dict(), index=i)
                             for i, ev in enumerate(evs) if i >= after],
                  "next": len(evs)})


async def ratelimit(request):
    """{enabled, per_sec=10, burst=100}; resets the limiter's state."""
    server = request.app["fake"]
    b = await _body(request)
    if b is None:
        return _bad("body must be a JSON object")
    rl = server.ratelimit
    try:
        rl.configure(b.get("enabled", rl.enabled), b.get("per_sec", 10),
                     b.get("burst", 100))
    except (TypeError, ValueError):
        return _bad("per_sec and burst must be integers")
    return _json({"enabled": rl.enabled, "per_sec": rl.per_sec,
                  "burst": rl.burst})


async def drop_ws(request):
    """{user?}: abruptly closes live sockets (of that user), keeping their
    connections resumable."""
    server = request.app["fake"]
    b = await _body(request) or {}
    uid = None
    if b.get("user"):
        uid = _user(server, b["user"])
        if uid is None:
            return _bad("unknown user")
    return _json({"dropped": server.hub.drop(uid)})


async def restart_ws(request):
    server = request.app["fake"]
    return _json({"forgotten": server.hub.forget_all()})


async def fail(request):
    """{method?, path_regex, status, count=1, body?, drop?} or {clear:true}.
    The next `count` matching /api/v4 requests (count <= 0: all of them) get
    `status` with `body` (default: an AppError fake.injected.app_error), or
    have their connection closed with no answer when drop is true."""
    server = request.app["fake"]
    b = await _body(request)
    if b is None:
        return _bad("body must be a JSON object")
    if b.get("clear"):
        server.failures.clear()
        return _json({"rules": 0})
    try:
        rx = re.compile(str(b.get("path_regex", "")))
    except re.error as e:
        return _bad("bad path_regex: %s" % e)
    rule = {"method": str(b.get("method", "") or "").upper(), "rx": rx,
            "status": int(b.get("status", 500)), "count": int(b.get("count", 1)),
            "body": b.get("body"), "drop": bool(b.get("drop", False))}
    server.failures.append(rule)
    return _json({"rules": len(server.failures)})


async def delay(request):
    """{ms, path_regex?}: every later /api/v4 REST request (matching) waits
    ms before it is handled."""
    server = request.app["fake"]
    b = await _body(request)
    if b is None:
        return _bad("body must be a JSON object")
    try:
        server.delay_ms = float(b.get("ms", 0))
        rx = b.get("path_regex")
        server.delay_rx = re.compile(rx) if rx else None
    except (TypeError, ValueError, re.error) as e:
        return _bad(str(e))
    return _json({"ms": server.delay_ms})


async def stats(request):
    server = request.app["fake"]
    s = dict(server.stats)
    s["ws_active"] = sum(1 for wc in server.hub.conns if wc.active)
    s["ws_live"] = len(server.hub.live)
    s["in_flight"] = server.in_flight
    return _json(s)


async def ws_conns(request):
    return _json({"conns": request.app["fake"].hub.describe()})


async def reset(request):
    request.app["fake"].reset()
    return _json({"status": "OK"})


def add_routes(router):
    router.add_get("/_fake/seed", seed)
    router.add_post("/_fake/post", post)
    router.add_post("/_fake/edit", edit)
    router.add_post("/_fake/reaction", reaction)
    router.add_post("/_fake/direct", direct)
    router.add_post("/_fake/click", click)
    router.add_get("/_fake/posts", posts)
    router.add_get("/_fake/ephemerals", ephemerals)
    router.add_get("/_fake/events", events)
    router.add_post("/_fake/ratelimit", ratelimit)
    router.add_post("/_fake/drop_ws", drop_ws)
    router.add_post("/_fake/restart_ws", restart_ws)
    router.add_post("/_fake/fail", fail)
    router.add_post("/_fake/delay", delay)
    router.add_get("/_fake/stats", stats)
    router.add_get("/_fake/ws", ws_conns)
    router.add_post("/_fake/reset", reset)
