"""fm_app — the fake's application layer: users, channels, posts, reactions,
direct channels, button clicks; every write publishes the WebSocket events
the real server publishes (reference §1.3, §2, §4).

Errors are raised as fm_util.AppError. Permission rules are those of a plain
team member: channel members may read/post/react/click; team members may read
(but not post in) open channels they have not joined; nobody may edit or
delete another user's post.
"""

import asyncio
import base64
import copy
import os
import re

import aiohttp

from fm_model import (ALICE_ID, BOB_ID, BOT_ID, CAROL_ID, OTHER_ID,
                      SEED_CHANNELS, SEED_USERS, TEAM_ID, TOWN_ID,
                      attachments_equal, explicit_mentions, find_action,
                      make_channel, make_team, make_user, new_post,
                      parse_hashtags, post_json, post_out, pre_commit_props,
                      reaction_out)
from fm_util import (MAX_FILE_IDS_RUNES, MAX_POST_RUNES, MAX_PROPS_RUNES,
                     AppError, gojson, invalid_body, is_valid_id, new_id,
                     now_ms, parse_json_body, permission_error)

POST_TYPES_ALLOWED = ("", "slack_attachment")
EMOJI_RE = re.compile(r"^[a-zA-Z0-9\-\+_]+$")
SLACK_LINK = re.compile(r"<([^<\|]+)\|([^>]+)>")
PENDING_TTL_MS = 30000
RETAIN_KEYS = ("from_webhook", "override_username", "override_icon_url")


class Event:
    """A model.WebSocketEvent. precomputed events (every hub broadcast) are
    written as {"event": ..., "data": ..., "broadcast": ..., "seq": N} with
    spaces; others (hello) compactly with a trailing newline."""

    __slots__ = ("name", "data", "broadcast", "precomputed", "hook")

    def __init__(self, name, data, broadcast, precomputed=True, hook=None):
        self.name = name
        self.data = data
        self.broadcast = broadcast
        self.precomputed = precomputed
        self.hook = hook

    def to_dict(self):
        return {"event": self.name, "data": self.data,
                "broadcast": self.broadcast}


def broadcast_to(user_id="", channel_id="", team_id="", omit_users=None):
    return {"omit_users": omit_users, "user_id": user_id,
            "channel_id": channel_id, "team_id": team_id,
            "connection_id": "", "omit_connection_id": ""}


def _check_type(body, key, types, name="post"):
    v = body.get(key)
    if v is not None and (not isinstance(v, types) or isinstance(v, bool) and bool not in types):
        raise invalid_body(name)


def check_post_body(body, name="post"):
    """json.Unmarshal into model.Post: a type mismatch is a decode error."""
    if not isinstance(body, dict):
        raise invalid_body(name)
    for key in ("id", "user_id", "channel_id", "root_id", "message", "type",
                "pending_post_id", "original_id", "hashtags"):
        _check_type(body, key, (str,), name)
    for key in ("is_pinned", "has_reactions"):
        _check_type(body, key, (bool,), name)
    for key in ("create_at", "update_at", "edit_at", "delete_at"):
        _check_type(body, key, (int,), name)
    _check_type(body, "props", (dict,), name)
    _check_type(body, "file_ids", (list,), name)
    if isinstance(body.get("file_ids"), list) and \
            not all(isinstance(x, str) for x in body["file_ids"]):
        raise invalid_body(name)


class App:
    def __init__(self, hub, integration_timeout=30.0):
        self.hub = hub
        self.integration_timeout = integration_timeout
        self.http = None            # aiohttp.ClientSession, made on start()
        self.reset()

    async def start(self):
        self.http = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=self.integration_timeout,
                                          connect=3),
            headers={"User-Agent": "Mattermost-Bot/1.1"},
            auto_decompress=True)

    async def close(self):
        if self.http is not None:
            await self.http.close()

    # ------------------------------------------------------------------ data

    def reset(self):
        t = now_ms()
        self.team = make_team(t)
        self.users, self.tokens, self.by_name = {}, {}, {}
        for username, uid, token, is_bot in SEED_USERS:
            self.users[uid] = make_user(username, uid, is_bot, t)
            self.tokens[token] = uid
            self.by_name[username] = uid
        self.team_members = set(self.users)
        self.channels, self.members = {}, {}
        for name, cid, ctype, display, members in SEED_CHANNELS:
            self.channels[cid] = make_channel(cid, TEAM_ID, ctype, display,
                                              name, ALICE_ID, t)
            self.members[cid] = set(members)
        self.posts = {}             # id -> stored post, history rows included
        self.reactions = {}         # post id -> [reaction]
        self.pending = {}           # (user id, pending_post_id) -> (post id, ms)
        self.ephemerals = []        # every ephemeral post sent: {user_id, post}
        self.events = []            # every published event (for /_fake/events)

    def seed(self):
        users = {}
        for username, uid, token, is_bot in SEED_USERS:
            users[username] = {"id": uid, "username": username,
                               "token": token, "is_bot": is_bot}
        channels = {}
        for name, cid, ctype, display, _ in SEED_CHANNELS:
            channels[name] = {"id": cid, "type": ctype, "display_name": display,
                              "members": sorted(
                                  self.users[u]["username"]
                                  for u in self.members.get(cid, ()))}
        return {"team_id": TEAM_ID, "team_name": self.team["name"],
                "bot_id": BOT_ID, "bot_token": "bot-token",
                "alice_id": ALICE_ID, "bob_id": BOB_ID, "carol_id": CAROL_ID,
                "town_id": TOWN_ID, "other_id": OTHER_ID,
                "users": users, "channels": channels}

    def user_ref(self, ref):
        """A user given by username or id (control endpoints)."""
        if ref in self.users:
            return ref
        return self.by_name.get(ref)

    def publish(self, ev):
        self.events.append(ev)
        self.hub.broadcast(ev)

    # ----------------------------------------------------------- permissions

    def is_member(self, cid, uid):
        return uid in self.members.get(cid, ())

    def can_read_channel(self, uid, ch):
        if self.is_member(ch["id"], uid):
            return True
        return ch["type"] == "O" and ch["team_id"] == TEAM_ID and \
            uid in self.team_members

    def live_post(self, pid):
        """GetSinglePost(includeDeleted=false): history rows and deleted
        posts are not found."""
        p = self.posts.get(pid)
        if p is None or p["delete_at"] != 0:
            return None
        return p

    def reactions_for(self, pid):
        return [reaction_out(r) for r in self.reactions.get(pid, [])]

    def out(self, p):
        return post_out(p, True, self.reactions_for(p["id"]))

    def post_str(self, p):
        return post_json(p, self.reactions_for(p["id"]))

    # ----------------------------------------------------------------- posts

    def _is_valid(self, p):
        """Post.IsValid(maxPostSize)."""
        if p["root_id"] and not is_valid_id(p["root_id"]):
            raise AppError(400, "model.post.is_valid.root_id.app_error")
        n = len(p["message"])
        if n > MAX_POST_RUNES:
            raise AppError(400, "model.post.is_valid.message_length.app_error",
                           {"Length": n, "MaxLength": MAX_POST_RUNES})
        t = p["type"]
        if not (t in POST_TYPES_ALLOWED or t.startswith("system_") or
                t.startswith("custom_")):
            raise AppError(400, "model.post.is_valid.type.app_error")
        if len(gojson(p["file_ids"])) > MAX_FILE_IDS_RUNES:
            raise AppError(400, "model.post.is_valid.file_ids.app_error")
        if len(gojson(p["props"])) > MAX_PROPS_RUNES:
            raise AppError(400, "model.post.is_valid.props.app_error")

    def create_post(self, uid, body, set_online=True):
        """POST /api/v4/posts as user uid. Returns the stored post and
        whether it was newly created (False: pending_post_id duplicate)."""
        check_post_body(body)
        cid = body.get("channel_id") or ""
        ch = self.channels.get(cid)
        if ch is None or not self.is_member(cid, uid):
            raise permission_error()
        if body.get("id"):
            raise AppError(400, "app.post.save.existing.app_error")
        root_id = body.get("root_id") or ""
        if root_id:
            root = self.live_post(root_id)
            if root is None or root["root_id"]:
                raise AppError(400, "api.post.create_post.root_id.app_error")
            if root["channel_id"] != cid:
                raise AppError(500, "api.post.create_post.channel_root_id.app_error")
        pending = body.get("pending_post_id") or ""
        t = now_ms()
        if pending:
            hit = self.pending.get((uid, pending))
            if hit and t - hit[1] < PENDING_TTL_MS and hit[0] in self.posts:
                return self.posts[hit[0]], False
        props = copy.deepcopy(body.get("props")) or {}
        if self.users[uid].get("is_bot"):
            props["from_bot"] = "true"
        props.pop("add_channel_member", None)
        p = new_post(uid, cid, body.get("message") or "", root_id, props,
                     body.get("type") or "", copy.deepcopy(body.get("file_ids")),
                     pending, t)
        p["is_pinned"] = bool(body.get("is_pinned"))
        pre_commit_props(p["props"])
        self._is_valid(p)
        self.posts[p["id"]] = p
        if pending:
            self.pending[(uid, pending)] = (p["id"], t)
        if root_id:
            root = self.posts[root_id]
            root["reply_count"] += 1
            root["last_reply_at"] = t
            root["update_at"] = max(root["update_at"], t)
            p["reply_count"] = root["reply_count"]
        ch["last_post_at"] = t
        ch["total_msg_count"] += 1
        if not root_id:
            ch["last_root_post_at"] = t
            ch["total_msg_count_root"] += 1
        self._publish_posted(p, ch, set_online)
        return p, True

    def _publish_posted(self, p, ch, set_online):
        sender = self.users[p["user_id"]]
        members = self.members.get(ch["id"], set())
        if ch["type"] == "D":
            display = "@" + sender["username"]
            mentioned = set(members) - {p["user_id"]}
        else:
            display = ch["display_name"]
            names = {self.users[u]["username"]: u for u in members}
            found, wide = explicit_mentions(p["message"], names)
            mentioned = {names[n] for n in found}
            if wide:
                mentioned |= set(members)
            mentioned.discard(p["user_id"])
        data = {"channel_display_name": display,
                "channel_name": ch["name"], "channel_type": ch["type"],
                "post": self.post_str(p),
                "sender_name": "@" + sender["username"],
                "set_online": bool(set_online), "team_id": ch["team_id"]}
        self.publish(Event("posted", data, broadcast_to(channel_id=ch["id"]),
                           hook=("posted", mentioned, ch["type"] == "D")))

    def update_post(self, received, safe_update=False):
        """app.UpdatePost: message replaced (edit_at set when it changes);
        unless safe_update, props replaced wholesale, is_pinned and
        has_reactions taken from received, file_ids kept when null. Stores
        the old version as a deleted history row, emits post_edited."""
        pid = received["id"]
        old = self.live_post(pid)
        if old is None:
            if pid in self.posts:
                raise AppError(400, "api.post.update_post.permissions_details.app_error",
                               {"PostId": pid})
            raise AppError(404, "app.post.get.app_error")
        new = copy.deepcopy(old)
        msg = received.get("message") or ""
        if new["message"] != msg:
            new["message"] = msg
            new["edit_at"] = now_ms()
            new["hashtags"] = parse_hashtags(msg)
        if not safe_update:
            new["is_pinned"] = bool(received.get("is_pinned"))
            new["has_reactions"] = bool(received.get("has_reactions"))
            props = copy.deepcopy(received.get("props"))
            if not isinstance(props, dict):
                props = {}
            props.pop("add_channel_member", None)
            props.pop("force_notification", None)
            new["props"] = props
            if received.get("file_ids") is not None:
                new["file_ids"] = copy.deepcopy(received["file_ids"])
        if new["edit_at"] == old["edit_at"] and (
                old["file_ids"] != new["file_ids"] or
                not attachments_equal(old["props"], new["props"])):
            new["edit_at"] = now_ms()
        t = now_ms()
        new["update_at"] = t
        pre_commit_props(new["props"])
        self._is_valid(new)
        hist = copy.deepcopy(old)
        hist["id"] = new_id()
        hist["original_id"] = pid
        hist["delete_at"] = t
        hist["update_at"] = t
        self.posts[pid] = new
        self.posts[hist["id"]] = hist
        self.publish(Event("post_edited", {"post": self.post_str(new)},
                           broadcast_to(channel_id=new["channel_id"])))
        return new

    def _editable(self, uid, pid):
        """updatePost/patchPost permission checks (edit_post on the channel,
        edit_others_posts for someone else's post: never granted here)."""
        p = self.posts.get(pid)
        if p is None or not self.is_member(p["channel_id"], uid):
            raise permission_error()
        p = self.live_post(pid)
        if p is None:
            raise permission_error()
        if p["user_id"] != uid:
            raise permission_error()
        return p

    def put_post(self, uid, pid, body):
        check_post_body(body)
        if body.get("id") != pid:
            raise invalid_body("id")
        self._editable(uid, pid)
        received = copy.deepcopy(body)
        received["id"] = pid
        return self.update_post(received, safe_update=False)

    def patch_post(self, uid, pid, patch):
        if not isinstance(patch, dict):
            raise invalid_body("post")
        _check_type(patch, "message", (str,))
        _check_type(patch, "props", (dict,))
        _check_type(patch, "file_ids", (list,))
        _check_type(patch, "is_pinned", (bool,))
        _check_type(patch, "has_reactions", (bool,))
        p = self._editable(uid, pid)
        received = copy.deepcopy(p)
        for key in ("is_pinned", "message", "props", "file_ids", "has_reactions"):
            if patch.get(key) is not None:
                received[key] = copy.deepcopy(patch[key])
        return self.update_post(received, safe_update=False)

    def delete_post(self, uid, pid):
        p = self._editable(uid, pid)
        t = now_ms()
        for q in self.posts.values():
            if q["delete_at"] == 0 and (q["id"] == pid or q["root_id"] == pid):
                q["delete_at"] = t
                q["update_at"] = t
        if p["root_id"] and p["root_id"] in self.posts:
            root = self.posts[p["root_id"]]
            root["reply_count"] = max(0, root["reply_count"] - 1)
        self.publish(Event("post_deleted",
                           {"delete_by": uid, "post": self.post_str(p)},
                           broadcast_to(channel_id=p["channel_id"])))

    def get_post(self, uid, pid):
        p = self.live_post(pid)
        if p is None:
            raise AppError(404, "app.post.get.app_error")
        if not self.can_read_channel(uid, self.channels[p["channel_id"]]):
            raise permission_error()
        return p

    def _post_list(self, posts, order_ids, extra=None):
        d = {"order": order_ids,
             "posts": {p["id"]: self.out(p) for p in posts},
             "next_post_id": "", "prev_post_id": ""}
        if extra:
            d.update(extra)
        d["first_inaccessible_post_time"] = 0
        return d

    def posts_since(self, cid, since):
        """GetPostsSince: every row of the channel with update_at > since,
        deleted posts and edit-history rows included, plus their roots;
        newest first, at most 1000 (+roots)."""
        rows = [p for p in self.posts.values()
                if p["channel_id"] == cid and p["update_at"] > since]
        rows.sort(key=lambda p: p["create_at"])
        rows = rows[:1000]
        ids = {p["id"] for p in rows}
        for p in list(rows):
            r = p["root_id"]
            if r and r not in ids and r in self.posts:
                rows.append(self.posts[r])
                ids.add(r)
        rows.sort(key=lambda p: p["create_at"], reverse=True)
        return self._post_list(rows, [p["id"] for p in rows])

    def posts_page(self, cid, page, per_page):
        live = [p for p in self.posts.values()
                if p["channel_id"] == cid and p["delete_at"] == 0]
        live.sort(key=lambda p: p["create_at"], reverse=True)
        chunk = live[page * per_page:(page + 1) * per_page]
        ids = {p["id"] for p in chunk}
        parents = []
        for p in chunk:
            r = p["root_id"]
            if r and r not in ids and r in self.posts:
                parents.append(self.posts[r])
                ids.add(r)
        return self._post_list(chunk + parents, [p["id"] for p in chunk],
                               {"has_next": len(live) > (page + 1) * per_page})

    def thread(self, uid, pid):
        p = self.get_post(uid, pid)
        root_id = p["root_id"] or p["id"]
        rows = [q for q in self.posts.values() if q["delete_at"] == 0 and
                (q["id"] == root_id or q["root_id"] == root_id)]
        rows.sort(key=lambda q: q["create_at"], reverse=True)
        return self._post_list(rows, [q["id"] for q in rows])

    # ------------------------------------------------------------- reactions

    def save_reaction(self, uid, body):
        if not isinstance(body, dict):
            raise invalid_body("reaction")
        for key in ("user_id", "post_id", "emoji_name"):
            _check_type(body, key, (str,), "reaction")
        ruid, pid = body.get("user_id") or "", body.get("post_id") or ""
        emoji = body.get("emoji_name") or ""
        if not is_valid_id(ruid) or not is_valid_id(pid) or not emoji or \
                len(emoji) > 64:
            raise AppError(400, "api.reaction.save_reaction.invalid.app_error")
        if ruid != uid:
            raise AppError(403, "api.reaction.save_reaction.user_id.app_error")
        p = self.posts.get(pid)
        if p is None or not self.is_member(p["channel_id"], uid):
            raise permission_error()
        if not EMOJI_RE.match(emoji):
            raise AppError(400, "model.reaction.is_valid.emoji_name.app_error")
        if self.live_post(pid) is None:
            raise AppError(404, "app.post.get.app_error")
        t = now_ms()
        lst = self.reactions.setdefault(pid, [])
        r = next((x for x in lst if x["user_id"] == uid and
                  x["emoji_name"] == emoji), None)
        if r is None:
            r = {"user_id": uid, "post_id": pid, "emoji_name": emoji,
                 "create_at": t, "update_at": t, "delete_at": 0,
                 "channel_id": p["channel_id"]}
            lst.append(r)
        p["has_reactions"] = True
        p["update_at"] = t
        self.publish(Event("reaction_added", {"reaction": gojson(reaction_out(r))},
                           broadcast_to(channel_id=p["channel_id"])))
        return reaction_out(r)

    def delete_reaction(self, uid, ruid, pid, emoji):
        if ruid != uid:
            raise AppError(403, "api.reaction.delete_reaction.user_id.app_error")
        p = self.posts.get(pid)
        if p is None or not self.is_member(p["channel_id"], uid):
            raise permission_error()
        lst = self.reactions.get(pid, [])
        r = next((x for x in lst if x["user_id"] == uid and
                  x["emoji_name"] == emoji), None)
        if r is None:
            return
        lst.remove(r)
        t = now_ms()
        p["has_reactions"] = bool(lst)
        p["update_at"] = t
        gone = dict(r, delete_at=t, update_at=t)
        self.publish(Event("reaction_removed", {"reaction": gojson(reaction_out(gone))},
                           broadcast_to(channel_id=p["channel_id"])))

    # ------------------------------------------------------ direct channels

    def direct_channel(self, uid, ids):
        if not isinstance(ids, list) or len(ids) != 2 or \
                not all(isinstance(i, str) for i in ids):
            raise invalid_body("user_ids")
        for i in ids:
            if not is_valid_id(i):
                raise invalid_body("user_id")
        if uid not in ids:
            raise permission_error()
        for i in ids:
            if i not in self.users:
                raise AppError(400, "api.channel.create_direct_channel.invalid_user.app_error")
        a, b = sorted(ids)
        name = a + "__" + b
        for ch in self.channels.values():
            if ch["type"] == "D" and ch["name"] == name:
                return ch
        t = now_ms()
        ch = make_channel(new_id(), "", "D", "", name, uid, t)
        self.channels[ch["id"]] = ch
        self.members[ch["id"]] = {a, b}
        other = b if a == uid else a
        self.publish(Event("direct_added", {"creator_id": uid, "teammate_id": other},
                           broadcast_to(channel_id=ch["id"])))
        return ch

    # ----------------------------------------------------------- ephemeral

    def send_ephemeral(self, uid, post):
        post["type"] = "system_ephemeral"
        post["id"] = post.get("id") or new_id()
        post["create_at"] = post.get("create_at") or now_ms()
        pre_commit_props(post["props"])
        self.ephemerals.append({"user_id": uid, "post": copy.deepcopy(post)})
        self.publish(Event("ephemeral_message", {"post": post_json(post)},
                           broadcast_to(user_id=uid,
                                        channel_id=post["channel_id"])))

    # ------------------------------------------------------------- buttons

    async def do_post_action(self, uid, pid, aid, selected_option="",
                             cookie="", record=None):
        """POST /api/v4/posts/{pid}/actions/{aid} (DoPostActionWithCookie).
        Returns the client trigger id. record (a dict), if given, receives
        what was sent to the integration and what it answered."""
        if record is None:
            record = {}
        if cookie:
            # Only ephemeral posts carry cookies and the fake's never have
            # actions: any cookie fails to decrypt.
            raise AppError(400, "api.post.do_action.action_integration.app_error")
        p = self.posts.get(pid)
        if p is None or not self.is_member(p["channel_id"], uid):
            raise permission_error()
        p = self.live_post(pid)
        if p is None:
            raise AppError(404, "app.post.get.app_error")
        ch = self.channels[p["channel_id"]]
        action = find_action(p["props"], aid)
        if action is None or action.get("integration") is None:
            raise AppError(404, "api.post.do_action.action_id.app_error")
        integ = action["integration"]
        retain, remove = {}, []
        for key in RETAIN_KEYS:
            if key in p["props"]:
                retain[key] = copy.deepcopy(p["props"][key])
            else:
                remove.append(key)
        original_props = copy.deepcopy(p["props"])
        original_pinned, original_reactions = p["is_pinned"], p["has_reactions"]
        root_id = p["root_id"] or p["id"]
        context = copy.deepcopy(integ.get("context"))
        data_source = ""
        if action.get("type", "") == "select" and selected_option:
            context = context or {}
            data_source = action.get("data_source", "")
            context["selected_option"] = selected_option
        client_trigger = new_id()
        trigger_data = "%s:%s:%d:" % (client_trigger, uid, now_ms())
        trigger_id = base64.b64encode(
            (trigger_data + base64.b64encode(os.urandom(70)).decode()).encode()
        ).decode()
        upstream = {"user_id": uid, "user_name": self.users[uid]["username"],
                    "channel_id": p["channel_id"], "channel_name": ch["name"],
                    "team_id": ch["team_id"],
                    "team_domain": self.team["name"] if ch["team_id"] else "",
                    "post_id": pid, "trigger_id": trigger_id,
                    "type": action.get("type", ""), "data_source": data_source}
        if context:
            upstream["context"] = context
        record["request"] = upstream
        url = integ.get("url", "")
        if url.startswith("rpc://") or url.lstrip("/").startswith("plugins/"):
            raise AppError(400, "api.post.do_action.action_integration.app_error",
                           detail="plugins are not supported by the fake")
        try:
            async with self.http.post(
                    url, data=gojson(upstream).encode(),
                    headers={"Content-Type": "application/json",
                             "Accept": "application/json"}) as resp:
                status = resp.status
                raw = await resp.read()
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as e:
            record["error"] = repr(e)
            raise AppError(400, "api.post.do_action.action_integration.app_error",
                           detail="err=%r" % e)
        record["status"] = status
        record["body"] = raw.decode("utf-8", "replace")
        if status != 200:
            raise AppError(400, "api.post.do_action.action_integration.app_error",
                           detail="status=%d" % status)
        response = {}
        if raw:
            try:
                response = parse_json_body(raw)
            except ValueError:
                raise AppError(400, "api.post.do_action.action_integration.app_error")
            if response is None:
                response = {}
            if not isinstance(response, dict):
                raise AppError(400, "api.post.do_action.action_integration.app_error")
            update = response.get("update")
            try:
                if update is not None:
                    check_post_body(update)
                _check_type(response, "ephemeral_text", (str,))
                _check_type(response, "skip_slack_parsing", (bool,))
            except AppError:
                raise AppError(400, "api.post.do_action.action_integration.app_error")
        update = response.get("update")
        if update is not None:
            received = copy.deepcopy(update)
            received["id"] = pid
            if received.get("props") is None:
                received["props"] = original_props
            else:
                received["props"].update(copy.deepcopy(retain))
                for key in remove:
                    received["props"].pop(key, None)
            received["is_pinned"] = original_pinned
            received["has_reactions"] = original_reactions
            self.update_post(received, safe_update=False)
        text = response.get("ephemeral_text") or ""
        if text:
            if not response.get("skip_slack_parsing"):
                text = SLACK_LINK.sub(r"[\2](\1)", text)
            eph = new_post(uid, p["channel_id"], text, root_id,
                           copy.deepcopy(retain))
            eph["update_at"] = 0
            self.send_ephemeral(uid, eph)
        return client_trigger
