#!/usr/bin/python3
"""Mooring v1 server, written from spec/mooring-v1.md alone.

Run:  /usr/bin/python3 server.py --port 0 --tokens-file tokens.json [--mutant NAME]

Uses Debian's python3-websockets 10.4 (legacy asyncio API) and the standard library.
With no --mutant the server is meant to be conformant; --mutant NAME plants one
single-clause violation (see mutants.json).
"""
import argparse
import asyncio
import collections
import hashlib
import http
import json
import logging
import math
import os
import random
import re
import secrets
import signal
import socket
import sys
import time
from urllib.parse import urlsplit, parse_qsl

import websockets
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed, InvalidMessage
from websockets.legacy.http import read_headers, read_line
from websockets.legacy.server import WebSocketServerProtocol
from websockets.legacy.protocol import State
from websockets.frames import OP_TEXT, OP_BINARY, OP_PING, OP_PONG

PROTOCOL = "mooring.v1"
CHANNEL_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:/-]{0,127}")
ACTION_RE = re.compile(r"[A-Za-z][A-Za-z0-9_.:-]{0,63}")
HTTP_PATHS = ("/heartbeat", "/presence", "/healthz")
PRESENCE_WINDOW_MS = 60000
HIGH_WATER = 64 * 1024

MUTANT = ""


def M(name):
    return MUTANT == name


def now_ms():
    return int(time.time() * 1000)


def mono_ms():
    return time.monotonic() * 1000.0


def log(level, event, **fields):
    rec = {"ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + ".%03dZ" % (int(time.time() * 1000) % 1000),
           "level": level, "event": event}
    rec.update(fields)
    try:
        sys.stderr.write(json.dumps(rec, default=str) + "\n")
        sys.stderr.flush()
    except Exception:
        pass


def sha256(s):
    return hashlib.sha256(s.encode("utf-8", "surrogatepass")).hexdigest()


class S:
    """Server-wide state and settings."""
    args = None
    path = "/ws"
    tokens = {}  # sha256 -> (user, expiresAt ms or None)
    conns = set()  # open Conn objects (WebSocket open)
    user_sessions = collections.defaultdict(set)  # user -> authenticated Conns
    ip_count = collections.defaultdict(int)
    rate = collections.defaultdict(collections.deque)  # key -> deque of mono ms
    fixed_rate = {}  # key -> (window index, count)
    channels = {}
    last_seen = {}  # user -> ms
    shutting_down = False
    start_ms = 0
    start_mono = 0.0
    protos = set()
    conn_seq = 0
    storm_times = collections.deque()


def is_int(v):
    return isinstance(v, int) and not isinstance(v, bool) or (isinstance(v, float) and v.is_integer() and math.isfinite(v))


def params():
    a = S.args
    p = {
        "heartbeatIntervalMs": a.heartbeat_interval_ms,
        "heartbeatTimeoutMs": a.heartbeat_timeout_ms,
        "authTimeoutMs": a.auth_timeout_ms,
        "requestTimeoutMs": a.request_timeout_ms,
        "rateLimit": {"messages": a.rate_messages, "windowMs": a.rate_window_ms},
        "maxPayloadBytes": a.max_payload_bytes,
        "maxSubscriptions": a.max_subscriptions,
        "maxBufferedBytes": a.max_buffered_bytes,
        "historySize": a.history_size,
        "maxPendingRequests": a.max_pending_requests,
        "sessionPolicy": a.session_policy,
        "tokenExpiresAt": None,
    }
    if M("auth5-missing-param"):
        del p["heartbeatTimeoutMs"]
    if M("auth5-params-string-numbers"):
        p["maxPayloadBytes"] = str(p["maxPayloadBytes"])
    return p


# ---------------------------------------------------------------- channels

class Channel:
    def __init__(self, name):
        self.name = name
        self.epoch = "e" + secrets.token_hex(6)
        self.offset = 0
        hs = S.args.history_size
        if M("sub8-history-one-short"):
            hs = max(0, hs - 1)
        self.history = collections.deque(maxlen=hs)  # (offset, data, ts)
        self.subscribers = set()

    def pos(self, offset=None):
        return {"epoch": self.epoch, "offset": self.offset if offset is None else offset}


def channel(name):
    ch = S.channels.get(name)
    if ch is None:
        ch = S.channels[name] = Channel(name)
    return ch


def authorized(user, ch):
    if M("sub4-allow-all"):
        return True
    if ch.startswith("user:"):
        if M("sub4-forbid-own"):
            return False
        return ch == "user:" + user
    return True


# ---------------------------------------------------------------- connection

class Conn:
    def __init__(self, ws, ip):
        S.conn_seq += 1
        self.id = "c%d" % S.conn_seq
        self.ws = ws
        self.ip = ip
        self.user = None
        self.session_id = None
        self.token_exp = None
        self.token_hash = None
        self.warned_for = None
        self.subs = {}  # channel -> count of subscriptions (mutant dup) ; value 1
        self.pending = {}
        self.used_ids = set()
        self.outq = collections.deque()
        self.outq_bytes = 0
        self.writer = None
        self.closing = False
        self.handles = []
        self.tasks = set()
        self.warn_handle = None
        self.expire_handle = None
        self.opened = time.monotonic()
        self.held = None
        self.ordered = collections.deque()
        self.ping_count = 0
        self.last_app_ping = time.monotonic()
        self.auth_deadline = None

    # -- output
    def send(self, obj, binary=False):
        if M("err3-code-uppercase") and obj.get("type") == "error":
            obj = dict(obj, code=obj["code"].upper())
        if M("err3-code-uppercase") and obj.get("type") == "response" and "error" in obj:
            obj = dict(obj, error=dict(obj["error"], code=obj["error"]["code"].upper()))
        text = json.dumps(obj, separators=(",", ":"), allow_nan=M("err1-accepts-nan"))
        if M("ver5-binary-responses") and obj.get("type") == "response":
            binary = True
        self.send_text(text, binary)

    def send_text(self, text, binary=False):
        ws = self.ws
        if self.closing or ws.state is not State.OPEN:
            return
        data = text.encode("utf-8")
        op = OP_BINARY if binary else OP_TEXT
        try:
            if self.outq or ws.transport.get_write_buffer_size() >= HIGH_WATER:
                self.outq.append((op, data))
                self.outq_bytes += len(data)
                if self.writer is None or self.writer.done():
                    self.writer = asyncio.get_event_loop().create_task(self.write_loop())
            else:
                ws.write_frame_sync(True, op, data)
        except Exception:
            return
        self.check_slow()

    def waiting_bytes(self):
        try:
            return self.outq_bytes + self.ws.transport.get_write_buffer_size()
        except Exception:
            return self.outq_bytes

    def check_slow(self):
        if M("limit3-never-close"):
            return
        if self.closing:
            return
        if self.waiting_bytes() > S.args.max_buffered_bytes:
            log("warn", "slow_consumer", conn=self.id, userId=self.user)
            if M("limit3-close-all-subscribers"):
                victims = set()
                for ch in self.subs:
                    victims |= S.channels[ch].subscribers if ch in S.channels else set()
                for v in list(victims):
                    if v is not self:
                        v.close(4509, "slow_consumer")
            code = 1008 if M("limit3-wrong-code") else 4509
            reason = "slow consumer" if M("limit3-wrong-reason") else "slow_consumer"
            self.close(code, reason, flush=False)

    async def write_loop(self):
        ws = self.ws
        while self.outq and not self.closing:
            try:
                if ws.transport.get_write_buffer_size() < HIGH_WATER:
                    op, data = self.outq.popleft()
                    self.outq_bytes -= len(data)
                    ws.write_frame_sync(True, op, data)
                else:
                    await asyncio.sleep(0.005)
            except Exception:
                return

    async def drain_blocking(self):
        """Mutant limit3-block-others: wait until this connection's data has drained."""
        t0 = time.monotonic()
        while not self.closing and self.waiting_bytes() > 0 and time.monotonic() - t0 < 30:
            await asyncio.sleep(0.01)

    # -- close
    def close(self, code, reason, flush=True, hard=False):
        if self.closing:
            return
        ws = self.ws
        if flush:
            try:
                while self.outq:
                    op, data = self.outq.popleft()
                    ws.write_frame_sync(True, op, data)
            except Exception:
                pass
        self.outq.clear()
        self.outq_bytes = 0
        if M("err5-generic-1008") and code >= 4000:
            code = 1008
        if M("err6-retry-space") and ";retry=" in reason:
            reason = reason.replace(";retry=", "; retry=")
        self.closing = True
        self.cleanup()
        log("info", "connection_closed", conn=self.id, userId=self.user, code=code)
        try:
            if M("hb1-no-close-frame") and code == 4001:
                ws.transport.abort()
                return
            ws.fail_connection(code, reason)
            if hard:
                ws.transport.close()
                asyncio.get_event_loop().call_later(1.0, ws.transport.abort)
        except Exception:
            try:
                ws.transport.abort()
            except Exception:
                pass

    def cleanup(self):
        S.conns.discard(self)
        if self.user is not None:
            S.user_sessions[self.user].discard(self)
        for ch in list(self.subs):
            c = S.channels.get(ch)
            if c:
                c.subscribers.discard(self)
        for h in self.handles:
            h.cancel()
        for h in (self.warn_handle, self.expire_handle):
            if h:
                h.cancel()
        for t in list(self.tasks):
            t.cancel()
        if M("rate3-reset-on-reconnect") and self.user is not None and not S.user_sessions[self.user]:
            S.rate.pop(self.user, None)


# ---------------------------------------------------------------- schema

class Invalid(Exception):
    pass


def check_str(v, name, lo, hi):
    if not isinstance(v, str):
        raise Invalid("/%s must be string" % name)
    if len(v) < lo:
        raise Invalid("/%s must NOT have fewer than %d characters" % (name, lo))
    if len(v) > hi:
        raise Invalid("/%s must NOT have more than %d characters" % (name, hi))


def check_channel(v, name="channel"):
    if not isinstance(v, str):
        raise Invalid("/%s must be string" % name)
    if M("sub1-accept-invalid"):
        if v:
            return
    if M("sub1-accept-129") and len(v) == 129 and CHANNEL_RE.fullmatch(v[:128]) and re.fullmatch(r"[A-Za-z0-9_.:/-]", v[128]):
        return
    if M("sub1-leading-separator") and v and v[0] in ".:/-" and CHANNEL_RE.fullmatch("a" + v[1:]):
        return
    if M("sub1-trailing-newline") and re.match(r"^[A-Za-z0-9_][A-Za-z0-9_.:/-]{0,127}$", v):
        return
    if not CHANNEL_RE.fullmatch(v):
        raise Invalid('/%s must match pattern "^[A-Za-z0-9_][A-Za-z0-9_.:/-]{0,127}$"' % name)


KNOWN = {
    "auth": {"type", "token"},
    "request": {"type", "id", "action", "payload"},
    "subscribe": {"type", "channel", "since"},
    "unsubscribe": {"type", "channel"},
    "ping": {"type"},
}


def validate(msg):
    if not isinstance(msg, dict):
        raise Invalid("(message) must be object")
    t = msg.get("type")
    if "type" not in msg:
        raise Invalid("(message) must have required property 'type'")
    if not isinstance(t, str):
        raise Invalid("/type must be string")
    if t not in KNOWN:
        raise Invalid('unknown client message type "%s"' % t[:64])
    if M("ver7-reject-unknown-props"):
        extra = set(msg) - KNOWN[t]
        if extra:
            raise Invalid("(message) must NOT have additional properties")
    if t == "auth":
        if "token" not in msg:
            raise Invalid("(message) must have required property 'token'")
        check_str(msg["token"], "token", 1, 4096 if M("err2-token-too-long") else 512)
    elif t == "request":
        for k in ("id", "action"):
            if k not in msg:
                raise Invalid("(message) must have required property '%s'" % k)
        check_str(msg["id"], "id", 0 if M("err2-empty-id") else 1, 65 if M("err2-id-65") else 64)
        a = msg["action"]
        if not isinstance(a, str):
            raise Invalid("/action must be string")
        if not ACTION_RE.fullmatch(a) and not (M("err2-action-pattern") and re.fullmatch(r"[A-Za-z0-9_.:-]{1,64}", a)):
            raise Invalid('/action must match pattern "^[A-Za-z][A-Za-z0-9_.:-]{0,63}$"')
    elif t in ("subscribe", "unsubscribe"):
        if "channel" not in msg:
            raise Invalid("(message) must have required property 'channel'")
        check_channel(msg["channel"])
        if t == "subscribe" and "since" in msg:
            s = msg["since"]
            if not isinstance(s, dict):
                raise Invalid("/since must be object")
            for k in ("epoch", "offset"):
                if k not in s:
                    raise Invalid("/since must have required property '%s'" % k)
            check_str(s["epoch"], "since/epoch", 1, 64)
            o = s["offset"]
            if not is_int(o):
                raise Invalid("/since/offset must be integer")
            if o < 0 and not M("err2-negative-offset"):
                raise Invalid("/since/offset must be >= 0")
    return t


def _bad_constant(c):
    raise ValueError("invalid constant")


def _parse_float(s):
    f = float(s)
    if not math.isfinite(f):
        return None
    return f


def parse_json(text):
    if M("err1-accepts-nan"):
        return json.loads(text)
    return json.loads(text, parse_constant=_bad_constant, parse_float=_parse_float)


# ---------------------------------------------------------------- actions

class PayloadError(Exception):
    pass


class Forbidden(Exception):
    pass


async def act_echo(conn, has, payload):
    if M("conf1-echo-wraps"):
        return True, {"payload": payload if has else None}
    if M("conf1-null-drops-data") and payload is None:
        return False, None
    if M("conf1-absent-gives-null") and not has:
        return True, None
    return has, payload


def publish(name, data, publisher=None):
    ch = channel(name)
    step = 2 if M("sub5-step-2") else 1
    ch.offset += step
    ts = now_ms()
    if M("sub5-ts-seconds"):
        ts = ts // 1000
    ch.history.append((ch.offset, data, ts))
    off = ch.offset
    if M("sub5-start-at-0"):
        off = ch.offset - 1
    pos = {"epoch": ch.epoch, "offset": off}
    if M("sub5-no-epoch"):
        pos = {"offset": off}
    msg = {"type": "push", "channel": name, "data": data, "position": pos, "ts": ts}
    if M("sub5-no-ts"):
        del msg["ts"]
    text = json.dumps(msg, separators=(",", ":"), allow_nan=M("err1-accepts-nan"))
    subs = list(ch.subscribers)
    congested = M("limit3-block-others") and any(c.waiting_bytes() > HIGH_WATER for c in subs)
    for c in subs:
        if M("conf2-publisher-excluded") and c is publisher:
            continue
        if congested and c.waiting_bytes() <= HIGH_WATER:
            continue  # mutant: a congested subscriber holds back everyone else
        deliver(c, name, off, text)
    return {"epoch": ch.epoch, "offset": off}


def deliver(c, name, off, text):
    if M("sub6-drop") and off % 3 == 0:
        return
    if M("sub6-swap-pairs"):
        if c.held is None:
            c.held = text
            h = asyncio.get_event_loop().call_later(0.5, release_held, c)
            c.handles.append(h)
            return
        c.send_text(text)
        release_held(c)
        return
    n = c.subs.get(name, 1)
    if M("sub3-duplicate-delivery"):
        for _ in range(n):
            c.send_text(text)
    else:
        c.send_text(text)
    if M("sub6-duplicate") and off % 2 == 0:
        c.send_text(text)


def release_held(c):
    if c.held is not None:
        t, c.held = c.held, None
        c.send_text(t)


async def act_publish(conn, has, payload):
    if not isinstance(payload, dict):
        raise PayloadError("payload must be an object {channel, data}")
    ch = payload.get("channel")
    if M("req8-publish-invalid-channel"):
        if not isinstance(ch, str) or not ch:
            raise PayloadError("payload.channel must be a channel name")
    elif not isinstance(ch, str) or not CHANNEL_RE.fullmatch(ch):
        raise PayloadError("payload.channel must be a channel name")
    if "data" not in payload:
        raise PayloadError("payload.data is required")
    if not authorized(conn.user, ch):
        raise Forbidden()
    data = payload["data"]
    if M("conf2-data-wrapped"):
        data = payload
    pos = publish(ch, data, conn)
    if M("conf2-no-position"):
        return True, {}
    if M("conf2-position-off-by-one"):
        pos = dict(pos, offset=pos["offset"] + 1)
    return True, {"position": pos}


async def act_sleep(conn, has, payload):
    if not isinstance(payload, dict):
        if M("req8-internal-error"):
            raise RuntimeError("bad payload")
        raise PayloadError("payload must be an object {ms}")
    ms = payload.get("ms")
    ok = isinstance(ms, int) and not isinstance(ms, bool) and ms >= 0
    if isinstance(ms, float) and ms.is_integer() and ms >= 0:
        ok = True
        ms = int(ms)
    if M("req8-sleep-float") and isinstance(ms, float) and ms >= 0 and math.isfinite(ms):
        ok = True
    if not ok:
        if M("req8-internal-error"):
            raise RuntimeError("bad ms")
        raise PayloadError("payload.ms must be an integer >= 0")
    wait = ms
    if M("conf3-no-wait"):
        wait = 0
    if M("conf3-half"):
        wait = ms / 2
    await asyncio.sleep(wait / 1000.0)
    if M("conf3-wrong-answer"):
        return True, {"ms": ms}
    return True, {"slept": ms}


async def act_fail(conn, has, payload):
    raise RuntimeError("deliberate failure in handler at %s" % os.path.abspath(__file__))


ACTIONS = {"echo": act_echo, "publish": act_publish, "sleep": act_sleep, "fail": act_fail}


# ---------------------------------------------------------------- protocol

class MProto(WebSocketServerProtocol):
    def connection_made(self, transport):
        self.last_rx = time.monotonic()
        self.last_rx_pong = self.last_rx
        self.last_rx_data = self.last_rx
        self.counted_ip = None
        self.method = "GET"
        self.body = b""
        self.conn = None
        S.protos.add(self)
        super().connection_made(transport)

    def connection_lost(self, exc):
        S.protos.discard(self)
        if self.counted_ip is not None:
            S.ip_count[self.counted_ip] -= 1
            if S.ip_count[self.counted_ip] <= 0:
                S.ip_count.pop(self.counted_ip, None)
            self.counted_ip = None
        super().connection_lost(exc)

    async def read_frame(self, max_size):
        frame = await super().read_frame(max_size)
        t = time.monotonic()
        self.last_rx = t
        if frame.opcode == OP_PONG:
            self.last_rx_pong = t
            c = self.conn
            if M("rate2-counts-control") and c is not None and c.user is not None and not c.closing:
                rate_check(c)
        else:
            self.last_rx_data = t
        return frame

    async def read_http_request(self):
        try:
            line = await read_line(self.reader)
            method, raw_path, version = line.split(b" ", 2)
            headers = await read_headers(self.reader)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            raise InvalidMessage("did not receive a valid HTTP request") from exc
        self.method = method.decode("ascii", "replace")
        cl = headers.get("Content-Length")
        if cl and cl.strip().isdigit() and 0 < int(cl) <= 1 << 20:
            try:
                self.body = await self.reader.readexactly(int(cl))
            except Exception:
                self.body = b""
        path = raw_path.decode("ascii", "surrogateescape")
        self.path = path
        self.request_headers = headers
        return path, headers

    def peer_ip(self):
        try:
            return self.transport.get_extra_info("peername")[0]
        except Exception:
            return "?"

    def refuse(self, status, reason):
        log("warn", "handshake_rejected", ip=self.peer_ip(), status=int(status), reason=reason)
        return (http.HTTPStatus(status), Headers([("Content-Type", "text/plain")]), (reason + "\n").encode())

    async def process_request(self, path, headers):
        try:
            return self._process(path, headers)
        except Exception as e:
            log("error", "handshake_error", error=type(e).__name__)
            return (http.HTTPStatus.BAD_REQUEST, Headers(), b"bad request\n")

    def _process(self, path, headers):
        u = urlsplit(path)
        p = u.path
        if p in HTTP_PATHS and not M("http3-other-port"):
            return self.http_endpoint(p, headers)
        if p != S.path:
            return self.refuse(404, "not found")
        if self.method != "GET":
            return self.refuse(405, "method not allowed")
        if S.shutting_down and not M("shut1-accept-during-shutdown"):
            return self.refuse(500 if M("shut1-wrong-status") else 503, "shutting down")
        vals = headers.get_all("Sec-WebSocket-Protocol")
        if vals:
            names = [n.strip() for v in vals for n in v.split(",") if n.strip()]
            if not names:
                return self.refuse(400, "empty subprotocol header")
            if PROTOCOL not in names and not M("ver3-accept-unknown-subprotocol"):
                return self.refuse(406 if M("ver3-wrong-status") else 400, "unsupported subprotocol")
        elif M("ver4-refuse-no-subprotocol"):
            return self.refuse(400, "no subprotocol")
        origins = headers.get_all("Origin")
        if origins:
            if not M("sec1-no-check"):
                host = headers.get("Host")
                own = set()
                if host is not None and not M("sec1-reject-own-origin"):
                    own = {"http://" + host, "https://" + host}
                for o in origins:
                    ok = o in S.args.allow_origin or o in own
                    if M("sec1-case-insensitive") and not ok:
                        ok = o.lower() in {x.lower() for x in list(S.args.allow_origin) + list(own)}
                    if M("sec1-prefix-match") and not ok:
                        ok = any(o.startswith(x) for x in list(S.args.allow_origin) + list(own))
                    if M("sec1-null-allowed") and o == "null":
                        ok = True
                    if not ok:
                        return self.refuse(400 if M("sec1-wrong-status") else 403, "origin not allowed")
        elif M("sec1-reject-missing-origin"):
            return self.refuse(403, "origin required")
        if not S.args.allow_token_in_url and not M("auth7-accept-token-query"):
            q = u.query
            found = False
            if M("auth7-no-decode"):
                found = any(part.split("=", 1)[0] == "token" for part in q.split("&"))
            elif M("auth7-requires-value"):
                found = any(k == "token" and v for k, v in parse_qsl(q, keep_blank_values=True))
            elif M("auth7-first-param-only"):
                pairs = parse_qsl(q, keep_blank_values=True)
                found = bool(pairs) and pairs[0][0] == "token"
            else:
                found = any(k == "token" for k, v in parse_qsl(q, keep_blank_values=True))
            if found:
                return self.refuse(401 if M("auth7-wrong-status") else 400, "token in URL")
        ip = self.peer_ip()
        limit = S.args.max_connections_per_ip
        if M("limit2-off-by-one"):
            limit += 1
        if S.ip_count[ip] >= limit and not M("limit2-no-limit"):
            return self.refuse(503 if M("limit2-wrong-status") else 429, "too many connections")
        S.ip_count[ip] += 1
        self.counted_ip = ip
        return None

    def process_subprotocol(self, headers, available):
        if M("ver2-no-subprotocol-header"):
            return None
        vals = headers.get_all("Sec-WebSocket-Protocol")
        names = [n.strip() for v in vals for n in v.split(",") if n.strip()]
        if not names:
            return None
        if M("ver2-select-first"):
            return names[0]
        return PROTOCOL if PROTOCOL in names else None

    def http_endpoint(self, p, headers):
        def resp(status, body=None, ctype="application/json"):
            h = Headers()
            if body is not None:
                h["Content-Type"] = ctype
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
            else:
                data = b""
            if status == 401:
                h["WWW-Authenticate"] = "Bearer"
            return (http.HTTPStatus(status), h, data)

        if p == "/healthz":
            if M("http5-missing"):
                return resp(404, {"error": "not found"})
            if self.method not in ("GET", "HEAD"):
                return resp(405, {"error": "method not allowed"})
            if M("http5-requires-auth") and self.bearer_user(headers) is None:
                return resp(401, {"error": "unauthorized"})
            if S.shutting_down and not M("http5-200-during-shutdown"):
                return resp(503, {"status": "shutting_down"})
            return resp(200, {"status": "ok"})
        if p == "/heartbeat":
            if self.method != "POST":
                return resp(405, {"error": "method not allowed"})
            user = self.bearer_user(headers)
            if user is None:
                if M("http1-no-auth-check"):
                    return resp(204)
                return resp(403 if M("http1-wrong-auth-status") else 401, {"error": "unauthorized"})
            if not M("http1-not-recorded"):
                S.last_seen[user] = now_ms()
            if M("http1-wrong-status"):
                return resp(200, {"ok": True})
            return resp(204)
        if p == "/presence":
            if self.method != "GET":
                return resp(405, {"error": "method not allowed"})
            user = self.bearer_user(headers)
            if user is None:
                if M("http2-no-auth-check"):
                    return resp(200, {"userId": "", "connected": False, "lastSeen": None, "sessions": 0})
                return resp(401, {"error": "unauthorized"})
            ls = S.last_seen.get(user)
            connected = ls is not None and now_ms() - ls < PRESENCE_WINDOW_MS
            body = {"userId": user, "connected": connected, "lastSeen": ls,
                    "sessions": len(S.user_sessions.get(user, ()))}
            if M("http2-connected-always-false"):
                body["connected"] = False
            if M("http2-sessions-zero"):
                body["sessions"] = 0
            if M("http2-lastseen-null"):
                body["lastSeen"] = None
            if M("http2-missing-userid"):
                del body["userId"]
            return resp(200, body)
        return resp(404, {"error": "not found"})

    def bearer_user(self, headers):
        a = headers.get("Authorization")
        if not a:
            return None
        parts = a.strip().split(None, 1)
        if len(parts) != 2 or parts[0].lower() != "bearer":
            return None
        rec = S.tokens.get(sha256(parts[1].strip()))
        if rec is None:
            return None
        user, exp = rec
        if exp is not None and exp <= now_ms():
            return None
        return user


# ---------------------------------------------------------------- rate limit

def rate_key(conn):
    if M("rate3-per-connection"):
        return conn.id
    if M("rate3-global"):
        return "*"
    return conn.user


def rate_check(conn):
    """Count one data frame; return False (and close) when it exceeds the budget."""
    a = S.args
    limit = a.rate_messages
    window = a.rate_window_ms
    if M("rate1-allow-extra"):
        limit += 1
    if M("rate2-limit-at-budget"):
        limit -= 1
    if M("rate2-double-window"):
        window *= 2
    if M("rate1-half-window"):
        window = window / 2.0
    key = rate_key(conn)
    now = mono_ms()
    if M("rate1-fixed-window"):
        idx = int(now // window)
        widx, cnt = S.fixed_rate.get(key, (idx, 0))
        if widx != idx:
            cnt = 0
        if cnt >= limit:
            retry = int(math.ceil((idx + 1) * window - now))
            over(conn, key, max(1, retry))
            return False
        S.fixed_rate[key] = (idx, cnt + 1)
        return True
    dq = S.rate[key]
    while dq and dq[0] <= now - window:
        dq.popleft()
    if len(dq) >= limit:
        retry = max(1, int(math.ceil(dq[0] + window - now)))
        over(conn, key, retry)
        return False
    dq.append(now)
    return True


def over(conn, key, retry):
    if M("rate1-only-offender"):
        victims = [conn]
    elif M("rate3-per-connection"):
        victims = [conn]
    elif M("rate3-global"):
        victims = [c for c in S.conns if c.user is not None]
    else:
        victims = list(S.user_sessions.get(conn.user, ())) or [conn]
        if conn not in victims:
            victims.append(conn)
    reason = "rate_limited;retry=%d" % retry
    if M("rate1-no-retry-hint"):
        reason = "rate_limited"
    if M("rate1-wrong-reason"):
        reason = "rate_limit;retry=%d" % retry
    if M("err6-retry-fraction"):
        reason = "rate_limited;retry=%d.5" % retry
    code = 1008 if M("rate1-wrong-code") else 4429
    log("warn", "rate_limited", userId=conn.user, connections=len(victims), retryAfterMs=retry)
    for c in victims:
        c.close(code, reason)


# ---------------------------------------------------------------- auth

def lookup(token):
    rec = S.tokens.get(sha256(token))
    if rec is None and M("auth4-accept-any"):
        # treat an unknown token as belonging to the first user of the file
        first = next(iter(S.tokens.values()))
        return ("ok", first[0], None)
    if rec is None:
        return ("unknown", None, None)
    user, exp = rec
    if exp is not None and exp <= now_ms() and not M("auth11-accept-expired"):
        return ("expired", user, exp)
    return ("ok", user, exp)


def close_unknown(conn, reauth=False):
    log("info", "auth_failed", conn=conn.id, reason="unauthorized")
    if reauth:
        if M("auth9-unknown-keep-open"):
            conn.send({"type": "error", "code": "invalid_message", "message": "unknown token"})
            return
        if M("auth9-unknown-wrong-code"):
            conn.close(4400, "not_authenticated")
            return
    else:
        if M("auth4-error-keep-open"):
            conn.send({"type": "error", "code": "invalid_message", "message": "unknown token"})
            return
    code = 4403 if (M("auth4-wrong-code") and not reauth) else 4401
    reason = "invalid token" if (M("auth4-wrong-reason") and not reauth) else "unauthorized"
    conn.close(code, reason)


def close_expired(conn):
    log("info", "token_expired", conn=conn.id, userId=conn.user)
    code = 4401 if M("auth11-wrong-code") else 4419
    reason = "expired" if M("auth11-wrong-reason") else "token_expired"
    conn.close(code, reason)


def authenticated_msg(conn):
    p = params()
    p["tokenExpiresAt"] = conn.token_exp
    if M("auth9-same-expiry") and getattr(conn, "first_exp", "x") != "x":
        p["tokenExpiresAt"] = conn.first_exp
    msg = {"type": "authenticated", "userId": conn.user, "sessionId": conn.session_id,
           "protocol": PROTOCOL, "params": p, "server": {"name": "mooring-py", "version": "0.1.0"}}
    if M("auth5-no-session-id"):
        del msg["sessionId"]
    if M("auth5-wrong-protocol"):
        msg["protocol"] = "mooring"
    if M("auth5-userid-wrong"):
        msg["userId"] = "u-" + conn.user
    return msg


def do_auth(conn, token):
    status, user, exp = lookup(token)
    if conn.user is None:
        if status == "unknown":
            close_unknown(conn)
            return
        if status == "expired":
            close_expired(conn)
            return
        conn.user = user
        conn.token_exp = exp
        conn.first_exp = exp
        conn.session_id = "s_" + secrets.token_hex(8)
        if conn.auth_deadline:
            conn.auth_deadline.cancel()
        if M("shut4-1011-under-load") and time.monotonic() - S.start_mono < 15:
            t = time.monotonic()
            S.storm_times.append(t)
            while S.storm_times and S.storm_times[0] < t - 1.0:
                S.storm_times.popleft()
            if len(S.storm_times) > 5:
                conn.close(1011, "internal_error")
                return
        # session policy
        olds = [c for c in S.user_sessions.get(user, ()) if c is not conn]
        if M("sess1-replace-all-users"):
            olds = [c for c in S.conns if c.user is not None and c is not conn]
        S.user_sessions[user].add(conn)
        conn.send(authenticated_msg(conn))
        log("info", "auth_succeeded", conn=conn.id, userId=user, sessionId=conn.session_id, reauth=False, expiresAt=exp)
        if S.args.session_policy == "single" and not M("sess1-no-replace"):
            if M("sess1-close-newer") and olds:
                conn.close(4002, "session_replaced")
            else:
                for c in olds:
                    log("info", "session_replaced", conn=c.id, userId=user)
                    code = 4001 if M("sess1-wrong-code") else 4002
                    reason = "New session started elsewhere" if M("err6-free-form-reason") else (
                        "replaced" if M("sess1-wrong-reason") else "session_replaced")
                    c.close(code, reason)
        schedule_expiry(conn)
        return
    # in-band re-authentication
    if status == "unknown":
        close_unknown(conn, reauth=True)
        return
    if status == "expired":
        close_expired(conn)
        return
    if user != conn.user:
        log("info", "auth_failed", conn=conn.id, reason="user_mismatch")
        if M("auth9-switch-user"):
            S.user_sessions[conn.user].discard(conn)
            conn.user = user
            conn.token_exp = exp
            S.user_sessions[user].add(conn)
            conn.send(authenticated_msg(conn))
            schedule_expiry(conn)
            return
        if M("auth9-mismatch-close"):
            conn.close(4401, "unauthorized")
            return
        if M("auth9-mismatch-keeps-new-token"):
            conn.token_exp = exp
            schedule_expiry(conn)
        conn.send({"type": "error", "code": "forbidden" if M("auth9-mismatch-wrong-code") else "user_mismatch",
                   "message": "token belongs to another user"})
        return
    if not M("auth8-close-despite-reauth"):
        conn.token_exp = exp
        schedule_expiry(conn)
    else:
        conn.token_exp = exp
    if M("auth9-new-session-id"):
        conn.session_id = "s_" + secrets.token_hex(8)
    if M("auth9-drop-subscriptions"):
        for ch in list(conn.subs):
            c = S.channels.get(ch)
            if c:
                c.subscribers.discard(conn)
        conn.subs.clear()
    conn.send(authenticated_msg(conn))
    log("info", "auth_succeeded", conn=conn.id, userId=user, sessionId=conn.session_id, reauth=True, expiresAt=exp)


def schedule_expiry(conn):
    for h in (conn.warn_handle, conn.expire_handle):
        if h:
            h.cancel()
    conn.warn_handle = conn.expire_handle = None
    exp = conn.token_exp
    if exp is None:
        return
    loop = asyncio.get_event_loop()
    now = now_ms()
    warn_at = exp - S.args.token_warning_ms
    if M("auth8-warn-at-expiry"):
        warn_at = exp
    if conn.warned_for != exp and not M("auth8-no-warning"):
        conn.warn_handle = loop.call_later(max(0, warn_at - now) / 1000.0, warn_token, conn, exp)
    close_at = exp
    if M("auth8-close-early"):
        close_at = exp - 20000
    if M("auth8-close-late"):
        close_at = exp + 30000
    if not M("auth8-no-close"):
        conn.expire_handle = loop.call_later(max(0, close_at - now) / 1000.0, expire_token, conn)


def warn_token(conn, exp):
    if conn.closing:
        return
    conn.warned_for = exp
    conn.send({"type": "token_expiring", "expiresAt": exp // 1000 if M("auth8-expiresat-seconds") else exp})


def expire_token(conn):
    if conn.closing:
        return
    log("info", "token_expired", conn=conn.id, userId=conn.user)
    conn.close(4401 if M("auth8-close-wrong-code") else 4419, "token_expired")


# ---------------------------------------------------------------- message handling

def err(conn, code, message, **extra):
    m = {"type": "error", "code": code, "message": message}
    m.update(extra)
    conn.send(m)


def _is_json(text):
    try:
        json.loads(text)
        return True
    except Exception:
        return False


def handle_frame(conn, msg):
    binary = isinstance(msg, (bytes, bytearray))
    if conn.user is not None:
        if M("rate1-pings-exempt") and not binary and '"ping"' in msg and msg.replace(" ", "") == '{"type":"ping"}':
            pass
        elif M("rate1-invalid-exempt") and (binary or not _is_json(msg)):
            pass
        elif not rate_check(conn):
            return
    if M("auth2-reset-on-message") and conn.user is None:
        arm_auth_timer(conn)
    if binary:
        if M("ver6-close"):
            conn.close(1003, "unsupported_data")
            return
        if M("auth3-close-on-binary") and conn.user is None:
            conn.close(4400, "not_authenticated")
            return
        if M("ver6-no-answer"):
            return
        log("info", "message_invalid", conn=conn.id, code="binary_not_supported")
        err(conn, "invalid_message" if M("ver6-wrong-code") else "binary_not_supported",
            "binary frames are not supported")
        return
    if M("limit1-counts-chars") or M("limit1-wrong-code") or M("err6-1009-reason"):
        size = len(msg) if M("limit1-counts-chars") else len(msg.encode("utf-8", "surrogatepass"))
        if size > S.args.max_payload_bytes:
            log("info", "message_invalid", conn=conn.id, code=1009)
            if M("limit1-wrong-code"):
                conn.close(1008, "")
            else:
                conn.close(1009, "message too large" if M("err6-1009-reason") else "")
            return
    if M("limit1-error-instead") and len(msg.encode("utf-8", "surrogatepass")) > S.args.max_payload_bytes:
        err(conn, "invalid_message", "message too big")
        return
    try:
        obj = parse_json(msg)
    except (ValueError, RecursionError):
        if M("auth3-close-on-invalid-json") and conn.user is None:
            conn.close(4400, "not_authenticated")
            return
        if M("err1-close"):
            conn.close(1007, "")
            return
        if M("err1-no-answer"):
            return
        log("info", "message_invalid", conn=conn.id, code="invalid_json")
        text = "message is not valid JSON"
        if M("err3-message-internal-path"):
            text = "JSON decode failed in %s (json.decoder)" % os.path.abspath(__file__)
        err(conn, "invalid_message" if M("err1-wrong-code") else "invalid_json", text)
        if M("err4-disturb-others"):
            for c in list(S.conns):
                if c is not conn:
                    err(c, "invalid_json", "message is not valid JSON")
        return
    if M("err4-crash-on-non-object") and not isinstance(obj, dict):
        log("error", "crash")
        os._exit(70)
    try:
        t = validate(obj)
    except Invalid as e:
        if M("err2-non-object-invalid-json") and not isinstance(obj, dict):
            err(conn, "invalid_json", "message is not a JSON object")
            return
        if M("auth3-close-on-unknown-type") and conn.user is None and isinstance(obj, dict) \
                and isinstance(obj.get("type"), str) and obj.get("type") not in KNOWN:
            conn.close(4400, "not_authenticated")
            return
        if M("err2-close"):
            conn.close(4400, "not_authenticated")
            return
        if M("err2-unknown-type-ignored") and isinstance(obj, dict) and obj.get("type") not in KNOWN:
            return
        log("info", "message_invalid", conn=conn.id, code="invalid_message")
        if M("err2-response-for-bad-request") and isinstance(obj, dict) and obj.get("type") == "request" \
                and isinstance(obj.get("id"), str) and obj.get("id"):
            conn.send({"type": "response", "requestId": obj["id"], "success": False,
                       "error": {"code": "invalid_message", "message": str(e)}})
            return
        extra = {}
        if M("sub1-error-names-channel") and isinstance(obj, dict) and isinstance(obj.get("channel"), str) \
                and obj.get("type") == "subscribe":
            extra["channel"] = obj["channel"]
        code = "invalid_json" if M("err2-wrong-code") else "invalid_message"
        if M("sub1-wrong-code") and isinstance(obj, dict) and obj.get("type") == "subscribe" and "channel" in str(e):
            code = "forbidden"
        err(conn, code, str(e)[:1000], **extra)
        return
    if conn.user is None:
        if t == "auth":
            do_auth(conn, obj["token"])
            return
        if M("auth3-process"):
            err(conn, "invalid_message", "authenticate first")
            return
        log("info", "auth_failed", conn=conn.id, reason="not_authenticated")
        conn.close(4401 if M("auth3-wrong-code") else 4400,
                   "unauthenticated" if M("auth3-wrong-reason") else "not_authenticated")
        return
    conn.last_activity = time.monotonic()
    if t == "auth":
        do_auth(conn, obj["token"])
    elif t == "ping":
        conn.last_app_ping = time.monotonic()
        conn.ping_count += 1
        if M("hb2-no-pong"):
            return
        if M("hb2-every-other-ping") and conn.ping_count % 2 == 0:
            return
        if M("ver5-array-frame"):
            conn.send_text(json.dumps([{"type": "pong", "ts": now_ms()}]))
            return
        conn.send({"type": "pong", "ts": now_ms()})
    elif t == "request":
        handle_request(conn, obj)
    elif t == "subscribe":
        handle_subscribe(conn, obj)
    elif t == "unsubscribe":
        handle_unsubscribe(conn, obj)


def handle_request(conn, obj):
    rid = obj["id"]
    if M("req1-truncate-long-id"):
        rid = rid[:32]
    if rid in conn.pending or (M("req4-check-all-ids") and rid in conn.used_ids):
        if not M("req4-execute-duplicate"):
            extra = {} if M("req4-no-request-id") else {"requestId": obj["id"]}
            err(conn, "invalid_message" if M("req4-wrong-code") else "duplicate_request_id",
                "a request with this id is still pending", **extra)
            if M("req4-cancel-original") and rid in conn.pending:
                t = conn.pending.pop(rid)
                if t is not True:
                    t.cancel()
            return
    limit = S.args.max_pending_requests
    if M("limit5-off-by-one"):
        limit += 1
    npend = len(conn.pending)
    if npend >= limit and not M("limit5-no-limit"):
        if M("limit5-close"):
            conn.close(1008, "")
            return
        extra = {} if M("limit5-no-request-id") else {"requestId": obj["id"]}
        err(conn, "invalid_message" if M("limit5-wrong-code") else "too_many_requests",
            "too many pending requests", **extra)
        if not M("limit5-executes"):
            return
    conn.used_ids.add(rid)
    action = obj["action"]
    has = "payload" in obj
    payload = obj.get("payload")
    if action not in ACTIONS:
        if M("req2-error-message"):
            err(conn, "unknown_action", "unknown action", requestId=obj["id"])
            return
        resp = {"type": "response", "requestId": rid, "success": False,
                "error": {"code": "invalid_payload" if M("req2-wrong-code") else "unknown_action",
                          "message": "unknown action"}}
        send_response(conn, resp)
        return
    coro = run_request(conn, rid, action, has, payload)
    if M("req3-serial"):
        conn.pending[rid] = True
        return coro  # awaited by the reader loop
    task = asyncio.get_event_loop().create_task(coro)
    if rid not in conn.pending or M("req4-execute-duplicate"):
        conn.pending[rid] = task
    conn.tasks.add(task)
    task.add_done_callback(conn.tasks.discard)
    if M("req3-ordered-responses"):
        fut = asyncio.get_event_loop().create_future()
        conn.ordered.append(fut)
        task.ordered_fut = fut
    return None


def send_response(conn, resp):
    if M("req1-wrong-request-id"):
        resp["requestId"] = "r" + resp["requestId"]
    conn.send(resp)
    if M("req1-duplicate-response"):
        conn.send(resp)


async def run_request(conn, rid, action, has, payload):
    me = asyncio.current_task()
    try:
        try:
            has_data, data = await ACTIONS[action](conn, has, payload)
            resp = {"type": "response", "requestId": rid, "success": True}
            if has_data:
                resp["data"] = data
        except PayloadError as e:
            resp = {"type": "response", "requestId": rid, "success": False,
                    "error": {"code": "invalid_payload", "message": str(e)}}
        except Forbidden:
            resp = {"type": "response", "requestId": rid, "success": False,
                    "error": {"code": "forbidden", "message": "not allowed to publish to this channel"}}
        except asyncio.CancelledError:
            raise
        except Exception as e:
            log("error", "request_failed", conn=conn.id, action=action, error=repr(e)[:300])
            if M("req7-close"):
                conn.close(1011, "internal_error")
                return
            if M("req7-no-response"):
                if conn.pending.get(rid) in (me, True):
                    conn.pending.pop(rid, None)
                return
            msg = "internal error"
            if M("req7-leak-details"):
                msg = "internal error: %r" % (e,)
            resp = {"type": "response", "requestId": rid, "success": False,
                    "error": {"code": "invalid_payload" if M("req7-wrong-code") else "internal_error", "message": msg}}
        if M("req3-ordered-responses"):
            fut = me.ordered_fut
            fut.set_result(resp)
            # send every completed response at the head of the queue, in request order
            while conn.ordered and conn.ordered[0].done():
                f = conn.ordered.popleft()
                r = f.result()
                if conn.pending.get(r["requestId"]) is not None:
                    conn.pending.pop(r["requestId"], None)
                send_response(conn, r)
            return
        if conn.pending.get(rid) in (me, True):
            conn.pending.pop(rid, None)
        send_response(conn, resp)
    except asyncio.CancelledError:
        if conn.pending.get(rid) is me:
            conn.pending.pop(rid, None)
        raise


def handle_subscribe(conn, obj):
    name = obj["channel"]
    since = obj.get("since")
    if not authorized(conn.user, name):
        extra = {} if M("sub4-no-channel") else {"channel": name}
        err(conn, "invalid_message" if M("sub4-wrong-code") else "forbidden", "not allowed", **extra)
        return
    ch = channel(name)
    if M("shut4-resume-fails-after-start") and time.monotonic() - S.start_mono < 15 and since is not None \
            and since.get("epoch") != ch.epoch:
        err(conn, "internal_error", "subscription could not be started", channel=name)
        return
    already = name in conn.subs
    if already and not M("sub3-duplicate-delivery"):
        if M("limit4-resubscribe-counts"):
            conn.sub_attempts = getattr(conn, "sub_attempts", 0) + 1
        if M("sub3-no-reack"):
            return
        m = {"type": "subscribed", "channel": name, "position": ch.pos()}
        if since is not None:
            same = since.get("epoch") == ch.epoch and since.get("offset") == ch.offset
            if M("sub3-since-always-unavailable"):
                same = False
            if M("sub3-since-always-replayed"):
                same = True
            if M("sub3-replay-on-resubscribe"):
                start_subscription(conn, ch, since, resubscribe=True)
                return
            if same:
                m["resume"] = "replayed"
                m["replayed"] = 0
            else:
                m["resume"] = "unavailable"
        conn.send(m)
        return
    limit = S.args.max_subscriptions
    if M("limit4-off-by-one"):
        limit += 1
    nsubs = len(conn.subs)
    if M("limit4-resubscribe-counts"):
        nsubs = getattr(conn, "sub_attempts", 0)
    if nsubs >= limit and not M("limit4-no-limit") and not already:
        if M("limit4-close"):
            conn.close(1008, "")
            return
        if M("limit4-drop-subs"):
            for c in list(conn.subs):
                if c in S.channels:
                    S.channels[c].subscribers.discard(conn)
            conn.subs.clear()
        extra = {} if M("limit4-no-channel") else {"channel": name}
        err(conn, "forbidden" if M("limit4-wrong-code") else "subscription_limit",
            "subscription limit reached", **extra)
        return
    conn.sub_attempts = getattr(conn, "sub_attempts", 0) + 1
    start_subscription(conn, ch, since)


def start_subscription(conn, ch, since, resubscribe=False):
    name = ch.name
    m = {"type": "subscribed", "channel": name, "position": ch.pos()}
    if M("sub2-position-zero"):
        m["position"] = ch.pos(0)
    if M("sub2-fresh-offset-one") and ch.offset == 0:
        m["position"] = ch.pos(1)
    if M("sub2-missing-channel"):
        del m["channel"]
    replay = []
    subscribe_now = True
    if since is not None:
        ok = False
        hist = list(ch.history)
        so = since["offset"]
        so = int(so) if is_int(so) else so
        if since["epoch"] == ch.epoch or M("sub9-unknown-epoch-replays"):
            if so == ch.offset:
                ok = True
            elif 0 <= so < ch.offset:
                if hist and hist[0][0] <= so + 1:
                    ok = True
                    replay = [h for h in hist if h[0] > so]
                elif M("sub9-too-old-partial"):
                    ok = True
                    replay = hist
            elif so > ch.offset and M("sub9-ahead-replays"):
                ok = True
        if M("sub8-unavailable-always"):
            ok = False
            replay = []
        if ok:
            if M("sub8-replay-includes-since"):
                replay = [h for h in hist if h[0] >= so]
            if M("sub8-skip-first"):
                replay = replay[1:]
            if M("sub8-replay-reversed"):
                replay = list(reversed(replay))
            m["resume"] = "replayed"
            m["replayed"] = len(replay)
            if M("sub8-count-off-by-one"):
                m["replayed"] = len(replay) + 1
            if M("sub8-no-count"):
                del m["replayed"]
            if M("sub2-resume-position-since"):
                m["position"] = {"epoch": ch.epoch, "offset": so}
        else:
            replay = []
            if not M("sub9-no-resume-field"):
                m["resume"] = "unavailable"
            if M("sub9-no-subscription"):
                subscribe_now = False
    if subscribe_now:
        conn.subs[name] = conn.subs.get(name, 0) + 1
        ch.subscribers.add(conn)
    pushes = []
    for off, data, ts in replay:
        p = {"type": "push", "channel": name, "data": data, "position": ch.pos(off), "ts": ts, "replay": True}
        if M("sub8-no-replay-flag"):
            del p["replay"]
        pushes.append(p)
    if M("sub2-no-ack"):
        m = None
    if M("sub8-replay-before-ack"):
        for p in pushes:
            conn.send(p)
        if m:
            conn.send(m)
        return
    if M("sub11-ack-deferred") and m is not None:
        def later(c=conn, msg=m, ps=pushes):
            c.send(msg)
            for p in ps:
                c.send(p)
        conn.handles.append(asyncio.get_event_loop().call_later(0.3, later))
        return
    if m is not None:
        conn.send(m)
    for p in pushes:
        conn.send(p)
    if M("sub11-resend-last") and since is None and ch.history:
        off, data, ts = ch.history[-1]
        conn.send({"type": "push", "channel": name, "data": data, "position": ch.pos(off), "ts": ts})


def handle_unsubscribe(conn, obj):
    name = obj["channel"]
    if name in conn.subs:
        if not M("sub7-keep-delivering"):
            del conn.subs[name]
            ch = S.channels.get(name)
            if ch:
                ch.subscribers.discard(conn)
        if M("sub7-no-ack"):
            return
    else:
        if M("sub7-no-ack-unknown") or M("sub7-no-ack"):
            return
    conn.send({"type": "unsubscribed", "channel": name})


# ---------------------------------------------------------------- timers

def arm_auth_timer(conn):
    if conn.auth_deadline:
        conn.auth_deadline.cancel()
    if M("auth2-no-timeout"):
        return
    t = S.args.auth_timeout_ms
    if M("auth2-early"):
        t = t / 3.0
    if M("auth2-late"):
        t = t * 3
    conn.auth_deadline = asyncio.get_event_loop().call_later(t / 1000.0, auth_timeout, conn)
    conn.handles.append(conn.auth_deadline)


def auth_timeout(conn):
    if conn.user is None and not conn.closing:
        log("info", "auth_timeout", conn=conn.id)
        conn.close(1008 if M("auth2-wrong-code") else 4408, "timeout" if M("auth2-wrong-reason") else "auth_timeout")


async def heartbeat(conn):
    ws = conn.ws
    loop = asyncio.get_event_loop()
    interval = S.args.heartbeat_interval_ms / 1000.0
    timeout = S.args.heartbeat_timeout_ms / 1000.0
    if M("hb1-slow-ping"):
        interval *= 2.5
    if M("hb1-early-close"):
        timeout *= 0.3
    if M("hb1-late-close"):
        timeout *= 3
    while not conn.closing:
        await asyncio.sleep(interval)
        if conn.closing or ws.state is not State.OPEN:
            return
        if M("hb5-close-on-missing-ping") and conn.user is not None and \
                time.monotonic() - conn.last_app_ping > (S.args.heartbeat_interval_ms + S.args.heartbeat_timeout_ms) / 1000.0:
            conn.close(4001, "heartbeat_timeout", hard=True)
            return
        if M("hb1-no-ping") or (M("hb1-unauth-no-ping") and conn.user is None):
            continue
        try:
            ws.write_frame_sync(True, OP_PING, secrets.token_bytes(4))
        except Exception:
            return
        t = time.monotonic()
        conn.handles.append(loop.call_later(timeout, hb_check, conn, t))


def hb_check(conn, t):
    if conn.closing or M("hb1-never-close"):
        return
    ws = conn.ws
    last = ws.last_rx
    if M("hb1-only-pong-counts"):
        last = ws.last_rx_pong
    if M("hb1-pong-ignored"):
        last = ws.last_rx_data
    if last < t:
        log("info", "heartbeat_timeout", conn=conn.id, userId=conn.user)
        code = 1001 if M("hb1-wrong-code") else 4001
        conn.close(code, "timeout" if M("hb1-wrong-reason") else "heartbeat_timeout", hard=True)


# ---------------------------------------------------------------- handler

async def ws_handler(ws):
    conn = Conn(ws, ws.peer_ip())
    ws.conn = conn
    S.conns.add(conn)
    log("info", "connection_opened", conn=conn.id, ip=conn.ip)
    arm_auth_timer(conn)
    hb = asyncio.get_event_loop().create_task(heartbeat(conn))
    conn.tasks.add(hb)
    if S.args.allow_token_in_url:
        try:
            for k, v in parse_qsl(urlsplit(ws.path).query, keep_blank_values=True):
                if k == "token":
                    do_auth(conn, v)
                    break
        except Exception:
            pass
    try:
        while not conn.closing:
            try:
                msg = await ws.recv()
            except ConnectionClosed:
                break
            if conn.closing:
                break
            try:
                r = handle_frame(conn, msg)
                if asyncio.iscoroutine(r):
                    await r
            except Exception as e:
                log("error", "handler_error", conn=conn.id, error=type(e).__name__)
    finally:
        if not conn.closing:
            conn.closing = True
            conn.cleanup()
            log("info", "connection_closed", conn=conn.id, userId=conn.user, code=ws.close_code)


# handle_request returns a coroutine only for req3-serial
_orig_handle_frame = handle_frame


def handle_frame(conn, msg):  # noqa: F811
    r = None
    if M("req3-serial") and isinstance(msg, str):
        try:
            obj = json.loads(msg)
        except Exception:
            obj = None
        if isinstance(obj, dict) and obj.get("type") == "request" and conn.user is not None:
            try:
                validate(obj)
            except Invalid:
                return _orig_handle_frame(conn, msg)
            if conn.user is not None and not rate_check(conn):
                return None
            return handle_request(conn, obj)
    return _orig_handle_frame(conn, msg)


# ---------------------------------------------------------------- shutdown

async def shutdown(loop):
    if S.shutting_down:
        return
    S.shutting_down = True
    t0 = time.monotonic()
    log("info", "shutdown_started", connections=len(S.conns))
    spread = S.args.shutdown_spread_ms
    conns = list(S.conns)
    if not M("shut2-no-close"):
        for c in conns:
            if M("shut2-only-authenticated") and c.user is None:
                c.ws.transport.abort()
                continue
            hint = random.randint(0, spread) if spread > 0 else 0
            if M("shut3-constant-hint"):
                hint = spread
            if M("shut3-narrow-spread"):
                hint = random.randint(0, min(spread, 50))
            reason = "service_restart;retry=%d" % hint
            if M("shut2-no-retry-hint"):
                reason = "service_restart"
            if M("shut2-wrong-reason"):
                reason = "restarting;retry=%d" % hint
            c.close(1001 if M("shut2-close-1001") else 1012, reason)
    else:
        for c in conns:
            c.ws.transport.abort()
    waiters = [p.connection_lost_waiter for p in list(S.protos) if not p.connection_lost_waiter.done()]
    if waiters:
        await asyncio.wait(waiters, timeout=5.0)
    await asyncio.sleep(0.2)
    log("info", "shutdown_completed", durationMs=int((time.monotonic() - t0) * 1000))
    sys.stdout.flush()
    os._exit(0)


# ---------------------------------------------------------------- main

def load_tokens(path):
    with open(path, "r", encoding="utf-8") as f:
        doc = json.load(f)
    out = {}
    for t in doc.get("tokens", []):
        exp = t.get("expiresInMs")
        out[sha256(t["token"])] = (t["user"], None if exp is None else S.start_ms + int(exp))
    return out


def parse_args(argv):
    ap = argparse.ArgumentParser(description="Mooring v1 server (Python)")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--path", default="/ws")
    ap.add_argument("--tokens-file", required=True)
    ap.add_argument("--mutant", default="")
    ap.add_argument("--heartbeat-interval-ms", type=int, default=25000)
    ap.add_argument("--heartbeat-timeout-ms", type=int, default=10000)
    ap.add_argument("--auth-timeout-ms", type=int, default=30000)
    ap.add_argument("--request-timeout-ms", type=int, default=10000)
    ap.add_argument("--rate-messages", type=int, default=60)
    ap.add_argument("--rate-window-ms", type=int, default=10000)
    ap.add_argument("--max-payload-bytes", type=int, default=65536)
    ap.add_argument("--max-subscriptions", type=int, default=100)
    ap.add_argument("--max-buffered-bytes", type=int, default=1048576)
    ap.add_argument("--history-size", type=int, default=100)
    ap.add_argument("--max-pending-requests", type=int, default=100)
    ap.add_argument("--session-policy", choices=["single", "multiple"], default="single")
    ap.add_argument("--max-connections-per-ip", type=int, default=256)
    ap.add_argument("--allow-origin", action="append", default=[])
    ap.add_argument("--token-warning-ms", type=int, default=60000)
    ap.add_argument("--shutdown-spread-ms", type=int, default=5000)
    ap.add_argument("--allow-token-in-url", action="store_true")
    return ap.parse_args(argv)


async def main_async(args):
    loop = asyncio.get_event_loop()
    max_size = args.max_payload_bytes
    if M("limit1-off-by-one"):
        max_size = args.max_payload_bytes - 1
    if M("limit1-allow-double"):
        max_size = args.max_payload_bytes * 2
    if M("limit1-counts-chars") or M("limit1-wrong-code") or M("err6-1009-reason") or M("limit1-error-instead"):
        max_size = args.max_payload_bytes * 8 + 1024
    server = await websockets.serve(
        ws_handler, args.host, args.port,
        create_protocol=MProto,
        subprotocols=[PROTOCOL],
        max_size=max_size,
        max_queue=1024,
        ping_interval=None,
        ping_timeout=None,
        close_timeout=5,
        compression=None,
        server_header=None,
    )
    port = server.sockets[0].getsockname()[1]
    url = "ws://%s:%d%s" % (args.host, port, args.path)
    log("info", "server_listening", url=url, port=port, mutant=MUTANT or None)
    sys.stdout.write("LISTENING %s\n" % url)
    sys.stdout.flush()
    stop = asyncio.Event()

    def on_term():
        loop.create_task(shutdown(loop))
    loop.add_signal_handler(signal.SIGTERM, on_term)
    loop.add_signal_handler(signal.SIGINT, on_term)
    await stop.wait()


def main():
    global MUTANT
    args = parse_args(sys.argv[1:])
    MUTANT = args.mutant or ""
    S.args = args
    S.path = args.path
    S.start_ms = now_ms()
    S.start_mono = time.monotonic()
    S.tokens = load_tokens(args.tokens_file)
    wl = logging.getLogger("websockets")
    wl.addHandler(logging.NullHandler())
    wl.propagate = False
    wl.setLevel(logging.CRITICAL + 10)
    logging.getLogger("asyncio").setLevel(logging.CRITICAL + 10)
    try:
        asyncio.run(main_async(args))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
