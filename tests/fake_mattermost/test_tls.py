"""--tls-cert/--tls-key: the same API over HTTPS and WSS."""

import json
import os
import shutil
import subprocess
import tempfile
import unittest

import aiohttp

from fmtest import FakeProc


@unittest.skipUnless(shutil.which("openssl"), "openssl not installed")
class Tls(unittest.IsolatedAsyncioTestCase):

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="fake_mm_tls")
        cls.addClassCleanup(shutil.rmtree, cls.dir)
        cert, key = os.path.join(cls.dir, "c.pem"), os.path.join(cls.dir, "k.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                        "-keyout", key, "-out", cert, "-days", "1",
                        "-subj", "/CN=127.0.0.1"], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        cls.fake = FakeProc("--tls-cert", cert, "--tls-key", key)
        cls.addClassCleanup(cls.fake.stop)

    async def test_https_and_wss(self):
        base = "https://127.0.0.1:%d" % self.fake.port
        h = {"Authorization": "Bearer bot-token"}
        async with aiohttp.ClientSession() as s:
            async with s.get(base + "/api/v4/users/me", headers=h, ssl=False) as r:
                self.assertEqual(r.status, 200)
                self.assertEqual((await r.json())["username"], "claude")
            ws = await s.ws_connect("wss://127.0.0.1:%d/api/v4/websocket" % self.fake.port,
                                    headers=h, ssl=False)
            m = json.loads((await ws.receive(timeout=3)).data)
            self.assertEqual(m["event"], "hello")
            await ws.close()


if __name__ == "__main__":
    unittest.main()
