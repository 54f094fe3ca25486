#!/usr/bin/python3
"""Self-check of the mutants: for each mutant, run the scenario of its rule's area against the
correct server and against the mutant, and report whether the (normalized) observations differ.

/usr/bin/python3 mutcheck.py [NAME-or-RULE-prefix ...]

This is not the conformance suite: it is a small set of probes written from the spec, used only
to check that every mutant is visible on the wire.
"""
import asyncio
import json
import os
import re
import signal
import socket
import base64
import subprocess
import sys
import tempfile
import time
import urllib.request
import urllib.error

import websockets
from websockets.legacy.client import WebSocketClientProtocol
from websockets.exceptions import InvalidStatusCode, ConnectionClosed

HERE = os.path.dirname(os.path.abspath(__file__))
TOK = {
    "alice": "tok-alice-0000000000000000",
    "bob": "tok-bob-0000000000000000",
    "carol": "tok-carol-000000000000000",
    "dave": "tok-dave-0000000000000000",
    "erin": "tok-erin-0000000000000000",
    "frank": "tok-frank-000000000000000",
    "xshort": "tok-xu-short-000000000000",
    "xlong": "tok-xu-long-0000000000000",
}
EXP_MS = 3000

BASE = ["--heartbeat-interval-ms", "500", "--heartbeat-timeout-ms", "500", "--auth-timeout-ms", "1000",
        "--rate-messages", "20", "--rate-window-ms", "1000", "--max-payload-bytes", "1000",
        "--max-subscriptions", "3", "--history-size", "5", "--max-pending-requests", "3",
        "--max-connections-per-ip", "6", "--token-warning-ms", "1500", "--shutdown-spread-ms", "1000"]


def tokens_file():
    fd, path = tempfile.mkstemp(suffix=".json")
    toks = []
    for u, t in TOK.items():
        if u == "xshort":
            toks.append({"token": t, "user": "xu", "expiresInMs": EXP_MS})
        elif u == "xlong":
            toks.append({"token": t, "user": "xu", "expiresInMs": None})
        else:
            toks.append({"token": t, "user": u, "expiresInMs": None})
    with os.fdopen(fd, "w") as f:
        json.dump({"tokens": toks}, f)
    return path


TF = tokens_file()


class Server:
    def __init__(self, mutant, extra=()):
        cmd = ["/usr/bin/python3", os.path.join(HERE, "server.py"), "--port", "0", "--tokens-file", TF] + BASE + list(extra)
        if mutant:
            cmd += ["--mutant", mutant]
        self.p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = self.p.stdout.readline().strip()
        self.url = line.split(" ", 1)[1]
        self.port = int(self.url.split(":")[2].split("/")[0])
        self.http = "http://127.0.0.1:%d" % self.port
        self.t0 = time.monotonic()

    def stop(self):
        if self.p.poll() is None:
            self.p.kill()
        self.p.wait()


def norm(m):
    if isinstance(m, (bytes, bytearray)):
        try:
            return "BIN:" + norm(m.decode())
        except Exception:
            return "BIN"
    try:
        o = json.loads(m)
    except Exception:
        return "RAW:" + m[:60]

    def walk(x, k=None):
        if isinstance(x, dict):
            return {kk: walk(v, kk) for kk, v in sorted(x.items())}
        if isinstance(x, list):
            return [walk(v) for v in x]
        if k in ("sessionId", "epoch"):
            return "<%s>" % k
        if k == "message":
            return "<msg%s>" % ("-LEAK" if ("/" in str(x) or "Error" in str(x)) else "")
        if isinstance(x, bool) or x is None:
            return x
        if isinstance(x, (int, float)):
            if x > 1e12:
                return "<ms>"
            if x > 1e9:
                return "<s>"
        return x
    return json.dumps(walk(o), sort_keys=True)


class NoPong(WebSocketClientProtocol):
    async def pong(self, data=b""):
        return


class Rec(WebSocketClientProtocol):
    npings = 0

    async def read_frame(self, max_size):
        f = await super().read_frame(max_size)
        if f.opcode == 9:
            self.npings += 1
            self.ping_times.append(time.monotonic())
        return f


class RecNoPong(Rec):
    async def pong(self, data=b""):
        return


async def connect(srv, token=None, proto=("mooring.v1",), klass=None, path=None, headers=None, origin=None):
    kw = {}
    if klass:
        kw["create_protocol"] = klass
    ws = await websockets.connect(srv.url if path is None else srv.url.rsplit("/", 1)[0] + path,
                                  subprotocols=list(proto) if proto else None, ping_interval=None,
                                  max_size=None, max_queue=None, extra_headers=headers, origin=origin, close_timeout=1, **kw)
    if klass and issubclass(klass, Rec):
        ws.ping_times = []
    if token:
        await ws.send(json.dumps({"type": "auth", "token": token}))
        await rx(ws)
    return ws


async def rx(ws, t=1.0):
    try:
        m = await asyncio.wait_for(ws.recv(), t)
        return norm(m)
    except asyncio.TimeoutError:
        return "TIMEOUT"
    except ConnectionClosed as e:
        return "CLOSE %s %r" % (e.code, re.sub(r"retry=\d+", "retry=N", e.reason or ""))


async def drain(ws, t=0.4):
    out = []
    while True:
        m = await rx(ws, t)
        if m == "TIMEOUT":
            return out
        out.append(m)
        if m.startswith("CLOSE"):
            return out


def J(**o):
    return json.dumps(o)


async def handshake_status(srv, **kw):
    try:
        ws = await connect(srv, **kw)
        s = "101 proto=%s" % ws.subprotocol
        await ws.close()
        return s
    except InvalidStatusCode as e:
        return "HTTP %d" % e.status_code
    except Exception as e:
        return "ERR %s" % type(e).__name__


def http(srv, method, path, token=None):
    req = urllib.request.Request(srv.http + path, method=method,
                                 headers={"Authorization": "Bearer " + token} if token else {})
    try:
        with urllib.request.urlopen(req, timeout=3) as r:
            body = r.read()
            return "%d %s" % (r.status, norm(body.decode()) if body else "")
    except urllib.error.HTTPError as e:
        return "%d" % e.code
    except Exception as e:
        return "ERR %s" % type(e).__name__


def cat(t, T):
    r = t / T
    if r < 0.7:
        return "early"
    if r <= 1.7:
        return "ok"
    return "late"


# ------------------------------------------------------------------ scenarios

async def s_ver(srv):
    o = []
    o.append(await handshake_status(srv))
    o.append(await handshake_status(srv, proto=("x.v9", "mooring.v1")))
    o.append(await handshake_status(srv, proto=("x.v9",)))
    o.append(await handshake_status(srv, proto=None))
    ws = await connect(srv, TOK["alice"])
    await ws.send(b"\x01\x02")
    o += ["bin:" + x for x in await drain(ws)]
    await ws.send(J(type="ping"))
    o += ["ping:" + x for x in await drain(ws)]
    await ws.send(J(type="request", id="1", action="echo", payload=1, extra=True))
    o += ["extra:" + x for x in await drain(ws)]
    await ws.send(J(type="ping", zzz=[1]))
    o += ["extra2:" + x for x in await drain(ws)]
    await ws.close()
    return o


async def s_auth(srv):
    o = []
    ws = await connect(srv)
    t = time.monotonic()
    m = await rx(ws, 4)
    o.append("noauth:%s %s" % (m, cat(time.monotonic() - t, 1.0)))
    ws = await connect(srv)
    t = time.monotonic()
    m = "TIMEOUT"
    for i in range(12):
        try:
            await ws.send("junk")
        except ConnectionClosed:
            pass
        ms = [x for x in await drain(ws, 0.25) if x.startswith("CLOSE")]
        if ms:
            m = ms[0]
            break
    o.append("chatty:%s %s" % (m, cat(time.monotonic() - t, 1.0)))
    ws = await connect(srv)
    await ws.send(J(type="ping"))
    o.append("ping-first:" + await rx(ws))
    ws = await connect(srv)
    for f in ("nope", b"\x00", J(type="nope"), J(type="request", id="1")):
        await ws.send(f)
        o.append("invalid-pre:" + await rx(ws, 0.5))
    await ws.close()
    ws = await connect(srv)
    await ws.send(J(type="auth", token="not-a-token"))
    o.append("bad:" + await rx(ws))
    ws = await connect(srv)
    await ws.send(J(type="auth", token=TOK["alice"]))
    o.append("good:" + await rx(ws))
    await ws.send(J(type="subscribe", channel="user:alice"))
    o.append("own:" + await rx(ws))
    await ws.close()
    ws = await connect(srv)
    await ws.send(J(type="auth", token="x" * 513))
    o.append("longtoken:" + await rx(ws))
    await ws.close()
    return o


async def s_url(srv):
    o = []
    for q in ("?token=abc", "?token", "?token=", "?%74oken=x", "?a=1&token=x", "?Token=x", "?access_token=x"):
        o.append(q + " " + await handshake_status(srv, path="/ws" + q))
    return o


async def s_expiry(srv):
    o = []
    ws = await connect(srv)
    await ws.send(J(type="auth", token=TOK["xshort"]))
    a = json.loads(await ws.recv())
    exp = a["params"]["tokenExpiresAt"]
    o.append("exp-is-ms:%s" % (exp is not None and exp > 1e12))
    seen = []
    while True:
        try:
            m = await asyncio.wait_for(ws.recv(), 6)
            seen.append((time.time() * 1000, json.loads(m)))
        except asyncio.TimeoutError:
            seen.append((time.time() * 1000, "TIMEOUT"))
            break
        except ConnectionClosed as e:
            seen.append((time.time() * 1000, "CLOSE %s %s" % (e.code, e.reason)))
            break
    for t, m in seen:
        if isinstance(m, dict) and m.get("type") == "token_expiring":
            o.append("warn before=%s expiresAt-match=%s" % (t < exp - 200, m.get("expiresAt") == exp))
        elif isinstance(m, str):
            d = t - exp
            o.append("%s at=%s" % (m, "early" if d < -700 else "ok" if d < 1500 else "late"))
        else:
            o.append("other %s" % m.get("type"))
    ws = await connect(srv)
    await ws.send(J(type="auth", token=TOK["xshort"]))
    o.append("expired-auth:" + await rx(ws))
    return o


async def s_reauth(srv):
    o = []
    a = await connect(srv)
    await a.send(J(type="auth", token=TOK["xshort"]))
    first = json.loads(await a.recv())
    await a.send(J(type="subscribe", channel="news"))
    o.append(await rx(a))
    await a.send(J(type="auth", token=TOK["xlong"]))
    m = json.loads(await a.recv())
    o.append("same-sid=%s exp=%s user=%s" % (m.get("sessionId") == first.get("sessionId"),
                                              m["params"]["tokenExpiresAt"], m.get("userId")))
    await a.send(J(type="auth", token=TOK["bob"]))
    o.append("mismatch:" + await rx(a))
    b = await connect(srv, TOK["carol"])
    await b.send(J(type="request", id="p", action="publish", payload={"channel": "news", "data": 1}))
    await rx(b)
    o.append("still-sub:" + await rx(a))
    await asyncio.sleep(max(0, EXP_MS / 1000 + 0.8 - (time.monotonic() - srv.t0)))
    await a.send(J(type="ping"))
    o.append("after-old-exp:" + await rx(a))
    await a.send(J(type="auth", token="unknown-token"))
    o.append("unknown:" + await rx(a))
    return o


async def s_reauth2(srv):
    o = []
    a = await connect(srv)
    await a.send(J(type="auth", token=TOK["xshort"]))
    await a.recv()
    await a.send(J(type="auth", token=TOK["alice"]))
    o.append("mismatch:" + await rx(a))
    await asyncio.sleep(max(0, EXP_MS / 1000 + 0.8 - (time.monotonic() - srv.t0)))
    o += await drain(a, 0.5)
    return o


async def s_req(srv):
    o = []
    ws = await connect(srv, TOK["alice"])
    await ws.send(J(type="request", id="1", action="echo", payload={"x": 1}))
    o += await drain(ws)
    await ws.send(J(type="request", id="n", action="echo", payload=None))
    o += await drain(ws)
    await ws.send(J(type="request", id="a", action="echo"))
    o += await drain(ws)
    await ws.send(J(type="request", id="u", action="nope"))
    o += await drain(ws)
    await ws.send(J(type="request", id="slow", action="sleep", payload={"ms": 600}))
    await ws.send(J(type="request", id="fast", action="echo", payload=2))
    t = time.monotonic()
    first = json.loads(await ws.recv())
    o.append("first=%s" % first.get("requestId"))
    o += await drain(ws, 1.0)
    await ws.send(J(type="request", id="d", action="sleep", payload={"ms": 300}))
    await ws.send(J(type="request", id="d", action="echo", payload=3))
    o += await drain(ws, 0.6)
    await ws.send(J(type="request", id="d", action="echo", payload=4))
    o += await drain(ws)
    await ws.send(J(type="request", id="f", action="fail"))
    o += await drain(ws)
    for p in ({"ms": "x"}, {"ms": 1.5}, 5):
        await ws.send(J(type="request", id="s", action="sleep", payload=p))
        o += await drain(ws)
    await ws.send(J(type="request", id="pb", action="publish", payload={"channel": ".bad", "data": 1}))
    o += await drain(ws)
    lid = "L" * 40
    await ws.send(J(type="request", id=lid, action="echo", payload=1))
    o += [x.replace(lid, "<LID>") for x in await drain(ws)]
    t = time.monotonic()
    await ws.send(J(type="request", id="z", action="sleep", payload={"ms": 400}))
    m = await rx(ws, 2)
    o.append("sleep:%s %s" % (m, cat(time.monotonic() - t, 0.4)))
    o.append("open:" + await rx(ws, 0.2))
    await ws.close()
    return o


async def s_sub(srv):
    o = []
    a = await connect(srv, TOK["alice"])
    await a.send(J(type="subscribe", channel="news"))
    sub = json.loads(await a.recv())
    o.append(norm(json.dumps(sub)))
    for i in range(7):
        await a.send(J(type="request", id="p%d" % i, action="publish", payload={"channel": "news", "data": i}))
    got = await drain(a, 0.8)
    o += sorted(got)
    o.append("order:" + ",".join(str(json.loads(x)["position"]["offset"]) if "offset" in x and '"push"' in x else "r" for x in got if '"push"' in x))
    o.append("raw:" + ",".join(x for x in got if '"push"' in x)[:0])
    epoch = sub["position"].get("epoch")
    await a.send(J(type="subscribe", channel="news"))
    o += ["resub:" + x for x in await drain(a)]
    await a.send(J(type="subscribe", channel="news", since={"epoch": epoch, "offset": 7}))
    o += ["resub-same:" + x for x in await drain(a)]
    await a.send(J(type="subscribe", channel="news", since={"epoch": epoch, "offset": 4}))
    o += ["resub-diff:" + x for x in await drain(a)]
    for ch in (".x", "a" * 129, "news\n", "", "user:bob", "a:b/c-d.e_f"):
        await a.send(J(type="subscribe", channel=ch))
        o += ["sub %r:" % ch[:5] + x for x in await drain(a, 0.3)]
    await a.send(J(type="subscribe", channel="c4"))
    o += ["limit:" + x for x in await drain(a, 0.3)]
    await a.send(J(type="subscribe", channel="c5"))
    o += ["limit5:" + x for x in await drain(a, 0.3)]
    await a.send(J(type="subscribe", channel="news"))
    o += ["limit-resub:" + x for x in await drain(a, 0.3)]
    await a.send(J(type="request", id="q", action="publish", payload={"channel": "news", "data": "after"}))
    o += sorted("after-limit:" + x for x in await drain(a, 0.3))
    await a.send(J(type="unsubscribe", channel="zzz"))
    o += ["unsub-unknown:" + x for x in await drain(a, 0.3)]
    await a.send(J(type="unsubscribe", channel="news"))
    o += ["unsub:" + x for x in await drain(a, 0.3)]
    await a.send(J(type="request", id="q2", action="publish", payload={"channel": "news", "data": "x"}))
    o += sorted("after-unsub:" + x for x in await drain(a, 0.3))
    await a.close()
    for label, since in (("in", {"epoch": epoch, "offset": 2}), ("in4", {"epoch": epoch, "offset": 6}),
                         ("old", {"epoch": epoch, "offset": 1}), ("ahead", {"epoch": epoch, "offset": 50}),
                         ("epoch", {"epoch": "zz", "offset": 0}), ("cur", {"epoch": epoch, "offset": 8})):
        b = await connect(srv, TOK["bob"])
        await b.send(J(type="subscribe", channel="news", since=since))
        o += ["%s:%s" % (label, x) for x in await drain(b, 0.3)]
        await b.send(J(type="request", id="q3", action="publish", payload={"channel": "news", "data": label}))
        o += sorted("%s-live:%s" % (label, x) for x in await drain(b, 0.3))
        await b.close()
    c = await connect(srv, TOK["carol"])
    await c.send(J(type="subscribe", channel="fresh"))
    await c.send(J(type="request", id="r", action="publish", payload={"channel": "fresh", "data": 0}))
    o += ["b2b:" + x for x in await drain(c, 0.6)]
    await c.close()
    return o


async def s_hb(srv):
    o = []
    ws = await connect(srv, TOK["alice"], klass=Rec)
    await asyncio.sleep(2.2)
    o.append("pings=%s" % ("ok" if 3 <= ws.npings <= 5 else "few" if ws.npings < 3 else "many"))
    o.append("open:" + await rx(ws, 0.1))
    for i in range(2):
        await ws.send(J(type="ping"))
        o.append(await rx(ws))
    await ws.close()
    u = await connect(srv, klass=Rec)
    await asyncio.sleep(0.75)
    o.append("unauth-pings=%s" % (u.npings > 0))
    await u.close()
    n = await connect(srv, TOK["bob"], klass=RecNoPong)
    t0 = time.monotonic()
    try:
        await asyncio.wait_for(n.recv(), 4)
        o.append("nopong:msg")
    except ConnectionClosed as e:
        dt = time.monotonic() - (n.ping_times[0] if n.ping_times else t0)
        o.append("nopong:%s %r %s" % (e.code, e.reason, cat(dt, 0.5)))
    except asyncio.TimeoutError:
        o.append("nopong:open")
    d = await connect(srv, TOK["carol"], klass=NoPong)
    res = "open"
    for i in range(15):
        await d.send(J(type="ping"))
        m = await rx(d, 0.2)
        if m.startswith("CLOSE"):
            res = m
            break
    o.append("nopong-data:" + res)
    return o


async def flood(ws, n, frame):
    for i in range(n):
        await ws.send(frame)
    return await drain(ws, 0.4)


def summarize(msgs):
    closes = [m for m in msgs if m.startswith("CLOSE")]
    return "%d msgs %s" % (len([m for m in msgs if not m.startswith("CLOSE")]), closes[0] if closes else "open")


async def s_rate(srv):
    o = []
    a1 = await connect(srv, TOK["alice"])
    a2 = await connect(srv, TOK["alice"])
    b = await connect(srv, TOK["bob"])
    await asyncio.sleep(0.3)
    o.append("budget:" + summarize(await flood(a1, 20, J(type="ping"))))
    await asyncio.sleep(1.15)
    o.append("budget2:" + summarize(await flood(a1, 20, J(type="ping"))))
    await asyncio.sleep(1.15)
    o.append("over:" + summarize(await flood(a1, 21, J(type="ping"))))
    o.append("other-conn:" + summarize(await drain(a2, 0.3)))
    o.append("other-user:" + summarize(await drain(b, 0.3)))
    await b.close()
    await asyncio.sleep(1.2)
    a = await connect(srv, TOK["alice"])
    o.append("bin-flood:" + summarize(await flood(a, 21, b"\x00")))
    await asyncio.sleep(1.2)
    a = await connect(srv, TOK["alice"])
    await flood(a, 12, J(type="ping"))
    await asyncio.sleep(0.6)
    o.append("spread:" + summarize(await flood(a, 12, J(type="ping"))))
    await asyncio.sleep(1.2)
    a = await connect(srv, TOK["alice"])
    await asyncio.sleep(1.2)
    o.append("after-idle:" + summarize(await flood(a, 20, J(type="ping"))))
    await asyncio.sleep(1.2)
    x1 = await connect(srv, TOK["carol"])
    x2 = await connect(srv, TOK["carol"])
    m1 = await flood(x1, 12, J(type="ping"))
    m2 = await flood(x2, 12, J(type="ping"))
    o.append("two-conns:" + summarize(m1) + "/" + summarize(m2))
    await asyncio.sleep(1.2)
    y = await connect(srv, TOK["dave"])
    await flood(y, 15, J(type="ping"))
    await y.close()
    y = await connect(srv, TOK["dave"])
    o.append("reconnect:" + summarize(await flood(y, 10, J(type="ping"))))
    await asyncio.sleep(1.2)
    e = await connect(srv, TOK["erin"])
    f = await connect(srv, TOK["frank"])
    me = await flood(e, 12, J(type="ping"))
    mf = await flood(f, 12, J(type="ping"))
    o.append("two-users:" + summarize(me) + "/" + summarize(mf))
    return o


async def s_sess(srv):
    o = []
    a1 = await connect(srv, TOK["alice"])
    b = await connect(srv, TOK["bob"])
    a2 = await connect(srv, TOK["alice"])
    o.append("old:" + await rx(a1, 0.5))
    await a2.send(J(type="ping"))
    o.append("new:" + await rx(a2, 0.5))
    await b.send(J(type="ping"))
    o.append("bob:" + await rx(b, 0.5))
    return o


async def s_limit(srv):
    o = []
    ws = await connect(srv, TOK["alice"])

    def sized(n, ch="x"):
        base = J(type="request", id="1", action="echo", payload="")
        pad = n - len(base.encode())
        return J(type="request", id="1", action="echo", payload=ch * (pad // len(ch.encode())))
    m = sized(1000)
    assert len(m.encode()) == 1000, len(m.encode())
    await ws.send(m)
    o.append("exact:" + (await rx(ws))[:40])
    await ws.send(sized(1001))
    o.append("over1:" + await rx(ws))
    ws = await connect(srv, TOK["alice"])
    await ws.send(sized(1500))
    o.append("1500:" + (await rx(ws))[:40])
    ws = await connect(srv, TOK["alice"])
    mb = sized(1400, "é")
    await ws.send(mb)
    o.append("multibyte:" + (await rx(ws))[:40])
    # pending
    ws = await connect(srv, TOK["bob"])
    for i in range(3):
        await ws.send(J(type="request", id="s%d" % i, action="sleep", payload={"ms": 500}))
    await ws.send(J(type="request", id="e", action="echo", payload=1))
    o += ["pend:" + x for x in await drain(ws, 0.3)]
    o += sorted("pend2:" + x for x in await drain(ws, 0.6))
    await ws.send(J(type="request", id="e2", action="echo", payload=1))
    o += ["pend3:" + x for x in await drain(ws, 0.3)]
    await ws.close()
    # per-IP
    await asyncio.sleep(0.3)
    conns = []
    res = []
    for i in range(7):
        try:
            conns.append(await connect(srv))
            res.append("101")
        except InvalidStatusCode as e:
            res.append(str(e.status_code))
    o.append("perip:" + ",".join(res))
    for c in conns:
        await c.close()
    return o


async def s_slow(srv):
    """LIMIT-3: a raw client that stops reading; another subscriber keeps reading."""
    o = []
    host, port = "127.0.0.1", srv.port
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect((host, port))
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall(("GET /ws HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: mooring.v1\r\n\r\n"
               % (host, port, key)).encode())
    buf = b""
    while b"\r\n\r\n" not in buf:
        buf += s.recv(4096)
    buf = buf.split(b"\r\n\r\n", 1)[1]

    def frame(text):
        data = text.encode()
        mask = os.urandom(4)
        n = len(data)
        hdr = bytes([0x81])
        if n < 126:
            hdr += bytes([0x80 | n])
        else:
            hdr += bytes([0x80 | 126]) + n.to_bytes(2, "big")
        return hdr + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data))
    s.sendall(frame(J(type="auth", token=TOK["alice"])))
    s.sendall(frame(J(type="subscribe", channel="big")))
    await asyncio.sleep(0.3)
    other = await connect(srv, TOK["bob"])
    await other.send(J(type="subscribe", channel="big"))
    await other.recv()
    pub = await connect(srv, TOK["carol"])
    payload = "x" * 60000
    n_other = 0
    got = []

    async def reader():
        while True:
            m = await rx(other, 5)
            got.append(m)
            if m.startswith("CLOSE") or m == "TIMEOUT":
                return
    rt = asyncio.ensure_future(reader())
    for i in range(120):
        await pub.send(J(type="request", id="p%d" % i, action="publish", payload={"channel": "big", "data": payload}))
        await pub.recv()
        await asyncio.sleep(0.005)
    await asyncio.sleep(1.0)
    rt.cancel()
    n_other = len([m for m in got if '"push"' in m])
    o += ["other:" + m for m in got if m.startswith("CLOSE")]
    o.append("other-got-all=%s" % (n_other >= 120))
    # now read the slow socket to its end and find the close frame
    s.setblocking(True)
    s.settimeout(8)
    data = buf
    code = None
    reason = None
    try:
        while True:
            chunk = s.recv(1 << 20)
            if not chunk:
                break
            data += chunk
    except Exception:
        pass
    i = 0
    while i + 2 <= len(data):
        b0, b1 = data[i], data[i + 1]
        n = b1 & 0x7F
        j = i + 2
        if n == 126:
            n = int.from_bytes(data[j:j + 2], "big")
            j += 2
        elif n == 127:
            n = int.from_bytes(data[j:j + 8], "big")
            j += 8
        if j + n > len(data):
            break
        if b0 & 0x0F == 8:
            code = int.from_bytes(data[j:j + 2], "big") if n >= 2 else None
            reason = data[j + 2:j + n].decode()
            break
        i = j + n
    o.append("slow-close:%s %r" % (code, reason))
    s.close()
    return o


async def s_err(srv):
    o = []
    ws = await connect(srv, TOK["alice"])
    other = await connect(srv, TOK["bob"])
    frames = ["not json", '{"type":"request","id":"n","action":"echo","payload":NaN}', "[]", "42",
              J(type="nope"), J(type="request", id="x"), J(type="request", id="", action="echo"),
              J(type="request", id="i" * 65, action="echo"), J(type="request", id="a", action="1abc"),
              J(type="subscribe", channel="n", since={"epoch": "e", "offset": -1}), J(type=5)]
    for f in frames:
        try:
            await ws.send(f)
        except ConnectionClosed:
            pass
        o += ["%s => %s" % (f[:30], x) for x in await drain(ws, 0.3)]
    o.append("other:" + summarize(await drain(other, 0.3)))
    try:
        c = await connect(srv, TOK["carol"])
        o.append("new-conn-ok")
        await c.close()
    except Exception as e:
        o.append("new-conn-fail")
    return o


async def s_shut(srv):
    o = []
    o.append("healthz-before:" + http(srv, "GET", "/healthz"))
    a = await connect(srv, TOK["alice"])
    b = await connect(srv, TOK["bob"])
    c = await connect(srv, TOK["carol"])
    d = await connect(srv, TOK["dave"])
    u = await connect(srv)
    hold = socket.create_connection(("127.0.0.1", srv.port))  # keeps nothing; just a TCP peer
    srv.p.send_signal(signal.SIGTERM)
    hints = []
    for w in (a, b, c, d, u):
        try:
            await asyncio.wait_for(w.recv(), 2)
            o.append("msg")
        except ConnectionClosed as e:
            m = re.match(r"^service_restart;retry=(\d+)$", e.reason or "")
            if m:
                hints.append(int(m.group(1)))
            o.append("close:%s %r" % (e.code, re.sub(r"retry=\d+", "retry=N", e.reason or "")))
        except asyncio.TimeoutError:
            o.append("timeout")
    hold.close()
    if hints:
        spread = max(hints) - min(hints)
        o.append("hint-spread:%s max<=1000:%s" % ("wide" if spread > 100 else "narrow", max(hints) <= 1000))
    return o


async def s_shut_probe(srv):
    """Upgrade and /healthz while shutting down (an unresponsive TCP peer keeps the server draining)."""
    o = []
    raw = socket.create_connection(("127.0.0.1", srv.port))
    key = base64.b64encode(os.urandom(16)).decode()
    raw.sendall(("GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n" % key).encode())
    raw.recv(4096)
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
    await asyncio.sleep(0.2)
    srv.p.send_signal(signal.SIGTERM)
    await asyncio.sleep(0.1)
    o.append("upgrade:" + await handshake_status(srv))
    o.append("healthz:" + http(srv, "GET", "/healthz"))
    raw.close()
    return o


async def s_storm(srv):
    o = []
    ws = []
    for u in ("alice", "bob", "carol", "dave", "erin", "frank", "xlong"):
        ws.append(await connect(srv))
    for w, u in zip(ws, ("alice", "bob", "carol", "dave", "erin", "frank", "xlong")):
        await w.send(J(type="auth", token=TOK[u]))
    for w in ws:
        o.append(await rx(w))
    for w in ws:
        await w.send(J(type="subscribe", channel="news", since={"epoch": "old-epoch", "offset": 3}))
    for w in ws:
        o.append(await rx(w))
    return o


async def s_sec(srv):
    o = []
    own = "http://127.0.0.1:%d" % srv.port
    for org in (None, own, "https://127.0.0.1:%d" % srv.port, "http://evil.example", "null",
                own.upper().replace("HTTP", "http"), own + ".evil.example", "HTTP://127.0.0.1:%d" % srv.port):
        o.append("%s %s" % (org and org.replace(str(srv.port), "P"),
                            await handshake_status(srv, origin=org)))
    return o


async def s_http(srv):
    o = []
    o.append("hb-none:" + http(srv, "POST", "/heartbeat"))
    o.append("hb-bad:" + http(srv, "POST", "/heartbeat", "nope"))
    o.append("pres-before:" + http(srv, "GET", "/presence", TOK["alice"]))
    ws = await connect(srv, TOK["alice"])
    o.append("hb-good:" + http(srv, "POST", "/heartbeat", TOK["alice"]))
    o.append("pres:" + http(srv, "GET", "/presence", TOK["alice"]))
    o.append("pres-none:" + http(srv, "GET", "/presence"))
    o.append("pres-bad:" + http(srv, "GET", "/presence", "nope"))
    o.append("healthz:" + http(srv, "GET", "/healthz"))
    await ws.close()
    return o


SCEN = {
    "VER": [s_ver], "AUTH-2": [s_auth], "AUTH-3": [s_auth], "AUTH-4": [s_auth], "AUTH-5": [s_auth],
    "AUTH-7": [s_url], "AUTH-8": [s_expiry, s_reauth, s_reauth2], "AUTH-11": [s_expiry],
    "AUTH-9": [s_reauth, s_reauth2], "REQ": [s_req], "CONF-1": [s_req], "CONF-3": [s_req],
    "CONF-2": [s_sub], "SUB": [s_sub], "HB": [s_hb], "RATE": [s_rate], "SESS": [s_sess],
    "LIMIT-1": [s_limit], "LIMIT-2": [s_limit], "LIMIT-4": [s_sub], "LIMIT-5": [s_limit], "LIMIT-3": [s_slow],
    "ERR-1": [s_err], "ERR-2": [s_err, s_auth], "ERR-3": [s_err, s_req], "ERR-4": [s_err],
    "ERR-5": [s_sess], "ERR-6": [s_sess, s_rate, s_limit], "SHUT-1": [s_shut_probe], "SHUT-2": [s_shut],
    "SHUT-3": [s_shut], "SHUT-4": [s_storm], "SEC": [s_sec], "HTTP-5": [s_http, s_shut_probe], "HTTP": [s_http],
}
EXTRA = {s_rate: ["--session-policy", "multiple", "--heartbeat-interval-ms", "300", "--heartbeat-timeout-ms", "2000"],
         s_slow: ["--max-payload-bytes", "65536", "--rate-messages", "100000", "--max-buffered-bytes", "200000",
                  "--heartbeat-interval-ms", "20000", "--heartbeat-timeout-ms", "20000"],
         s_limit: ["--heartbeat-interval-ms", "5000"], s_err: ["--heartbeat-interval-ms", "5000"],
         s_sub: ["--heartbeat-interval-ms", "5000", "--max-pending-requests", "100"], s_req: ["--heartbeat-interval-ms", "5000"],
         s_storm: ["--heartbeat-interval-ms", "5000", "--max-connections-per-ip", "50"], s_shut: ["--heartbeat-interval-ms", "5000"],
         s_ver: ["--heartbeat-interval-ms", "5000"], s_sess: ["--heartbeat-interval-ms", "5000"],
         s_auth: ["--heartbeat-interval-ms", "5000"], s_reauth: ["--heartbeat-interval-ms", "5000"],
         s_reauth2: ["--heartbeat-interval-ms", "5000"], s_expiry: ["--heartbeat-interval-ms", "5000"]}


def scenarios_for(rule):
    if rule in SCEN:
        return SCEN[rule]
    return SCEN[rule.split("-")[0]]


async def run(scn, mutant):
    srv = Server(mutant, EXTRA.get(scn, []))
    try:
        return await asyncio.wait_for(scn(srv), 40)
    except Exception as e:
        return ["EXC %s %s" % (type(e).__name__, str(e)[:80])]
    finally:
        srv.stop()


async def main():
    muts = json.load(open(os.path.join(HERE, "mutants.json")))
    sel = sys.argv[1:]
    if sel:
        muts = [m for m in muts if any(m["name"].startswith(s) or m["rule"] == s for s in sel)]
    base = {}
    dead, alive = [], []
    for m in muts:
        diffs = []
        for scn in scenarios_for(m["rule"]):
            if scn not in base:
                r1 = await run(scn, "")
                base[scn] = r1
            r = await run(scn, m["name"])
            if r != base[scn]:
                d = [x for x in r if x not in base[scn]][:2] + ["-" + x for x in base[scn] if x not in r][:2]
                diffs.append("%s: %s" % (scn.__name__, d))
                break
        if diffs:
            dead.append(m["name"])
            print("VISIBLE  %-36s %s" % (m["name"], diffs[0][:150]), flush=True)
        else:
            alive.append(m["name"])
            print("UNSEEN   %-36s" % m["name"], flush=True)
    print("visible %d, unseen %d: %s" % (len(dead), len(alive), " ".join(alive)))




async def stable():
    seen = []
    for scns in SCEN.values():
        for s in scns:
            if s in seen:
                continue
            seen.append(s)
            r1 = await run(s, "")
            r2 = await run(s, "")
            print(s.__name__, "STABLE" if r1 == r2 else "UNSTABLE %s | %s" % ([x for x in r1 if x not in r2], [x for x in r2 if x not in r1]), flush=True)
            if os.environ.get("SHOW"):
                print("\n".join("   " + x[:160] for x in r1))


if __name__ == "__main__":
    if sys.argv[1:2] == ["--stable"]:
        asyncio.run(stable())
    else:
        asyncio.run(main())
