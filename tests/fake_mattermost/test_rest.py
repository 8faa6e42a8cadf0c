"""The fake's REST behaviour (reference §2, §3; checklist items 11–18)."""

import asyncio
import json
import unittest

from fmtest import FakeCase


class Errors(FakeCase):

    async def test_app_error_shape_and_headers(self):
        st, h, body = await self.api("GET", "/api/v4/users/me")
        self.assertEqual(st, 401)
        self.assertEqual(set(body), {"id", "message", "detailed_error",
                                     "request_id", "status_code"})
        self.assertEqual(body["id"], "api.context.session_expired.app_error")
        self.assertEqual(body["detailed_error"], "")
        self.assertEqual(body["status_code"], 401)
        self.assertEqual(len(body["request_id"]), 26)
        self.assertEqual(h["X-Request-ID"], body["request_id"])
        self.assertTrue(h["X-Version-ID"].startswith("9.11.0."))
        self.assertEqual(h["Content-Type"], "application/json")
        self.assertEqual(h["X-Content-Type-Options"], "nosniff")
        self.assertEqual(h["Referrer-Policy"], "no-referrer")
        self.assertEqual(h["Expires"], "0")
        st, h, _ = await self.api("POST", "/api/v4/posts", "bot-token",
                                  {"channel_id": self.town, "message": "x"})
        self.assertEqual(st, 201)
        self.assertIn("X-Request-ID", h)
        self.assertNotIn("Expires", h)        # only on GET

    async def test_bad_token(self):
        st, _, body = await self.api("GET", "/api/v4/users/me", "wrong")
        self.assertEqual((st, body["id"]), (401, "api.context.session_expired.app_error"))
        st, _, body = await self.api("GET", "/api/v4/users/me",
                                     headers={"Authorization": "Token bob-token"})
        self.assertEqual((st, body["username"]), (200, "bob"))

    async def test_cookie_needs_csrf_for_writes(self):
        h = {"Cookie": "MMAUTHTOKEN=alice-token"}
        st, _, body = await self.api("GET", "/api/v4/users/me", headers=h)
        self.assertEqual((st, body["username"]), (200, "alice"))
        body = {"channel_id": self.town, "message": "c"}
        st, _, _ = await self.api("POST", "/api/v4/posts", headers=h, body=body)
        self.assertEqual(st, 401)
        h["X-Requested-With"] = "XMLHttpRequest"
        st, _, _ = await self.api("POST", "/api/v4/posts", headers=h, body=body)
        self.assertEqual(st, 201)

    async def test_unknown_paths(self):
        st, h, body = await self.api("GET", "/api/v4/no/such/thing", "bot-token")
        self.assertEqual(st, 404)
        self.assertEqual(body["id"], "api.context.404.app_error")
        self.assertIn("/api/v4/no/such/thing", body["detailed_error"])
        # ids are [A-Za-z0-9]+ in routes: anything else never matches
        st, _, body = await self.api("GET", "/api/v4/posts/abc_def", "bot-token")
        self.assertEqual((st, body["id"]), (404, "api.context.404.app_error"))
        # right shape, wrong length: invalid URL parameter
        st, _, body = await self.api("GET", "/api/v4/posts/abc", "bot-token")
        self.assertEqual((st, body["id"]), (400, "api.context.invalid_url_param.app_error"))
        st, _, _ = await self.api("DELETE", "/api/v4/users/me", "bot-token")
        self.assertEqual(st, 405)
        st, _, text = await self.api("GET", "/nope")
        self.assertEqual((st, text), (404, "404 page not found\n"))

    async def test_bad_bodies(self):
        st, _, body = await self.api("POST", "/api/v4/posts", "bot-token",
                                     raw="{not json", headers={"Content-Type": "application/json"})
        self.assertEqual((st, body["id"]), (400, "api.context.invalid_body_param.app_error"))
        self.assertIn("post", body["message"])
        st, _, body = await self.api("POST", "/api/v4/posts", "bot-token",
                                     {"channel_id": self.town, "message": 5})
        self.assertEqual(st, 400)
        big = {"channel_id": self.town, "message": "x", "props": {"p": "y" * 300600}}
        st, _, body = await self.api("POST", "/api/v4/posts", "bot-token", big)
        self.assertEqual((st, body["id"]), (413, "api.context.request_body_too_large.app_error"))

    async def test_forbidden(self):
        st, _, body = await self.api("POST", "/api/v4/posts", "carol-token",
                                     {"channel_id": self.town, "message": "hi"})
        self.assertEqual((st, body["id"]), (403, "api.context.permissions.app_error"))
        st, _, _ = await self.api("GET", "/api/v4/channels/%s/posts" % self.other,
                                  "alice-token")
        self.assertEqual(st, 403)
        # an open channel is readable by any team member
        st, _, _ = await self.api("GET", "/api/v4/channels/%s/posts" % self.town,
                                  "carol-token")
        self.assertEqual(st, 200)


class Posts(FakeCase):

    async def create(self, token, body):
        st, _, p = await self.api("POST", "/api/v4/posts", token, body)
        self.assertEqual(st, 201, p)
        return p

    async def stored(self, pid):
        st, d = await self.ctl("GET", "/_fake/posts")
        return next(p for p in d["posts"] if p["id"] == pid)

    async def test_create(self):
        p = await self.create("bot-token", {
            "channel_id": self.town, "message": " keep  spaces ",
            "user_id": self.alice_id,
            "props": {"attachments": [{"text": "approve?", "actions": [
                {"name": "Yes", "type": "button",
                 "integration": {"url": "http://127.0.0.1:9/cb",
                                 "context": {"secret": "k1"}}}]}]}})
        self.assertEqual(p["user_id"], self.bot_id)
        self.assertEqual(p["message"], " keep  spaces ")
        self.assertEqual(p["props"]["from_bot"], "true")
        act = p["props"]["attachments"][0]["actions"][0]
        self.assertEqual(len(act["id"]), 26)
        self.assertNotIn("integration", act)
        # attachments are re-typed as MessageAttachment
        self.assertEqual(p["props"]["attachments"][0]["fields"], None)
        self.assertEqual(p["props"]["attachments"][0]["title"], "")
        self.assertEqual(len(p["id"]), 26)
        self.assertEqual(p["create_at"], p["update_at"])
        s = await self.stored(p["id"])
        self.assertEqual(s["props"]["attachments"][0]["actions"][0]["integration"]["context"],
                         {"secret": "k1"})
        q = await self.create("alice-token", {"channel_id": self.town, "message": "x"})
        self.assertNotIn("from_bot", q["props"])

    async def test_message_length_limit(self):
        ok = "é" * 16383                # runes, not bytes
        await self.create("bot-token", {"channel_id": self.town, "message": ok})
        st, _, body = await self.api("POST", "/api/v4/posts", "bot-token",
                                     {"channel_id": self.town, "message": ok + "x"})
        self.assertEqual(st, 400)
        self.assertEqual(body["id"], "model.post.is_valid.message_length.app_error")
        p = await self.create("bot-token", {"channel_id": self.town, "message": "s"})
        st, _, body = await self.api("PUT", "/api/v4/posts/%s/patch" % p["id"],
                                     "bot-token", {"message": ok + "x"})
        self.assertEqual((st, body["id"]),
                         (400, "model.post.is_valid.message_length.app_error"))

    async def test_put_replaces_patch_updates(self):
        props = {"attachments": [{"text": "card", "actions": [
            {"id": "yes", "name": "Yes", "integration": {"url": "http://x/"}}]}],
            "k": "v"}
        p = await self.create("bot-token", {"channel_id": self.town,
                                            "message": "m1", "props": props})
        pid = p["id"]
        st, _, q = await self.api("PUT", "/api/v4/posts/%s/patch" % pid,
                                  "bot-token", {"message": "m2"})
        self.assertEqual(st, 200)
        self.assertEqual(q["message"], "m2")
        self.assertEqual(q["props"]["k"], "v")
        self.assertEqual(q["props"]["attachments"][0]["actions"][0]["id"], "yes")
        self.assertGreater(q["edit_at"], 0)
        st, _, q = await self.api("PUT", "/api/v4/posts/%s/patch" % pid,
                                  "bot-token", {"props": {"y": 2}})
        self.assertEqual(q["props"], {"y": 2})       # replaced, not merged
        self.assertEqual(q["message"], "m2")
        st, _, q = await self.api("PUT", "/api/v4/posts/%s/patch" % pid,
                                  "bot-token", {"props": None, "message": "m3"})
        self.assertEqual(q["props"], {"y": 2})       # null: untouched
        st, _, q = await self.api("PUT", "/api/v4/posts/%s" % pid, "bot-token",
                                  {"id": pid, "props": {"z": 1}})
        self.assertEqual(st, 200)
        self.assertEqual(q["message"], "")            # omitted message clears
        self.assertEqual(q["props"], {"z": 1})
        st, _, q = await self.api("PUT", "/api/v4/posts/%s" % pid, "bot-token",
                                  {"id": pid, "message": "m4"})
        self.assertEqual(q["props"], {})              # omitted props wipe
        st, _, body = await self.api("PUT", "/api/v4/posts/%s" % pid, "bot-token",
                                     {"id": "x" * 26, "message": "m5"})
        self.assertEqual((st, body["id"]), (400, "api.context.invalid_body_param.app_error"))
        st, _, _ = await self.api("PUT", "/api/v4/posts/%s/patch" % pid,
                                  "alice-token", {"message": "hijack"})
        self.assertEqual(st, 403)
        s = await self.stored(pid)
        self.assertEqual(s["edit_count"], 5)
        self.assertEqual([h["message"] for h in s["history"]],
                         ["m1", "m2", "m2", "m3", ""])

    async def test_since_sees_edits_and_deletes(self):
        a = await self.create("bot-token", {"channel_id": self.town, "message": "a"})
        b = await self.create("bot-token", {"channel_id": self.town, "message": "b"})
        st, _, lst = await self.api("GET", "/api/v4/channels/%s/posts?since=%d"
                                    % (self.town, b["create_at"]), "bot-token")
        self.assertEqual(lst["order"], [])
        since = b["create_at"]
        await self.api("PUT", "/api/v4/posts/%s/patch" % a["id"], "bot-token",
                       {"message": "a2"})
        st, _, _ = await self.api("DELETE", "/api/v4/posts/%s" % b["id"], "bot-token")
        self.assertEqual(st, 200)
        st, _, lst = await self.api("GET", "/api/v4/channels/%s/posts?since=%d"
                                    % (self.town, since), "bot-token")
        self.assertEqual(st, 200)
        self.assertEqual(set(lst), {"order", "posts", "next_post_id", "prev_post_id",
                                    "first_inaccessible_post_time"})
        posts = lst["posts"]
        self.assertEqual(posts[a["id"]]["message"], "a2")
        self.assertGreater(posts[b["id"]]["delete_at"], 0)
        hist = [p for p in posts.values() if p["original_id"] == a["id"]]
        self.assertEqual(len(hist), 1)
        self.assertEqual(hist[0]["message"], "a")
        self.assertGreater(hist[0]["delete_at"], 0)
        self.assertEqual(set(lst["order"]), set(posts))
        st, _, body = await self.api("GET", "/api/v4/channels/%s/posts?since=abc"
                                     % self.town, "bot-token")
        self.assertEqual(st, 400)
        # without since: live posts only, newest first
        st, _, lst = await self.api("GET", "/api/v4/channels/%s/posts" % self.town,
                                    "bot-token")
        self.assertEqual(lst["order"], [a["id"]])

    async def test_root_id_rules(self):
        root = await self.create("bot-token", {"channel_id": self.town, "message": "r"})
        reply = await self.create("bot-token", {"channel_id": self.town, "message": "re",
                                                "root_id": root["id"]})
        st, _, body = await self.api("POST", "/api/v4/posts", "bot-token",
                                     {"channel_id": self.town, "message": "rere",
                                      "root_id": reply["id"]})
        self.assertEqual((st, body["id"]), (400, "api.post.create_post.root_id.app_error"))
        st, _, body = await self.api("POST", "/api/v4/posts", "bot-token",
                                     {"channel_id": self.other, "message": "x",
                                      "root_id": root["id"]})
        self.assertEqual((st, body["id"]),
                         (500, "api.post.create_post.channel_root_id.app_error"))
        st, _, r = await self.api("GET", "/api/v4/posts/%s" % root["id"], "bot-token")
        self.assertEqual(r["reply_count"], 1)

    async def test_pending_post_id_dedup(self):
        body = {"channel_id": self.town, "message": "once",
                "pending_post_id": "%s:123" % self.bot_id}
        p1 = await self.create("bot-token", body)
        p2 = await self.create("bot-token", body)
        self.assertEqual(p1["id"], p2["id"])
        st, d = await self.ctl("GET", "/_fake/posts?channel_id=" + self.town)
        self.assertEqual(len(d["posts"]), 1)


class Others(FakeCase):

    async def test_users(self):
        st, _, me = await self.api("GET", "/api/v4/users/me", "bot-token")
        self.assertEqual((me["id"], me["username"], me["is_bot"]),
                         (self.bot_id, "claude", True))
        st, _, u = await self.api("GET", "/api/v4/users/%s" % self.alice_id, "bot-token")
        self.assertEqual(u["username"], "alice")
        st, _, u = await self.api("GET", "/api/v4/users/username/bob", "bot-token")
        self.assertEqual(u["id"], self.bob_id)
        st, _, body = await self.api("GET", "/api/v4/users/%s" % ("q" * 26), "bot-token")
        self.assertEqual((st, body["id"]), (404, "app.user.missing_account.const"))
        st, _, body = await self.api("GET", "/api/v4/users/username/nobody", "bot-token")
        self.assertEqual(st, 404)

    async def test_channels(self):
        st, _, ch = await self.api("GET", "/api/v4/channels/%s" % self.town, "bot-token")
        self.assertEqual((ch["name"], ch["type"]), ("town", "O"))
        st, _, ch = await self.api("GET", "/api/v4/teams/%s/channels/name/other"
                                   % self.seed["team_id"], "bot-token")
        self.assertEqual(ch["id"], self.other)
        st, _, _ = await self.api("GET", "/api/v4/channels/%s" % self.other, "alice-token")
        self.assertEqual(st, 403)
        st, _, m = await self.api("GET", "/api/v4/channels/%s/members/%s"
                                  % (self.town, self.alice_id), "bot-token")
        self.assertEqual(m["user_id"], self.alice_id)
        st, _, _ = await self.api("GET", "/api/v4/channels/%s/members/%s"
                                  % (self.town, self.carol_id), "bot-token")
        self.assertEqual(st, 404)

    async def test_direct_channel(self):
        st, _, ch = await self.api("POST", "/api/v4/channels/direct", "bot-token",
                                   [self.bot_id, self.carol_id])
        self.assertEqual(st, 201)
        self.assertEqual(ch["type"], "D")
        self.assertEqual(ch["name"], "__".join(sorted([self.bot_id, self.carol_id])))
        self.assertEqual(ch["team_id"], "")
        st, _, ch2 = await self.api("POST", "/api/v4/channels/direct", "bot-token",
                                    [self.carol_id, self.bot_id])
        self.assertEqual((st, ch2["id"]), (201, ch["id"]))
        st, _, _ = await self.api("POST", "/api/v4/channels/direct", "bot-token",
                                  [self.alice_id, self.carol_id])
        self.assertEqual(st, 403)
        st, _, _ = await self.api("POST", "/api/v4/channels/direct", "bot-token",
                                  [self.bot_id])
        self.assertEqual(st, 400)
        st, _, p = await self.api("POST", "/api/v4/posts", "bot-token",
                                  {"channel_id": ch["id"], "message": "hi carol"})
        self.assertEqual(st, 201)

    async def test_reactions(self):
        bot = await self.ws("bot-token")
        p = await self.post_as("alice", "react to me")
        await self.recv_event(bot, "posted")
        st, _, r = await self.api("POST", "/api/v4/reactions", "bot-token",
                                  {"user_id": self.bot_id, "post_id": p["id"],
                                   "emoji_name": "white_check_mark"})
        self.assertEqual(st, 200)
        self.assertEqual(r["emoji_name"], "white_check_mark")
        e = await self.recv_event(bot, "reaction_added")
        self.assertIsInstance(e["data"]["reaction"], str)
        self.assertEqual(json.loads(e["data"]["reaction"])["post_id"], p["id"])
        st, _, body = await self.api("POST", "/api/v4/reactions", "bot-token",
                                     {"user_id": self.alice_id, "post_id": p["id"],
                                      "emoji_name": "x"})
        self.assertEqual((st, body["id"]),
                         (403, "api.reaction.save_reaction.user_id.app_error"))
        st, _ = await self.ctl("POST", "/_fake/reaction", {"user": "alice",
                                                           "post_id": p["id"],
                                                           "emoji_name": "thumbsup"})
        self.assertEqual(st, 200)
        e = await self.recv_event(bot, "reaction_added")
        self.assertEqual(json.loads(e["data"]["reaction"])["user_id"], self.alice_id)
        st, _, lst = await self.api("GET", "/api/v4/posts/%s/reactions" % p["id"], "bot-token")
        self.assertEqual(len(lst), 2)


class RateLimit(FakeCase):

    async def test_off_by_default(self):
        st, h, _ = await self.api("GET", "/api/v4/users/me", "bot-token")
        self.assertEqual(st, 200)
        self.assertNotIn("X-RateLimit-Limit", h)

    async def test_gcra(self):
        st, cfg = await self.ctl("POST", "/_fake/ratelimit",
                                 {"enabled": True, "per_sec": 10, "burst": 5})
        self.assertEqual(cfg, {"enabled": True, "per_sec": 10, "burst": 5})
        results = []
        for _ in range(7):
            results.append(await self.api("GET", "/api/v4/users/me", "bot-token"))
        st, h, _ = results[0]
        self.assertEqual(st, 200)
        self.assertEqual(h["X-RateLimit-Limit"], "6")
        self.assertEqual(h["X-RateLimit-Remaining"], "5")
        self.assertIn("X-RateLimit-Reset", h)
        self.assertEqual([r[0] for r in results], [200] * 6 + [429])
        st, h, body = results[6]
        self.assertEqual(body, "limit exceeded\n")
        self.assertEqual(h["Content-Type"], "text/plain; charset=utf-8")
        self.assertEqual(h["Retry-After"], "1")
        self.assertEqual(h["X-RateLimit-Remaining"], "0")
        self.assertNotIn("X-Request-ID", h)
        # the WebSocket upgrade is limited too
        st, h, _ = await self.api("GET", "/api/v4/websocket", "bot-token")
        self.assertEqual(st, 429)
        await asyncio.sleep(0.15)            # one emission interval later
        st, h, _ = await self.api("GET", "/api/v4/users/me", "bot-token")
        self.assertEqual(st, 200)
        st, s = await self.ctl("GET", "/_fake/stats")
        self.assertEqual(s["status_429"], 2)

    async def test_default_quota(self):
        await self.ctl("POST", "/_fake/ratelimit", {"enabled": True})
        st, h, _ = await self.api("GET", "/api/v4/users/me", "bot-token")
        self.assertEqual((h["X-RateLimit-Limit"], h["X-RateLimit-Remaining"]), ("101", "100"))


class Controls(FakeCase):

    async def test_fail_injection(self):
        await self.ctl("POST", "/_fake/fail", {"method": "POST", "path_regex": "^/api/v4/posts$",
                                               "status": 503, "count": 2})
        body = {"channel_id": self.town, "message": "x"}
        st1, h, b1 = await self.api("POST", "/api/v4/posts", "bot-token", body)
        st2, _, _ = await self.api("POST", "/api/v4/posts", "bot-token", body)
        st3, _, _ = await self.api("POST", "/api/v4/posts", "bot-token", body)
        self.assertEqual((st1, st2, st3), (503, 503, 201))
        self.assertEqual(b1["id"], "fake.injected.app_error")
        self.assertIn("X-Request-ID", h)
        await self.ctl("POST", "/_fake/fail", {"path_regex": "/users/me", "status": 502,
                                               "body": "bad gateway"})
        st, _, text = await self.api("GET", "/api/v4/users/me", "bot-token")
        self.assertEqual((st, text), (502, "bad gateway"))
        await self.ctl("POST", "/_fake/fail", {"path_regex": "/users/me", "drop": True})
        with self.assertRaises(Exception):
            await self.api("GET", "/api/v4/users/me", "bot-token")

    async def test_delay_and_concurrency_stats(self):
        await self.ctl("POST", "/_fake/delay", {"ms": 200})
        t0 = asyncio.get_running_loop().time()
        res = await asyncio.gather(*[self.api("GET", "/api/v4/users/me", "bot-token")
                                     for _ in range(3)])
        self.assertEqual([r[0] for r in res], [200] * 3)
        self.assertGreater(asyncio.get_running_loop().time() - t0, 0.19)
        st, s = await self.ctl("GET", "/_fake/stats")
        self.assertEqual(s["max_concurrent"], 3)
        self.assertEqual(s["requests"]["GET /api/v4/users/{user_id}"], 3)
        self.assertEqual(s["last_headers"]["GET /api/v4/users/{user_id}"]["Authorization"],
                         "Bearer bot-token")

    async def test_reset(self):
        await self.post_as("alice", "gone after reset")
        await self.ctl("POST", "/_fake/ratelimit", {"enabled": True})
        await self.ctl("POST", "/_fake/reset")
        st, d = await self.ctl("GET", "/_fake/posts")
        self.assertEqual(d["posts"], [])
        st, h, _ = await self.api("GET", "/api/v4/users/me", "bot-token")
        self.assertNotIn("X-RateLimit-Limit", h)


if __name__ == "__main__":
    unittest.main()
