#!/usr/bin/python3
"""fake_opnsense.py — a fake OPNsense firewall-alias API for smrelay's tests.

Faithful to /work/shared/reference/opnsense.md ("Fake server: behaviours it
must reproduce"), the section numbers below refer to it. Standard library
only (Debian's python3): http.server + ssl.

    fake_opnsense.py --cert CERT --key KEY [--port 0] [--alias NAME]

prints "PORT <n>" on stdout once it listens on 127.0.0.1 (port 0: the
system picks a free one) and serves until killed. No files are written.

Test control (no auth, never part of the real API), under /__fake/:
  GET  /__fake/state   aliases, pf tables, DNS map, call log, revision count
  POST /__fake/config  {"reconfigure_delay": s, "reconfigure_fail": n,
                        "lock_busy": bool, "drop": {"<action>": n},
                        "drop_after": {"<action>": n}, "malformed": {"<action>": n},
                        "legacy_get_item": bool, "dns": {name: [ip, ...]},
                        "users": {key: {...}}}
                       drop: close the connection without an answer (before
                       doing anything; libcurl resends on a reused connection);
                       drop_after: do the work, then close; cut / cut_after:
                       an answer broken off mid-body, before / after doing
                       the work; malformed: 200 with broken JSON. Counts are
                       consumed one per matching request.
  POST /__fake/alias   {"name", "type", "content", "enabled"} creates one
                       ({"uuid"}); {"name", "delete": true} deletes it;
                       {"name", "set": {field: value}} edits it unvalidated
  POST /__fake/cron    the per-minute update_tables run (§6)
  POST /__fake/log     {"records": [...]} appends firewall log lines (§8)
  POST /__fake/reset   clears the call log
"""

import argparse
import base64
import hashlib
import html
import ipaddress
import json
import re
import socket
import ssl
import sys
import threading
import time
import urllib.parse
import uuid as uuidlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ALIAS_TYPES = [
    ("host", "Host(s)"), ("network", "Network(s)"), ("port", "Port(s)"), ("url", "URL (IPs)"),
    ("urltable", "URL Table (IPs)"), ("geoip", "GeoIP"), ("networkgroup", "Network group"),
    ("mac", "MAC address"), ("asn", "BGP ASN"), ("dynipv6host", "Dynamic IPv6 Host"),
    ("authgroup", "OpenVPN group"), ("internal", "Internal (automatic)"),
    ("external", "External (advanced)"), ("urljson", "URL Table in JSON format (IPs)"),
    ("interface_net", "Interface net"),
]
TYPE_NAMES = dict(ALIAS_TYPES)
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,31}$")
# Util::isDomain (§3), with the all-digit first+last label rule
DOMAIN_RE = re.compile(
    r"^(?:(?:[a-z\w0-9]|[a-z\w0-9][a-z\w0-9\-]*[a-z\w0-9])\.)*"
    r"(?:[a-z\w0-9]|[a-z\w0-9][a-z\w0-9\-]*[a-z\w0-9])$", re.I)

# ACL privileges (§1): name -> URL patterns (case-sensitive, '*' wildcard)
ACLS = {
    "alias-edit": ["api/firewall/alias/*"],
    "aliases": ["api/firewall/alias/export", "api/firewall/alias/search*",
                "api/firewall/alias/list*", "api/firewall/alias/get*"],
    "alias_util": ["api/firewall/alias_util/*"],
    "firewall-log": ["api/diagnostics/firewall/log*", "api/diagnostics/firewall/stream_log"],
}

DEFAULT_USERS = {
    "admin-key": {"secret": "admin-secret", "user": "smrelay",
                  "acls": ["alias-edit", "aliases", "alias_util", "firewall-log"]},
    "ro-key": {"secret": "ro-secret", "user": "viewer", "acls": ["aliases"]},
    "noacl-key": {"secret": "noacl-secret", "user": "nobody", "acls": []},
    "util-key": {"secret": "util-secret", "user": "tables", "acls": ["alias_util"]},
    "rouser-key": {"secret": "rouser-secret", "user": "auditor", "readonly": True,
                   "acls": ["alias-edit", "aliases", "alias_util"]},
}


class UserException(Exception):
    def __init__(self, message, title):
        super().__init__(message)
        self.message, self.title = message, title


class Fake:
    """All state; one lock, since OPNsense serialises config writes (§7) —
    but there is no revision check, so a GET→SET client can lose updates."""

    def __init__(self, alias):
        self.lock = threading.RLock()
        self.aliases = {}  # uuid -> dict (static aliases: uuid == name)
        self.pf = {}       # table name -> list of addresses (sorted)
        self.pf_updated = {}
        self.dns = {}
        self.users = json.loads(json.dumps(DEFAULT_USERS))
        self.calls = []
        self.revisions = 0
        self.log_records = []
        self.cfg = {"reconfigure_delay": 0, "reconfigure_fail": 0, "lock_busy": False,
                    "drop": {}, "drop_after": {}, "cut": {}, "cut_after": {}, "malformed": {},
                    "legacy_get_item": False}
        self.pending_cron = False
        for name, typ, desc in [("bogons", "external", "bogon networks (internal)"),
                                ("bogonsv6", "external", "bogon networks IPv6 (internal)"),
                                ("virusprot", "external", "overload table for rate limiting"),
                                ("sshlockout", "external", "abuse lockout table (internal)"),
                                ("__lan_network", "internal", "LAN net"),
                                ("__wan_network", "internal", "WAN net")]:
            self.aliases[name] = {"name": name, "type": typ, "enabled": "1", "content": "",
                                  "description": desc, "static": True}
            self.pf[name] = []
        self.add_alias({"name": alias, "type": "host", "content": "",
                        "description": "smrelay approvals"})

    def add_alias(self, spec):
        u = str(uuidlib.uuid4())
        self.aliases[u] = {"name": spec["name"], "type": spec.get("type", "host"),
                           "enabled": spec.get("enabled", "1"), "content": spec.get("content", ""),
                           "description": spec.get("description", ""), "static": False}
        self.pf.setdefault(spec["name"], [])
        return u

    def by_name(self, name):
        for u, a in self.aliases.items():
            if a["name"] == name:
                return u, a
        return None, None

    def consume(self, kind, action):
        n = self.cfg[kind].get(action, 0)
        if n:
            self.cfg[kind][action] = n - 1
            return True
        return False

    # §6: config -> pf table, resolving host entries through the fake DNS
    def resolve_alias(self, a):
        if a["enabled"] != "1":
            return []
        out = set()
        for item in a["content"].split():
            if item.startswith("!"):
                continue
            try:
                out.add(str(ipaddress.ip_address(item)))
                continue
            except ValueError:
                pass
            if "-" in item and is_range(item):
                continue
            if self.by_name(item)[1]:
                continue  # nested alias
            out.update(self.dns.get(item.lower(), []))
        return sorted(out)

    def refresh_tables(self):
        for a in self.aliases.values():
            if a["type"] == "host" and not a.get("static"):
                self.pf[a["name"]] = self.resolve_alias(a)
                self.pf_updated[a["name"]] = time.strftime("%Y-%m-%dT%H:%M:%S.000000")
        self.pending_cron = False


def is_ip(s):
    try:
        ipaddress.ip_address(s)
        return True
    except ValueError:
        return False


def is_range(s):
    parts = s.split("-")
    return len(parts) == 2 and is_ip(parts[0]) and is_ip(parts[1])


def is_domain(s):
    if not DOMAIN_RE.match(s) or "_" in s:
        return False
    labels = s.split(".")
    return not (labels[0].isdigit() and labels[-1].isdigit())


def php_json(obj):
    """json_encode with default flags: \\/ and \\uXXXX; empty arrays as []."""
    def fix(o):
        if isinstance(o, dict):
            return [] if not o else {k: fix(v) for k, v in o.items()}
        if isinstance(o, list):
            return [fix(v) for v in o]
        return o
    return json.dumps(fix(obj), ensure_ascii=True, separators=(",", ":")).replace("/", "\\/")


def camel_key(seg):
    # Router::parsePath: foo_bar -> FooBar; PHP method names ignore case
    return seg.replace("_", "").lower()


def acl_allows(acls, uri):
    for priv in acls:
        for pat in ACLS.get(priv, []):
            rx = "^" + re.escape(pat).replace("\\*", ".*") + "$"
            if re.match(rx, uri):
                return True
    return False


def parse_form(body):
    out = {}
    for k, v in urllib.parse.parse_qsl(body, keep_blank_values=True):
        parts = re.findall(r"[^\[\]]+", k)
        d = out
        for p in parts[:-1]:
            d = d.setdefault(p, {})
        if parts:
            d[parts[-1]] = v
    return out


def html_noquotes(s):
    return html.escape(s, quote=False)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-opnsense"
    # headers and body go out in two writes: without this, Nagle and the
    # client's delayed ACK add 40 ms to every answer
    disable_nagle_algorithm = True

    def log_message(self, fmt, *args):
        pass

    # ---- plumbing ----------------------------------------------------
    def send(self, code, obj=None, raw=None, error=False, extra=None):
        body = raw if raw is not None else (b"" if obj is None else php_json(obj).encode())
        self.send_response(code)
        if body or obj is not None:
            self.send_header("Content-Type", "application/json;charset=utf-8" if error
                             else "application/json; charset=UTF-8")
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body:
            self.wfile.write(body)
        self.status_sent = code

    def drop(self):
        self.close_connection = True
        self.status_sent = 0
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def cut(self):
        """An answer that breaks off mid-body: the client cannot tell
        whether the request took effect (and cannot resend it blindly)."""
        self.send_response(200)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", "100")
        self.end_headers()
        self.wfile.write(b'{"res')
        self.wfile.flush()
        self.drop()

    def read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def do_GET(self):
        self.handle_any("GET")

    def do_POST(self):
        self.handle_any("POST")

    def handle_any(self, method):
        fake = self.server.fake
        self.status_sent = None
        raw_body = self.read_body()
        url = urllib.parse.urlsplit(self.path)
        path = url.path
        if path.startswith("/__fake/"):
            return self.control(method, path[len("/__fake/"):], raw_body)
        segs = [s for s in path.split("/") if s != ""]
        action = None
        self.action = None
        try:
            action = self.api(method, url, segs, raw_body)
        except UserException as e:
            self.send(500, {"errorMessage": html_noquotes(e.message),
                            "errorTitle": html_noquotes(e.title), "errorLevel": "error"},
                      error=True)
        except Exception:  # PHP \Error / \Exception → generic 500
            self.send(500, {"errorMessage": "Unexpected error, check log for details"},
                      error=True)
        with fake.lock:
            fake.calls.append({"method": method, "path": path,
                               "action": action or self.action or "",
                               "status": self.status_sent or 0})

    # ---- the API ----------------------------------------------------------
    ROUTES = {
        ("firewall", "alias"): {"getaliasuuid": 1, "getitem": 0, "setitem": 1, "searchitem": 0,
                                "reconfigure": 0, "export": 0, "listnetworkaliases": 0},
        ("firewall", "aliasutil"): {"aliases": 0, "list": 1, "add": 1, "delete": 1, "flush": 1,
                                    "findreferences": 0},
        ("diagnostics", "firewall"): {"log": 0},
    }
    CANON = {"getaliasuuid": "get_alias_u_u_i_d", "getitem": "get_item", "setitem": "set_item",
             "searchitem": "search_item", "findreferences": "find_references",
             "listnetworkaliases": "list_network_aliases"}

    def api(self, method, url, segs, raw_body):
        fake = self.server.fake
        # routing first: 404 even without credentials (§0)
        if len(segs) < 4 or segs[0] != "api":
            self.send(404, {"errorMessage": "Endpoint not found"}, error=True)
            return None
        module, controller, act = segs[1], camel_key(segs[2]), camel_key(segs[3])
        params = segs[4:]
        table = self.ROUTES.get((module, controller))
        if table is None or act not in table or len(params) < table[act]:
            self.send(404, {"errorMessage": "Endpoint not found"}, error=True)
            return None
        action = self.CANON.get(act, act)

        # authentication (§1)
        auth = self.headers.get("Authorization")
        if auth is None:
            self.send(401, None, extra={"Location": "/?url=" + url.path})
            return action
        parts = auth.split(" ")
        user = None
        if len(parts) >= 2:
            try:
                kv = base64.b64decode(parts[1], validate=False).decode("utf-8", "replace")
            except Exception:
                kv = ""
            if ":" in kv:
                key, secret = kv.split(":", 1)
                with fake.lock:
                    u = fake.users.get(key)
                if u and u["secret"] == secret and not u.get("disabled"):
                    user = u
        if user is None:
            self.send(401, {"status": 401, "message": "Authentication Failed"}, error=True)
            return action
        uri = (url.path + ("?" + url.query if url.query else "")).lstrip("/")
        if not acl_allows(user.get("acls", []), uri):
            self.send(403, {"status": 403, "message": "Forbidden"}, error=True)
            return action

        # body parsing (§1)
        ctype = (self.headers.get("Content-Type") or "").replace(" ", "").lower()
        post = {}
        if ctype in ("application/json", "application/json;charset=utf-8"):
            if not raw_body:
                self.send(400, {"status": 400, "message": "Invalid JSON syntax"}, error=True)
                return action
            try:
                post = json.loads(raw_body)
            except ValueError:
                post = {}
            if not isinstance(post, dict):
                post = {}
        elif ctype.startswith("application/x-www-form-urlencoded"):
            post = parse_form(raw_body.decode("utf-8", "replace"))

        # injected faults
        with fake.lock:
            dropped = fake.consume("drop", action)
            drop_after = fake.consume("drop_after", action)
            cut = fake.consume("cut", action)
            cut_after = fake.consume("cut_after", action)
            malformed = fake.consume("malformed", action)
        if dropped:
            self.drop()
            return action
        if cut:
            self.cut()
            return action
        if malformed:
            self.send(200, raw=b'{"alias":{"name":"x","content":{"a":')
            return action

        qs = dict(urllib.parse.parse_qsl(url.query))
        self.action = action
        result = getattr(self, "a_" + action)(method, params, post, qs, user)
        if drop_after:
            self.drop()
            return action
        if cut_after:
            self.cut()
            return action
        if result is not None:
            code, obj = result
            self.send(code, obj)
        return action

    # §2
    def a_get_alias_u_u_i_d(self, method, params, post, qs, user):
        fake = self.server.fake
        with fake.lock:
            u, _ = fake.by_name(params[0])
        return 200, ({"uuid": u} if u else [])

    def content_map(self, own_name, content):
        fake = self.server.fake
        m = {}
        names = {a["name"]: a for a in fake.aliases.values()}
        for item in (content.split("\n") if content is not None else []):
            m[item] = {"value": item, "selected": 1}
            if item in names:
                m[item]["description"] = names[item]["description"]
        for name, a in names.items():
            if name != own_name and name not in m:
                m[name] = {"selected": 0, "value": name, "description": a["description"]}
        return m

    def a_get_item(self, method, params, post, qs, user):
        fake = self.server.fake
        with fake.lock:
            if params and params[0] in fake.aliases and not fake.aliases[params[0]].get("static"):
                a = fake.aliases[params[0]]
                return 200, {"alias": self.full_record(a)}
            if params:
                if fake.cfg["legacy_get_item"]:
                    raise RuntimeError("TypeError")  # ≤ 26.1 answered 500
                return 200, {"alias": {"content": self.content_map(None, None)}}
            blank = {"name": "", "type": "host", "enabled": "1", "content": "", "description": ""}
            return 200, {"alias": self.full_record(blank)}

    def full_record(self, a):
        fake = self.server.fake
        table = fake.pf.get(a["name"], [])
        rec = {
            "enabled": a["enabled"],
            "name": a["name"],
            "type": {k: {"value": v, "selected": 1 if k == a["type"] else 0}
                     for k, v in ALIAS_TYPES},
            "path_expression": "",
            "proto": {"IPv4": {"value": "IPv4", "selected": 0},
                      "IPv6": {"value": "IPv6", "selected": 0}},
            "interface": {"": {"value": "None", "selected": 1},
                          "lan": {"value": "LAN", "selected": 0},
                          "wan": {"value": "WAN", "selected": 0}},
            "counters": "0",
            "updatefreq": "",
            "content": self.content_map(a["name"], a["content"]),
            "password": "",
            "username": "",
            "authtype": {"": {"value": "None", "selected": 1},
                         "Basic": {"value": "Basic", "selected": 0},
                         "Bearer": {"value": "Bearer", "selected": 0},
                         "Header": {"value": "Header", "selected": 0}},
            "expire": "",
            "categories": {},
            "current_items": str(len(table)) if a["name"] else "",
            "last_updated": fake.pf_updated.get(a["name"], ""),
            "eval_nomatch": "", "eval_match": "",
            "in_block_p": "", "in_block_b": "", "in_pass_p": "", "in_pass_b": "",
            "out_block_p": "", "out_block_b": "", "out_pass_p": "", "out_pass_b": "",
            "description": a["description"],
        }
        return rec

    def a_search_item(self, method, params, post, qs, user):
        fake = self.server.fake
        phrase = (qs.get("searchPhrase") or post.get("searchPhrase") or "").lower()
        rows = []
        with fake.lock:
            for u, a in fake.aliases.items():
                row = {"uuid": u, "enabled": a["enabled"], "name": a["name"], "type": a["type"],
                       "%type": TYPE_NAMES.get(a["type"], a["type"]), "content": a["content"],
                       "description": a["description"], "categories_uuid": []}
                if phrase and not any(isinstance(v, str) and phrase in v.lower()
                                      for v in row.values()):
                    continue
                rows.append(row)
        rows.sort(key=lambda r: r["name"].lower())
        return 200, {"rows": rows, "rowCount": len(rows), "total": len(rows), "current": 1}

    def a_export(self, method, params, post, qs, user):
        fake = self.server.fake
        with fake.lock:
            return 200, {"aliases": {"alias": {u: dict(a) for u, a in fake.aliases.items()
                                               if not a.get("static")}}}

    def a_list_network_aliases(self, method, params, post, qs, user):
        fake = self.server.fake
        with fake.lock:
            return 200, {a["name"]: {"name": a["name"], "description": a["description"]}
                         for a in fake.aliases.values()
                         if a["type"] not in ("port", "external")}

    # §3
    def validate(self, uuid, a):
        fake = self.server.fake
        v = {}
        if not a["name"]:
            v["alias.name"] = "A value is required."
        elif not NAME_RE.match(a["name"]):
            v["alias.name"] = ("The name must be less than 32 characters long and may only "
                               "consist of the following characters: a-z, A-Z, 0-9, _")
        else:
            other, _ = fake.by_name(a["name"])
            if other is not None and other != uuid:
                v["alias.name"] = "An alias with this name already exists."
        if a["type"] not in TYPE_NAMES:
            v["alias.type"] = "Option not in list."
        if a["type"] == "host" and a["content"] != "":
            msgs = []
            for item in a["content"].split("\n"):
                ok = (is_range(item) or (item.startswith("!") and is_ip(item[1:]))
                      or fake.by_name(item)[1] is not None or is_ip(item) or is_domain(item))
                if not ok:
                    msgs.append('Entry "%s" is not a valid hostname, IP address or range.' % item)
            if msgs:
                v["alias.content"] = msgs[0] if len(msgs) == 1 else msgs
        return v

    def a_set_item(self, method, params, post, qs, user):
        fake = self.server.fake
        if method != "POST" or not isinstance(post.get("alias"), dict):
            return 200, {"result": "failed"}
        uuid = params[0]
        with fake.lock:  # Config::lock(): writes are serialised, never compared
            cur = fake.aliases.get(uuid)
            if cur is not None and cur.get("static"):
                return 200, {"result": "failed"}
            if cur is None:
                if not UUID_RE.match(uuid):
                    return 200, {"result": "failed"}
                cur = {"name": "", "type": "alert", "enabled": "1", "content": "",
                       "description": "", "static": False}
            new = dict(cur)
            for k, val in post["alias"].items():
                if k not in ("enabled", "name", "type", "content", "description"):
                    continue
                if not isinstance(val, str):
                    raise RuntimeError("Invalid input type for %s: expected a single value" % k)
                new[k] = val  # stored verbatim: no trim, dedupe or case folding
            v = self.validate(uuid, new)
            if v:
                return 200, {"result": "failed", "validations": v}
            if user.get("readonly"):
                raise UserException("User %s denied for write access (user-config-readonly set)"
                                     % user["user"], "General access")
            if cur["name"] and new["name"] != cur["name"]:
                fake.pf[new["name"]] = fake.pf.pop(cur["name"], [])
            fake.aliases[uuid] = new
            fake.pf.setdefault(new["name"], [])
            fake.revisions += 1
        return 200, {"result": "saved"}

    # §4
    def a_reconfigure(self, method, params, post, qs, user):
        fake = self.server.fake
        if method != "POST":
            return 200, {"status": "failed"}
        delay = fake.cfg["reconfigure_delay"]
        if delay:
            time.sleep(delay)
        with fake.lock:
            if fake.cfg["reconfigure_fail"]:
                fake.cfg["reconfigure_fail"] -= 1
                _, a = next(((u, a) for u, a in fake.aliases.items() if a["type"] == "host"),
                            (None, {"name": "?"}))
                raise UserException("Error loading alias [%s]: cannot define table %s: Cannot "
                                    "allocate memory {current_size: 0, new_size: 1}"
                                    % (a["name"], a["name"]), "Alias")
            if fake.cfg["lock_busy"]:
                fake.pending_cron = True  # flock -n -E 0: ok, nothing done
            else:
                fake.refresh_tables()
        return 200, {"status": "ok"}

    # §5
    def a_aliases(self, method, params, post, qs, user):
        fake = self.server.fake
        with fake.lock:
            return 200, sorted(fake.pf.keys())

    def a_list(self, method, params, post, qs, user):
        fake = self.server.fake
        with fake.lock:
            rows = [{"ip": ip} for ip in fake.pf.get(params[0], [])]
        return 200, {"total": len(rows), "rowCount": len(rows), "current": 1, "rows": rows}

    def a_add(self, method, params, post, qs, user):
        fake = self.server.fake
        addr = post.get("address")
        if method != "POST" or not isinstance(addr, str) or not addr:
            return 200, {"status": "failed"}
        if re.search(r"[^0-9a-f:./_]", addr):
            return 200, {"status": "not_an_address"}
        with fake.lock:
            u, a = fake.by_name(params[0])
            if a is None:
                return 200, {"status": "failed", "status_msg": "nonexistent alias " + params[0]}
            if user.get("readonly"):
                raise UserException("User %s denied for write access (user-config-readonly set)"
                                    % user["user"], "General access")
            if a["type"] in ("host", "network"):
                entry = addr
                if a["type"] == "network" and "/" not in addr:
                    entry += "/128" if ":" in addr else "/32"
                a["content"] = entry if not a["content"] else a["content"] + "\n" + entry
                fake.revisions += 1
            table = fake.pf.setdefault(a["name"], [])
            if addr not in table:
                table.append(addr)
                table.sort()
        return 200, {"status": "done"}

    def a_delete(self, method, params, post, qs, user):
        fake = self.server.fake
        addr = post.get("address")
        if method != "POST" or not isinstance(addr, str) or not addr:
            return 200, {"status": "failed"}
        with fake.lock:
            u, a = fake.by_name(params[0])
            if a is not None:
                if user.get("readonly"):
                    raise UserException("User %s denied for write access "
                                        "(user-config-readonly set)" % user["user"],
                                        "General access")
                if a["type"] in ("host", "network"):
                    drop = {addr, addr + "/32", addr + "/128"}
                    items = [i for i in a["content"].split("\n") if i and i not in drop]
                    a["content"] = "\n".join(items)
                    fake.revisions += 1
                table = fake.pf.get(a["name"], [])
                if addr in table:
                    table.remove(addr)
        return 200, {"status": "done"}

    def a_flush(self, method, params, post, qs, user):
        fake = self.server.fake
        if method != "POST":
            return 200, {"status": "failed"}
        with fake.lock:
            if params[0] in fake.pf:
                fake.pf[params[0]] = []  # runtime only: config untouched
        return 200, {"status": "done"}

    def a_find_references(self, method, params, post, qs, user):
        fake = self.server.fake
        ip = post.get("ip")
        if method != "POST" or not isinstance(ip, str) or not ip:
            return 200, {"status": "IP parameter not specified!"}
        if re.search(r"[^0-9a-f:./_]", ip):
            return 200, {"status": "Not an IP address!"}
        if not is_ip(ip):
            return 200, {"status": "Invalid IP specified!"}
        with fake.lock:
            matches = sorted(t for t, ips in fake.pf.items() if ip in ips)
        return 200, {"status": "ok", "matches": matches}

    # §8
    def a_log(self, method, params, post, qs, user):
        fake = self.server.fake
        if method != "GET":
            self.send(200, None)
            return None
        limit = int(qs.get("limit", "1000") or 1000)
        digest = qs.get("digest", "")
        out = []
        with fake.lock:
            for rec in reversed(fake.log_records):
                out.append(rec)
                if len(out) >= limit or (digest and rec["__digest__"] == digest):
                    break
        return 200, out

    # ---- test control ------------------------------------------------------
    def control(self, method, what, raw_body):
        fake = self.server.fake
        try:
            body = json.loads(raw_body) if raw_body else {}
        except ValueError:
            return self.send(400, {"error": "bad json"})
        with fake.lock:
            if what == "state" and method == "GET":
                aliases = {u: {k: v for k, v in a.items() if k != "static"}
                           for u, a in fake.aliases.items() if not a.get("static")}
                return self.send(200, {"aliases": aliases, "pf": fake.pf, "dns": fake.dns,
                                       "calls": fake.calls, "revisions": fake.revisions,
                                       "pending_cron": fake.pending_cron})
            if what == "config" and method == "POST":
                for k, v in body.items():
                    if k == "dns":
                        fake.dns = {n.lower(): list(ips) for n, ips in v.items()}
                    elif k == "users":
                        fake.users.update(v)
                    elif k in ("drop", "drop_after", "cut", "cut_after", "malformed"):
                        fake.cfg[k].update(v)
                    elif k in fake.cfg:
                        fake.cfg[k] = v
                    else:
                        return self.send(400, {"error": "unknown setting " + k})
                return self.send(200, {"ok": True})
            if what == "alias" and method == "POST":
                if "set" in body:  # an out-of-band edit, unvalidated (config.xml by hand)
                    u, a = fake.by_name(body["name"])
                    if a:
                        a.update(body["set"])
                    return self.send(200, {"updated": bool(a)})
                if body.get("delete"):
                    u, _ = fake.by_name(body["name"])
                    if u:
                        del fake.aliases[u]
                    return self.send(200, {"deleted": bool(u)})
                return self.send(200, {"uuid": fake.add_alias(body)})
            if what == "cron" and method == "POST":
                fake.refresh_tables()
                return self.send(200, {"ok": True})
            if what == "log" and method == "POST":
                for r in body.get("records", []):
                    r = {k: str(v) for k, v in r.items()}
                    r["__digest__"] = hashlib.md5(json.dumps(r, sort_keys=True).encode()
                                                  ).hexdigest()
                    r.setdefault("__timestamp__", time.strftime("%Y-%m-%dT%H:%M:%S"))
                    fake.log_records.append(r)
                return self.send(200, {"ok": True})
            if what == "reset" and method == "POST":
                fake.calls = []
                return self.send(200, {"ok": True})
        return self.send(404, {"error": "no such control"})


class TLSServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, addr, handler, ctx, fake):
        super().__init__(addr, handler)
        self.ctx, self.fake = ctx, fake

    def finish_request(self, request, client_address):
        # the handshake runs in the request's thread: a client that stalls or
        # rejects our certificate cannot hold up the accept loop
        if self.ctx is not None:
            try:
                request = self.ctx.wrap_socket(request, server_side=True)
            except (ssl.SSLError, OSError):
                return
        self.RequestHandlerClass(request, client_address, self)

    def handle_error(self, request, client_address):
        pass  # a client that went away mid-request is routine here


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("--plain-http", action="store_true", help="no TLS (fake self-tests only)")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--alias", default="llm_approved_domains")
    args = ap.parse_args()
    ctx = None
    if not args.plain_http:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.cert, args.key)
    srv = TLSServer(("127.0.0.1", args.port), Handler, ctx, Fake(args.alias))
    print("PORT %d" % srv.server_address[1], flush=True)
    try:
        srv.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
