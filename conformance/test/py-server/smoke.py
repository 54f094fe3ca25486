#!/usr/bin/python3
"""Happy-path smoke check of server.py. Starts the server itself.

/usr/bin/python3 smoke.py
"""
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import urllib.request

import websockets

HERE = os.path.dirname(os.path.abspath(__file__))
T1 = "smoke-token-alice-0123456789"
T2 = "smoke-token-bob-0123456789"


def start(extra=()):
    fd, path = tempfile.mkstemp(suffix=".json")
    with os.fdopen(fd, "w") as f:
        json.dump({"tokens": [{"token": T1, "user": "alice", "expiresInMs": None},
                              {"token": T2, "user": "bob", "expiresInMs": None}]}, f)
    p = subprocess.Popen(["/usr/bin/python3", os.path.join(HERE, "server.py"), "--port", "0",
                          "--tokens-file", path, "--heartbeat-interval-ms", "1000",
                          "--heartbeat-timeout-ms", "1000", *extra],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = p.stdout.readline().strip()
    assert line.startswith("LISTENING ws://127.0.0.1:"), line
    return p, line.split(" ", 1)[1]


async def recv(ws, t=2):
    return json.loads(await asyncio.wait_for(ws.recv(), t))


async def main():
    p, url = start()
    ok = 0
    try:
        async with websockets.connect(url, subprotocols=["mooring.v1"]) as ws:
            assert ws.subprotocol == "mooring.v1"
            await ws.send(json.dumps({"type": "auth", "token": T1}))
            a = await recv(ws)
            assert a["type"] == "authenticated" and a["userId"] == "alice", a
            assert a["params"]["heartbeatIntervalMs"] == 1000
            ok += 1
            await ws.send(json.dumps({"type": "request", "id": "1", "action": "echo", "payload": {"x": 1}}))
            r = await recv(ws)
            assert r == {"type": "response", "requestId": "1", "success": True, "data": {"x": 1}}, r
            ok += 1
            await ws.send(json.dumps({"type": "subscribe", "channel": "news"}))
            s = await recv(ws)
            assert s["type"] == "subscribed" and s["position"]["offset"] == 0, s
            await ws.send(json.dumps({"type": "request", "id": "2", "action": "publish",
                                      "payload": {"channel": "news", "data": {"h": 1}}}))
            got = [await recv(ws), await recv(ws)]
            kinds = sorted(m["type"] for m in got)
            assert kinds == ["push", "response"], got
            ok += 1
            await ws.send(json.dumps({"type": "ping"}))
            assert (await recv(ws))["type"] == "pong"
            await ws.send(b"\x00")
            e = await recv(ws)
            assert e["code"] == "binary_not_supported", e
            await ws.send("nope")
            assert (await recv(ws))["code"] == "invalid_json"
            await ws.send(json.dumps({"type": "subscribe", "channel": "user:bob"}))
            e = await recv(ws)
            assert e["code"] == "forbidden" and e["channel"] == "user:bob", e
            ok += 1
            epoch = s["position"]["epoch"]
            async with websockets.connect(url, subprotocols=["mooring.v1"]) as ws2:
                await ws2.send(json.dumps({"type": "auth", "token": T2}))
                await recv(ws2)
                await ws2.send(json.dumps({"type": "subscribe", "channel": "news",
                                           "since": {"epoch": epoch, "offset": 0}}))
                s2 = await recv(ws2)
                assert s2["resume"] == "replayed" and s2["replayed"] == 1, s2
                pu = await recv(ws2)
                assert pu["replay"] is True and pu["position"]["offset"] == 1, pu
            ok += 1
            req = urllib.request.Request(url.replace("ws://", "http://").rsplit("/", 1)[0] + "/heartbeat",
                                         method="POST", headers={"Authorization": "Bearer " + T1})
            with urllib.request.urlopen(req) as resp:
                assert resp.status == 204
            req = urllib.request.Request(url.replace("ws://", "http://").rsplit("/", 1)[0] + "/presence",
                                         headers={"Authorization": "Bearer " + T1})
            with urllib.request.urlopen(req) as resp:
                pres = json.loads(resp.read())
                assert pres["connected"] is True and pres["sessions"] == 1, pres
            ok += 1
        print("smoke ok (%d groups)" % ok)
    finally:
        p.terminate()
        p.wait(10)


if __name__ == "__main__":
    asyncio.run(main())
