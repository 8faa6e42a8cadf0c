"""The fake's WebSocket behaviour (reference §1; checklist items 1–10)."""

import asyncio
import json
import unittest

import aiohttp

from fmtest import FakeCase


class WebSocketAuth(FakeCase):
    ARGS = ("--auth-timeout", "1.5")

    async def test_hello_on_header_auth(self):
        ws = await self.ws("bot-token")
        h = ws.hello
        self.assertEqual(h["seq"], 0)
        self.assertEqual(len(h["data"]["connection_id"]), 26)
        self.assertTrue(h["data"]["server_version"].startswith("9.11.0."))
        self.assertIn("server_hostname", h["data"])
        self.assertEqual(h["broadcast"]["user_id"], self.bot_id)
        self.assertEqual(h["broadcast"]["channel_id"], "")

    async def test_token_scheme_and_cookie_auth(self):
        ws = await self.ws(headers={"Authorization": "Token alice-token"},
                           hello=False)
        m = await self.recv(ws)
        self.assertEqual(m["event"], "hello")
        self.assertEqual(m["broadcast"]["user_id"], self.alice_id)
        ws2 = await self.ws(headers={"Cookie": "MMAUTHTOKEN=bob-token"},
                            hello=False)
        m = await self.recv(ws2)
        self.assertEqual(m["broadcast"]["user_id"], self.bob_id)

    async def test_query_token_refused(self):
        with self.assertRaises(aiohttp.WSServerHandshakeError) as cm:
            await self.http.ws_connect(self.fake.ws_url + "?access_token=bot-token")
        self.assertEqual(cm.exception.status, 401)
        st, _, body = await self.api("GET", "/api/v4/users/me?access_token=bot-token")
        self.assertEqual(st, 401)
        self.assertEqual(body["id"], "api.context.token_provided.app_error")

    async def test_trailing_slash_route(self):
        ws = await self.http.ws_connect(self.fake.ws_url + "/",
                                        headers={"Authorization": "Bearer bot-token"})
        self.sockets.append(ws)
        self.assertEqual((await self.recv(ws))["event"], "hello")

    async def test_bad_header_token_gives_unauthenticated_socket(self):
        ws = await self.ws(headers={"Authorization": "Bearer nope"})
        await self.silent(ws, 0.2)
        await self.post_as("alice", "not for you")
        await self.silent(ws, 0.2)

    async def test_challenge(self):
        ws = await self.ws()
        await self.silent(ws, 0.1)
        # actions before auth get no reply (the error is dropped)
        await ws.send_str(json.dumps({"seq": 1, "action": "ping"}))
        await ws.send_str(json.dumps({"seq": 0, "action": "authentication_challenge",
                                      "data": {"token": "bot-token"}}))
        await self.silent(ws, 0.2)
        await ws.send_str(json.dumps({"seq": 2, "action": "authentication_challenge",
                                      "data": {"token": "bot-token"}}))
        hello = await self.recv(ws)
        self.assertEqual(hello["event"], "hello")
        self.assertEqual(hello["seq"], 0)
        self.assertEqual(await self.recv(ws), {"status": "OK", "seq_reply": 2})
        # a second challenge is ignored; ping still answered
        await ws.send_str(json.dumps({"seq": 3, "action": "authentication_challenge",
                                      "data": {"token": "bot-token"}}))
        await ws.send_str(json.dumps({"seq": 4, "action": "ping"}))
        r = await self.recv(ws)
        self.assertEqual(r["seq_reply"], 4)
        # and authenticated, it stays open past the auth deadline
        await asyncio.sleep(1.7)
        await self.post_as("alice", "after auth")
        self.assertEqual((await self.recv_event(ws, "posted"))["seq"], 1)

    async def test_challenge_bad_token_closes(self):
        ws = await self.ws()
        await ws.send_str(json.dumps({"seq": 1, "action": "authentication_challenge",
                                      "data": {"token": "wrong"}}))
        await self.closed_abruptly(ws)
        ws2 = await self.ws()
        await ws2.send_str(json.dumps({"seq": 1, "action": "authentication_challenge",
                                       "data": {}}))
        await self.closed_abruptly(ws2)

    async def test_unauthenticated_closed_after_deadline(self):
        ws = await self.ws()
        t0 = asyncio.get_running_loop().time()
        await self.closed_abruptly(ws, timeout=5)
        self.assertGreater(asyncio.get_running_loop().time() - t0, 1.2)

    async def test_origin_mismatch_refused(self):
        with self.assertRaises(aiohttp.WSServerHandshakeError) as cm:
            await self.http.ws_connect(self.fake.ws_url,
                                       headers={"Origin": "http://evil.example"})
        self.assertEqual(cm.exception.status, 403)


class WebSocketEvents(FakeCase):

    async def test_seq_and_replies(self):
        ws = await self.ws("bot-token")
        await ws.send_str(json.dumps({"seq": 1, "action": "ping"}))
        r = await self.recv(ws)
        self.assertEqual(r["status"], "OK")
        self.assertEqual(r["seq_reply"], 1)
        self.assertNotIn("seq", r)
        self.assertEqual(r["data"]["text"], "pong")
        self.assertIn("server_time", r["data"])
        await self.post_as("alice", "one")
        await self.post_as("alice", "two")
        e1 = await self.recv_event(ws, "posted")
        e2 = await self.recv_event(ws, "posted")
        self.assertEqual((e1["seq"], e2["seq"]), (1, 2))
        # unknown action: FAIL reply, still no seq consumed
        await ws.send_str(json.dumps({"seq": 2, "action": "get_everything"}))
        r = await self.recv(ws)
        self.assertEqual(r["status"], "FAIL")
        self.assertEqual(r["error"]["id"], "api.web_socket_router.bad_action.app_error")
        self.assertEqual(r["error"]["detailed_error"], "")
        await self.post_as("alice", "three")
        self.assertEqual((await self.recv_event(ws, "posted"))["seq"], 3)

    async def test_posted_shape(self):
        bot = await self.ws("bot-token")
        alice = await self.ws("alice-token")
        props = {"attachments": [{"text": "t", "actions": [
            {"id": "ok1", "name": "OK", "type": "button",
             "integration": {"url": "http://127.0.0.1:1/x",
                             "context": {"secret": "s3"}}}]}]}
        p = await self.post_as("alice", "hello @claude <b>", props=props)
        raw = await self.recv_raw(bot)
        self.assertTrue(raw.startswith('{"event": "posted", "data": {'), raw)
        self.assertNotIn("s3", raw)      # integrations never reach clients
        e = json.loads(raw)
        d = e["data"]
        self.assertIsInstance(d["post"], str)
        post = json.loads(d["post"])
        self.assertEqual(post["id"], p["id"])
        self.assertEqual(post["message"], "hello @claude <b>")
        self.assertIn("\\u003cb\\u003e", d["post"])    # Go's HTML escaping
        self.assertNotIn("integration",
                         post["props"]["attachments"][0]["actions"][0])
        self.assertEqual(d["channel_type"], "O")
        self.assertEqual(d["channel_name"], "town")
        self.assertEqual(d["channel_display_name"], "Town Square")
        self.assertEqual(d["sender_name"], "@alice")
        self.assertEqual(d["team_id"], self.seed["team_id"])
        self.assertIs(d["set_online"], True)
        self.assertEqual(json.loads(d["mentions"]), [self.bot_id])
        self.assertEqual(e["broadcast"]["channel_id"], self.town)
        # the author gets her own post, without a mention of herself
        ea = await self.recv_event(alice, "posted")
        self.assertNotIn("mentions", ea["data"])
        self.assertEqual(json.loads(ea["data"]["post"])["id"], p["id"])

    async def test_bot_receives_own_post(self):
        bot = await self.ws("bot-token")
        st, _, p = await self.api("POST", "/api/v4/posts?set_online=false", "bot-token",
                                  {"channel_id": self.town, "message": "mine"})
        self.assertEqual(st, 201)
        e = await self.recv_event(bot, "posted")
        self.assertEqual(json.loads(e["data"]["post"])["id"], p["id"])
        self.assertIs(e["data"]["set_online"], False)

    async def test_non_members_get_nothing(self):
        carol = await self.ws("carol-token")
        alice = await self.ws("alice-token")
        bob = await self.ws("bob-token")
        await self.post_as("bob", "secret", channel=self.other)
        e = await self.recv_event(bob, "posted")
        self.assertEqual(e["broadcast"]["channel_id"], self.other)
        await self.post_as("alice", "town talk")
        await self.recv_event(alice, "posted")
        await self.silent(carol, 0.3)
        # alice saw the town post but never the private one
        m = await self.recv_event(bob, "posted")
        self.assertEqual(json.loads(m["data"]["post"])["message"], "town talk")
        await self.silent(alice, 0.2)

    async def test_post_edited_has_only_post(self):
        bot = await self.ws("bot-token")
        st, _, p = await self.api("POST", "/api/v4/posts", "bot-token",
                                  {"channel_id": self.town, "message": "v1"})
        await self.recv_event(bot, "posted")
        st, _, _ = await self.api("PUT", "/api/v4/posts/%s/patch" % p["id"],
                                  "bot-token", {"message": "v2"})
        self.assertEqual(st, 200)
        e = await self.recv_event(bot, "post_edited")
        self.assertEqual(list(e["data"].keys()), ["post"])
        post = json.loads(e["data"]["post"])
        self.assertEqual(post["message"], "v2")
        self.assertGreater(post["edit_at"], 0)

    async def test_dm_mentions_and_shape(self):
        bot = await self.ws("bot-token")
        st, ch = await self.ctl("POST", "/_fake/direct", {"user": "alice",
                                                          "other": "claude"})
        self.assertEqual(st, 201)
        await self.post_as("alice", "hi there", channel=ch["id"])
        e = await self.recv_event(bot, "posted")
        d = e["data"]
        self.assertEqual(d["channel_type"], "D")
        self.assertEqual(d["channel_display_name"], "@alice")
        self.assertEqual(d["team_id"], "")
        self.assertEqual(d["channel_name"], "__".join(sorted([self.alice_id, self.bot_id])))
        self.assertEqual(json.loads(d["mentions"]), [self.bot_id])

    async def test_posted_ack(self):
        ws = await self.ws("bot-token", query="posted_ack=true")
        await self.post_as("alice", "@claude look")
        e = await self.recv_event(ws, "posted")
        self.assertIs(e["data"]["should_ack"], True)
        await self.post_as("alice", "no mention")
        e = await self.recv_event(ws, "posted")
        self.assertNotIn("should_ack", e["data"])

    async def test_frame_cap(self):
        ws = await self.ws("bot-token")
        head = '{"seq":1,"action":"ping","data":{"pad":"'
        tail = '"}}'
        ok = head + "x" * (8192 - len(head) - len(tail)) + tail
        self.assertEqual(len(ok.encode()), 8192)
        await ws.send_str(ok)
        self.assertEqual((await self.recv(ws))["seq_reply"], 1)
        head = head.replace('"seq":1', '"seq":2')
        big = head + "x" * (8193 - len(head) - len(tail)) + tail
        self.assertEqual(len(big.encode()), 8193)
        await ws.send_str(big)
        msg = await self.next_frame(ws)
        self.assertEqual(msg.type, aiohttp.WSMsgType.CLOSE)
        self.assertEqual(msg.data, 1009)

    async def test_invalid_json_closes(self):
        ws = await self.ws("bot-token")
        await ws.send_str("not json")
        await self.closed_abruptly(ws)

    async def test_typing(self):
        alice = await self.ws("alice-token")
        bot = await self.ws("bot-token")
        await alice.send_str(json.dumps({"seq": 1, "action": "user_typing",
                                         "data": {"channel_id": self.town}}))
        self.assertEqual(await self.recv(alice), {"status": "OK", "seq_reply": 1})
        e = await self.recv_event(bot, "typing")
        self.assertEqual(e["data"]["user_id"], self.alice_id)
        await self.silent(alice, 0.2)   # omitted from her own typing event


class WebSocketResume(FakeCase):

    def q(self, ws, seq):
        return "connection_id=%s&sequence_number=%d" % (
            ws.hello["data"]["connection_id"], seq)

    async def test_lossless_resume(self):
        ws = await self.ws("bot-token")
        await self.post_as("alice", "a")
        await self.post_as("alice", "b")
        await self.recv_event(ws, "posted")
        self.assertEqual((await self.recv_event(ws, "posted"))["seq"], 2)
        await ws.close()
        await asyncio.sleep(0.1)
        ws2 = await self.ws("bot-token", query=self.q(ws, 3), hello=False)
        await self.silent(ws2, 0.2)         # nothing missed: no hello
        await self.post_as("alice", "c")
        e = await self.recv(ws2)
        self.assertEqual((e["event"], e["seq"]), ("posted", 3))
        st, s = await self.ctl("GET", "/_fake/stats")
        self.assertEqual(s["ws_resume_outcomes"]["lossless"], 1)

    async def test_replay_from_dead_queue(self):
        ws = await self.ws("bot-token")
        raws = {}
        for i in range(4):
            await self.post_as("alice", "m%d" % i)
        for i in range(4):
            raw = await self.recv_raw(ws)
            raws[json.loads(raw)["seq"]] = raw
        st, r = await self.ctl("POST", "/_fake/drop_ws", {"user": "claude"})
        self.assertEqual(r["dropped"], 1)
        await self.closed_abruptly(ws)
        # the client claims it only saw up to seq 1: 2..4 are replayed
        ws2 = await self.ws("bot-token", query=self.q(ws, 2), hello=False)
        got = [await self.recv_raw(ws2) for _ in range(3)]
        self.assertEqual(got, [raws[2], raws[3], raws[4]])
        await self.post_as("alice", "after")
        self.assertEqual((await self.recv(ws2))["seq"], 5)

    async def test_events_while_disconnected_are_kept(self):
        ws = await self.ws("bot-token")
        await self.post_as("alice", "seen")
        await self.recv_event(ws, "posted")
        await self.ctl("POST", "/_fake/drop_ws", {})
        await self.closed_abruptly(ws)
        await self.post_as("alice", "while away 1")
        await self.post_as("alice", "while away 2")
        ws2 = await self.ws("bot-token", query=self.q(ws, 2), hello=False)
        e1, e2 = await self.recv(ws2), await self.recv(ws2)
        self.assertEqual((e1["seq"], e2["seq"]), (2, 3))
        self.assertEqual(json.loads(e2["data"]["post"])["message"], "while away 2")

    async def test_lost_gives_new_id_and_hello(self):
        ws = await self.ws("bot-token")
        for i in range(130):        # more than the 128-entry dead queue
            await self.post_as("alice", "n%d" % i)
        for i in range(130):
            await self.recv(ws)
        await ws.close()
        await asyncio.sleep(0.1)
        ws2 = await self.ws("bot-token", query=self.q(ws, 1), hello=False)
        h = await self.recv(ws2)
        self.assertEqual((h["event"], h["seq"]), ("hello", 0))
        self.assertNotEqual(h["data"]["connection_id"], ws.hello["data"]["connection_id"])
        await self.post_as("alice", "fresh")
        self.assertEqual((await self.recv(ws2))["seq"], 1)

    async def test_unknown_and_forgotten_ids_start_fresh(self):
        ws = await self.ws("bot-token", query="connection_id=%s&sequence_number=7" % ("z" * 26),
                           hello=False)
        h = await self.recv(ws)
        self.assertEqual(h["event"], "hello")
        self.assertNotEqual(h["data"]["connection_id"], "z" * 26)
        ws.hello = h
        await ws.close()
        await asyncio.sleep(0.1)
        await self.ctl("POST", "/_fake/restart_ws")
        ws2 = await self.ws("bot-token", query=self.q(ws, 1), hello=False)
        h2 = await self.recv(ws2)
        self.assertEqual((h2["event"], h2["seq"]), ("hello", 0))
        self.assertNotEqual(h2["data"]["connection_id"], h["data"]["connection_id"])

    async def test_malformed_resume_closes(self):
        ws = await self.ws("bot-token", query="connection_id=short&sequence_number=1",
                           hello=False)
        await self.closed_abruptly(ws)
        ws = await self.ws("bot-token")
        await ws.close()
        await asyncio.sleep(0.1)
        cid = ws.hello["data"]["connection_id"]
        ws2 = await self.ws("bot-token", query="connection_id=" + cid, hello=False)
        await self.closed_abruptly(ws2)
        # that attempt consumed the old connection: the next one is fresh
        ws3 = await self.ws("bot-token", query="connection_id=%s&sequence_number=1" % cid,
                            hello=False)
        self.assertEqual((await self.recv(ws3))["event"], "hello")

    async def test_resume_needs_header_auth(self):
        ws = await self.ws("bot-token")
        await ws.close()
        await asyncio.sleep(0.1)
        ws2 = await self.ws(query=self.q(ws, 1))
        await ws2.send_str(json.dumps({"seq": 1, "action": "authentication_challenge",
                                       "data": {"token": "bot-token"}}))
        h = await self.recv(ws2)
        self.assertEqual(h["event"], "hello")
        self.assertNotEqual(h["data"]["connection_id"], ws.hello["data"]["connection_id"])

    async def test_full_send_queue_forgets_connection(self):
        ws = await self.ws("bot-token")
        await ws.close()
        await asyncio.sleep(0.1)
        for i in range(257):        # the 256-slot send queue overflows
            await self.post_as("alice", "x%d" % i)
        ws2 = await self.ws("bot-token", query=self.q(ws, 1), hello=False)
        h = await self.recv(ws2)
        self.assertEqual((h["event"], h["seq"]), ("hello", 0))


class Keepalive(FakeCase):
    ARGS = ("--ping-interval", "0.2", "--pong-wait", "1.0")

    async def test_server_pings_and_drops_silent_client(self):
        ws = await self.ws("bot-token", autoping=False, hello=False)
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        pings = 0
        seq = 1
        while True:
            # JSON ping actions must not extend the read deadline
            try:
                await ws.send_str(json.dumps({"seq": seq, "action": "ping"}))
            except ConnectionResetError:
                break
            seq += 1
            msg = await ws.receive(timeout=3)
            if msg.type == aiohttp.WSMsgType.PING:
                pings += 1
            elif msg.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
                break
        elapsed = loop.time() - t0
        self.assertGreaterEqual(pings, 2)
        self.assertGreater(elapsed, 0.9)
        self.assertLess(elapsed, 3.0)
        st, s = await self.ctl("GET", "/_fake/stats")
        self.assertEqual(s["ws_pong_timeouts"], 1)

    async def test_ponging_client_stays(self):
        ws = await self.ws("bot-token")        # aiohttp answers pings
        await self.silent(ws, 1.6)
        await self.post_as("alice", "still here")
        self.assertEqual((await self.recv_event(ws, "posted"))["seq"], 1)

    async def test_client_ping_answered(self):
        ws = await self.ws("bot-token", autoping=False)
        await ws.ping(b"abc")
        while True:
            msg = await ws.receive(timeout=2)
            if msg.type == aiohttp.WSMsgType.PONG:
                self.assertEqual(msg.data, b"abc")
                break
            self.assertEqual(msg.type, aiohttp.WSMsgType.PING)


if __name__ == "__main__":
    unittest.main()
