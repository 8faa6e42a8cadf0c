"""Interactive buttons: the click round trip to an integration (reference
§4; checklist item 19)."""

import json
import unittest

from aiohttp import web

from fmtest import FakeCase


class Integration:
    """A tiny integration server: records each request, answers with
    (status, body) popped from `answers` (default 200 + empty body)."""

    def __init__(self):
        self.requests = []
        self.answers = []

    async def handle(self, request):
        self.requests.append({"headers": dict(request.headers),
                              "body": await request.text(),
                              "method": request.method})
        status, body = self.answers.pop(0) if self.answers else (200, "")
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
        return web.Response(status=status, text=body)

    async def start(self):
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handle)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.url = "http://127.0.0.1:%d/hook" % site._server.sockets[0].getsockname()[1]

    async def stop(self):
        await self.runner.cleanup()


class Buttons(FakeCase):

    async def asyncSetUp(self):
        await super().asyncSetUp()
        self.integ = Integration()
        await self.integ.start()

    async def asyncTearDown(self):
        await self.integ.stop()
        await super().asyncTearDown()

    async def card(self, channel=None, root_id=""):
        props = {"override_username": "relay",
                 "attachments": [{"text": "Allow example.com?", "actions": [
                     {"id": "allow", "name": "Allow", "type": "button",
                      "integration": {"url": self.integ.url,
                                      "context": {"secret": "s-123", "host": "example.com"}}},
                     {"id": "deny", "name": "Deny", "type": "button",
                      "integration": {"url": self.integ.url}}]}]}
        body = {"channel_id": channel or self.town, "message": "approval",
                "props": props}
        if root_id:
            body["root_id"] = root_id
        st, _, p = await self.api("POST", "/api/v4/posts", "bot-token", body)
        self.assertEqual(st, 201, p)
        return p

    async def click(self, user, pid, aid):
        st, r = await self.ctl("POST", "/_fake/click", {"user": user, "post_id": pid,
                                                        "action_id": aid})
        self.assertEqual(st, 200)
        return r

    async def test_round_trip_update_and_ephemeral(self):
        bot = await self.ws("bot-token")
        alice = await self.ws("alice-token")
        bob = await self.ws("bob-token")
        p = await self.card()
        for ws in (bot, alice, bob):
            await self.recv_event(ws, "posted")
        new_props = {"attachments": [{"text": "Allowed by @alice"}]}
        self.integ.answers.append((200, {"update": {"message": "done", "props": new_props},
                                         "ephemeral_text": "see <http://x.test/a|here>"}))
        r = await self.click("alice", p["id"], "allow")
        self.assertEqual(r["status"], 200, r)
        self.assertEqual(r["body"]["status"], "OK")
        self.assertEqual(len(r["body"]["trigger_id"]), 26)
        # what the integration got
        req = self.integ.requests[0]
        self.assertEqual(req["method"], "POST")
        self.assertEqual(req["headers"]["Content-Type"], "application/json")
        self.assertEqual(req["headers"]["Accept"], "application/json")
        self.assertNotIn("Authorization", req["headers"])
        sent = json.loads(req["body"])
        self.assertEqual(list(sent), ["user_id", "user_name", "channel_id", "channel_name",
                                      "team_id", "team_domain", "post_id", "trigger_id",
                                      "type", "data_source", "context"])
        self.assertEqual(sent["user_id"], self.alice_id)
        self.assertEqual(sent["user_name"], "alice")
        self.assertEqual(sent["channel_id"], self.town)
        self.assertEqual(sent["channel_name"], "town")
        self.assertEqual(sent["team_domain"], "t1")
        self.assertEqual(sent["post_id"], p["id"])
        self.assertEqual(sent["type"], "button")
        self.assertEqual(sent["context"], {"secret": "s-123", "host": "example.com"})
        self.assertEqual(r["integration"]["request"], sent)
        # update: props replaced (retained keys kept), message replaced
        e = await self.recv_event(bot, "post_edited")
        post = json.loads(e["data"]["post"])
        self.assertEqual(post["message"], "done")
        self.assertEqual(post["props"]["attachments"][0]["text"], "Allowed by @alice")
        self.assertNotIn("actions", post["props"]["attachments"][0])
        self.assertEqual(post["props"]["override_username"], "relay")
        self.assertNotIn("from_bot", post["props"])
        # ephemeral to the clicker only, in the thread of the card
        eph = await self.recv_event(alice, "ephemeral_message")
        ep = json.loads(eph["data"]["post"])
        self.assertEqual(ep["message"], "see [here](http://x.test/a)")
        self.assertEqual(ep["root_id"], p["id"])
        self.assertEqual(ep["type"], "system_ephemeral")
        self.assertEqual(eph["broadcast"]["user_id"], self.alice_id)
        await self.recv_event(bob, "post_edited")
        await self.silent(bob, 0.2)

    async def test_rest_route_and_update_semantics(self):
        p = await self.card()
        # update without props keeps them; omitted message clears the text
        self.integ.answers.append((200, {"update": {"props": None}}))
        st, _, body = await self.api("POST", "/api/v4/posts/%s/actions/deny" % p["id"],
                                     "bob-token", {})
        self.assertEqual(st, 200)
        self.assertEqual(body["status"], "OK")
        self.assertNotIn("context", json.loads(self.integ.requests[0]["body"]))
        st, _, q = await self.api("GET", "/api/v4/posts/" + p["id"], "bot-token")
        self.assertEqual(q["message"], "")
        self.assertEqual([a["id"] for a in q["props"]["attachments"][0]["actions"]],
                         ["allow", "deny"])
        # empty body: nothing changes
        st, _, _ = await self.api("POST", "/api/v4/posts/%s/actions/deny" % p["id"],
                                  "bob-token")
        self.assertEqual(st, 200)
        st, d = await self.ctl("GET", "/_fake/posts")
        self.assertEqual(d["posts"][0]["edit_count"], 1)

    async def test_integration_failures(self):
        p = await self.card()
        self.integ.answers.append((500, "oops"))
        r = await self.click("alice", p["id"], "allow")
        self.assertEqual(r["status"], 400)
        self.assertEqual(r["body"]["id"], "api.post.do_action.action_integration.app_error")
        self.assertEqual(r["integration"]["status"], 500)
        self.integ.answers.append((200, "not json"))
        r = await self.click("alice", p["id"], "allow")
        self.assertEqual(r["status"], 400)
        r = await self.click("alice", p["id"], "nosuch")
        self.assertEqual((r["status"], r["body"]["id"]),
                         (404, "api.post.do_action.action_id.app_error"))
        r = await self.click("carol", p["id"], "allow")
        self.assertEqual(r["status"], 403)
        st, _, body = await self.api("POST", "/api/v4/posts/%s/actions/al_low" % p["id"],
                                     "alice-token")
        self.assertEqual((st, body["id"]), (404, "api.context.404.app_error"))
        self.assertEqual(len(self.integ.requests), 2)

    async def test_unreachable_integration(self):
        st, _, p = await self.api("POST", "/api/v4/posts", "bot-token", {
            "channel_id": self.town, "message": "m",
            "props": {"attachments": [{"actions": [
                {"id": "a1", "name": "A", "integration": {"url": "http://127.0.0.1:1/x"}}]}]}})
        r = await self.click("alice", p["id"], "a1")
        self.assertEqual(r["status"], 400)
        self.assertIn("error", r["integration"])


if __name__ == "__main__":
    unittest.main()
