#!/usr/bin/python3
"""Mooring v1 client in Python 3 that is also a driver per spec/client-driver.md.

Commands arrive as JSON lines on stdin, events leave as JSON lines on stdout;
logs go to stderr. Written from spec/mooring-v1.md and spec/client-driver.md.

MOORING_BREAK=<name> selects a deliberately broken variant (see breaks.json).
"""
import asyncio
import json
import os
import random
import re
import sys
import threading
import time

import websockets
from websockets.legacy.client import WebSocketClientProtocol

BREAK = os.environ.get("MOORING_BREAK", "")

SUBPROTOCOL = "mooring.v1"
CHANNEL_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.:/-]{0,127}$")
REASON_RE = re.compile(r"^([a-z_]+)(?:;retry=([0-9]{1,9}))?$")

CLOSE_NAMES = {
    1000: "normal_closure", 1001: "going_away", 1006: "abnormal_closure",
    1008: "policy_violation", 1009: "message_too_big", 1011: "internal_error",
    1012: "service_restart", 1013: "try_again_later", 4001: "heartbeat_timeout",
    4002: "session_replaced", 4400: "not_authenticated", 4401: "unauthorized",
    4408: "auth_timeout", 4419: "token_expired", 4429: "rate_limited",
    4509: "slow_consumer",
}
STOP_CODES = {1000, 4002, 4400, 4401}

DEFAULT_PARAMS = {
    "heartbeatIntervalMs": 25000,
    "heartbeatTimeoutMs": 10000,
    "requestTimeoutMs": 10000,
}
CONNECT_TIMEOUT_S = 5.0   # an attempt that gets no `authenticated` in time is closed with 4001
RECONNECT_NOW_JITTER_MS = 300


def close_class(code):
    if BREAK == "reconnect_after_4002" and code == 4002:
        return "reconnect"
    if BREAK == "reconnect_after_4401" and code == 4401:
        return "reconnect"
    if code in STOP_CODES:
        return "stop"
    if code == 1012:
        return "reconnect_now"
    if code == 4419:
        return "refresh_token"
    return "reconnect"  # also every code the registry does not list


def retry_hint(reason):
    """The `;retry=<ms>` hint of a close reason, or None (a reason that does not parse has none)."""
    if BREAK == "ignore_retry_hint":
        return None
    m = REASON_RE.match(reason or "")
    if not m or m.group(2) is None:
        return None
    return int(m.group(2))


def log(*a):
    print("[py-client]", *a, file=sys.stderr, flush=True)


_out_lock = threading.Lock()


def emit(event):
    line = json.dumps({k: v for k, v in event.items()}, separators=(",", ":"))
    with _out_lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


# ---------------------------------------------------------------- validation (ROBUST-1/2)

def is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def valid_position(p):
    return (isinstance(p, dict) and isinstance(p.get("epoch"), str) and 1 <= len(p["epoch"]) <= 64
            and is_int(p.get("offset")) and p["offset"] >= 0)


def valid_channel(c):
    return isinstance(c, str) and CHANNEL_RE.match(c) is not None


def valid_request_id(r):
    return isinstance(r, str) and 1 <= len(r) <= 64


def valid_params(p):
    if not isinstance(p, dict):
        return False
    for k in ("heartbeatIntervalMs", "heartbeatTimeoutMs", "authTimeoutMs", "requestTimeoutMs",
              "maxPayloadBytes", "maxSubscriptions", "maxBufferedBytes"):
        if not is_int(p.get(k)) or p[k] < 1:
            return False
    if not is_int(p.get("historySize")) or p["historySize"] < 0:
        return False
    rl = p.get("rateLimit")
    if not isinstance(rl, dict) or not is_int(rl.get("messages")) or rl["messages"] < 1 \
            or not is_int(rl.get("windowMs")) or rl["windowMs"] < 1:
        return False
    if p.get("sessionPolicy") not in ("single", "multiple"):
        return False
    if "tokenExpiresAt" not in p or not (p["tokenExpiresAt"] is None or is_int(p["tokenExpiresAt"])):
        return False
    for k, lo in (("maxPendingRequests", 1), ("restoreAllowance", 0), ("historyBytes", 1), ("maxDepth", 4)):
        if k in p and (not is_int(p[k]) or p[k] < lo):
            return False
    return True


KNOWN_PROPS = {
    "authenticated": {"type", "userId", "sessionId", "protocol", "params", "userChannel", "server"},
    "response": {"type", "requestId", "success", "data", "error"},
    "subscribed": {"type", "channel", "position", "resume", "replayed"},
    "unsubscribed": {"type", "channel"},
    "push": {"type", "channel", "data", "position", "ts", "replay"},
    "pong": {"type", "ts"},
    "token_expiring": {"type", "expiresAt"},
    "error": {"type", "code", "message", "requestId", "channel"},
}


def valid_message(m):
    """Structural check of a server message against the schema (the parts a client relies on)."""
    if not isinstance(m, dict) or not isinstance(m.get("type"), str):
        return False
    if BREAK == "strict_unknown_props" and m["type"] in KNOWN_PROPS and set(m) - KNOWN_PROPS[m["type"]]:
        return False  # the broken variant refuses messages with properties it does not know
    t = m["type"]
    if t == "authenticated":
        return (isinstance(m.get("userId"), str) and len(m["userId"]) <= 256
                and isinstance(m.get("sessionId"), str) and len(m["sessionId"]) <= 128
                and m.get("protocol") == SUBPROTOCOL and valid_params(m.get("params"))
                and ("userChannel" not in m or valid_channel(m["userChannel"])))
    if t == "response":
        if not valid_request_id(m.get("requestId")):
            return False
        if m.get("success") is True:
            return True
        if m.get("success") is False:
            e = m.get("error")
            return isinstance(e, dict) and isinstance(e.get("code"), str) and isinstance(e.get("message"), str)
        return False
    if t == "subscribed":
        if not valid_channel(m.get("channel")) or not valid_position(m.get("position")):
            return False
        if "resume" in m and m["resume"] not in ("replayed", "unavailable"):
            return False
        if "replayed" in m and (not is_int(m["replayed"]) or m["replayed"] < 0):
            return False
        return True
    if t == "unsubscribed":
        return valid_channel(m.get("channel"))
    if t == "push":
        return (valid_channel(m.get("channel")) and "data" in m and valid_position(m.get("position"))
                and is_int(m.get("ts")) and ("replay" not in m or isinstance(m["replay"], bool)))
    if t == "pong":
        return "ts" not in m or is_int(m["ts"])
    if t == "token_expiring":
        return is_int(m.get("expiresAt"))
    if t == "error":
        return (isinstance(m.get("code"), str) and isinstance(m.get("message"), str)
                and ("requestId" not in m or valid_request_id(m["requestId"]))
                and ("channel" not in m or valid_channel(m["channel"])))
    return False  # unknown type


# ---------------------------------------------------------------- transport

class Proto(WebSocketClientProtocol):
    """Records the time of any inbound bytes: every frame, control frames too, proves liveness (HB-4)."""
    on_rx = None

    def data_received(self, data):
        if self.on_rx is not None:
            self.on_rx()
        super().data_received(data)


class Conn:
    def __init__(self, ws):
        self.ws = ws
        self.authenticated = False
        self.auth_at = None
        self.last_rx = time.monotonic()
        self.local_close = None  # (code, reason, how) when the client closed it itself
        self.tasks = []
        self.handles = []


class Client:
    def __init__(self, url, settings):
        self.url = url
        self.base = int(settings.get("backoffBaseMs", 1000))
        self.cap = int(settings.get("backoffCapMs", 30000))
        self.stable = int(settings.get("stableAfterMs", 10000))
        self.attempt = 0
        self.params = dict(DEFAULT_PARAMS)
        self.token = None
        self.token_reason = "connect"
        self.fetch_seq = 0
        self.fetches = {}
        self.subs = {}          # channel -> {"last": position or None}
        self.pending = {}       # id -> {"ref", "handle", "conn", "sent"}
        self.req_seq = 0
        self.resend = []        # only used by the resend_inflight break
        self.late = {}          # only used by the deliver_late_response break
        self.conn = None
        self.connecting = False
        self.closed = False
        self.stopped = False
        self.wake = None
        self.runner = None

    # ------------------------------------------------------------ helpers
    def start(self):
        self.runner = asyncio.ensure_future(self.run())

    def backoff_delay(self):
        n = self.attempt
        if BREAK == "no_cap":
            d = self.base * (2 ** n)
        else:
            d = min(self.cap, self.base * (2 ** min(n, 40)))
        if BREAK == "no_jitter":
            return float(d)
        if BREAK == "below_half":
            return random.uniform(0, d)
        return random.uniform(d / 2, d)

    async def fetch_token(self, reason):
        self.fetch_seq += 1
        fid = self.fetch_seq
        fut = asyncio.get_event_loop().create_future()
        self.fetches[fid] = fut
        emit({"event": "token_request", "fetch": fid, "reason": reason})
        return await fut  # raises on error

    def on_token(self, cmd):
        fut = self.fetches.pop(cmd.get("fetch"), None)
        if fut is None or fut.done():
            return
        if cmd.get("error") is not None or not isinstance(cmd.get("token"), str):
            fut.set_exception(RuntimeError(str(cmd.get("error") or "no token")))
        else:
            fut.set_result(cmd["token"])

    async def send(self, conn, msg):
        if conn is None or conn.ws is None:
            return False
        try:
            await conn.ws.send(json.dumps(msg, separators=(",", ":")))
            return True
        except Exception as e:  # connection already closing
            log("send failed", type(e).__name__)
            return False

    async def sleep_or_wake(self, seconds):
        self.wake = asyncio.Event()
        try:
            await asyncio.wait_for(self.wake.wait(), timeout=max(0.0, seconds))
        except asyncio.TimeoutError:
            pass
        self.wake = None

    # ------------------------------------------------------------ main loop
    async def run(self):
        need_token = True
        while not self.closed:
            if need_token:
                try:
                    self.token = await self.fetch_token(self.token_reason)
                    need_token = False
                except Exception as e:
                    if self.closed:
                        break
                    delay = self.backoff_delay()
                    self.attempt += 1
                    emit({"event": "state", "state": "reconnecting", "reason": "token fetch failed",
                          "willRetry": True, "delayMs": round(delay * 1000) / 1000})
                    log("token fetch failed:", e)
                    await self.sleep_or_wake(delay / 1000)
                    continue
            if self.closed:
                break
            emit({"event": "state", "state": "connecting"})
            outcome = await self.attempt_once()
            if self.closed:
                break
            code, reason, klass, failed_attempt = outcome
            if klass == "stop":
                self.stopped = True
                self.closed = True
                emit({"event": "state", "state": "closed", "code": code, "reason": reason,
                      "closeClass": klass, "willRetry": False})
                self.fail_all("closed")
                break
            hint = retry_hint(reason)
            if klass == "reconnect_now":
                delay = (hint or 0) + random.uniform(0, RECONNECT_NOW_JITTER_MS)
            else:
                delay = self.backoff_delay()
                if hint is not None:
                    delay = max(delay, hint)
                self.attempt += 1
            if klass == "refresh_token" and BREAK != "stale_token_after_4419":
                need_token = True
                self.token_reason = "expired"
            emit({"event": "state", "state": "reconnecting", "code": code, "reason": reason,
                  "closeClass": klass, "willRetry": True, "delayMs": round(delay)})
            if need_token:
                # obtain the fresh token first, then back off (RECON-5)
                t0 = time.monotonic()
                try:
                    self.token = await self.fetch_token(self.token_reason)
                    need_token = False
                except Exception as e:
                    log("token fetch failed:", e)
                if self.closed:
                    break
                delay -= (time.monotonic() - t0) * 1000
            await self.sleep_or_wake(delay / 1000)

    async def attempt_once(self):
        """One connection: returns (code, reason, class, failed)."""
        loop = asyncio.get_event_loop()
        try:
            ws = await websockets.connect(
                self.url, subprotocols=[SUBPROTOCOL], ping_interval=None, compression=None,
                open_timeout=CONNECT_TIMEOUT_S, close_timeout=0.5, max_size=None,
                create_protocol=Proto)
        except Exception as e:
            log("connect failed:", type(e).__name__, e)
            return (None, None, "reconnect", True)
        conn = Conn(ws)
        self.conn = conn

        def rx():
            if BREAK != "pong_only_liveness":
                conn.last_rx = time.monotonic()
        ws.on_rx = rx
        if self.closed:
            await self.close_conn(conn, 1000, "normal_closure")
            return (1000, "normal_closure", "stop", False)
        if BREAK == "reset_on_open":
            self.attempt = 0
        await self.send(conn, {"type": "auth", "token": self.token})
        if BREAK == "subscribe_before_auth":
            for ch, s in list(self.subs.items()):
                await self.send(conn, self.subscribe_msg(ch, s))

        def connect_timeout():
            if not conn.authenticated and conn.local_close is None:
                log("no authenticated in time")
                asyncio.ensure_future(self.close_conn(conn, 4001, "heartbeat_timeout"))
        conn.handles.append(loop.call_later(CONNECT_TIMEOUT_S, connect_timeout))
        try:
            async for raw in ws:
                if conn.local_close is not None:
                    continue
                await self.on_frame(conn, raw)
        except Exception as e:
            log("read loop ended:", type(e).__name__)
        # connection ended
        for h in conn.handles:
            h.cancel()
        for t in conn.tasks:
            t.cancel()
        self.conn = None
        if conn.authenticated and conn.auth_at is not None and BREAK != "reset_on_open":
            if (time.monotonic() - conn.auth_at) * 1000 >= self.stable:
                self.attempt = 0  # RECON-2: only after a stable authenticated session
        self.on_disconnected(conn)
        if conn.local_close is not None:
            code, reason, klass = conn.local_close
            return (code, reason, klass, True)
        code = ws.close_code if ws.close_code is not None else 1006
        reason = ws.close_reason or ""
        return (code, reason, close_class(code), True)

    async def close_conn(self, conn, code, reason, klass=None):
        if conn.local_close is not None:
            return
        if klass is None:
            klass = close_class(code) if code != 1000 else "stop"
        conn.local_close = (code, reason, klass)
        if BREAK == "bad_close_reason":
            reason = "Client closed the connection"  # free-form, not the registry name
        try:
            await asyncio.wait_for(conn.ws.close(code, reason), timeout=1.0)
        except Exception:
            pass
        try:
            conn.ws.transport.abort()
        except Exception:
            pass

    # ------------------------------------------------------------ inbound
    async def on_frame(self, conn, raw):
        if not isinstance(raw, str):
            log("ignored binary frame")
            if BREAK == "close_on_invalid_frame":
                await self.close_conn(conn, 1000, "normal_closure", klass="reconnect")
            return
        try:
            m = json.loads(raw)
        except Exception:
            log("ignored non-JSON frame")
            if BREAK == "close_on_invalid_frame":
                await self.close_conn(conn, 1000, "normal_closure", klass="reconnect")
            return
        if not valid_message(m):
            if isinstance(m, dict) and m.get("type") == "authenticated":
                # ROBUST-2: a failed attempt (also a later authenticated on a live connection):
                # use nothing of it, close and back off
                log("invalid authenticated: closing")
                await self.close_conn(conn, 1000, "normal_closure", klass="reconnect")
                return
            log("ignored invalid frame:", raw[:200])
            if BREAK == "close_on_invalid_frame":
                await self.close_conn(conn, 1000, "normal_closure", klass="reconnect")
            return
        t = m["type"]
        if t == "authenticated":
            await self.on_authenticated(conn, m)
        elif not conn.authenticated:
            log("ignored", t, "before authenticated")
        elif t == "response":
            self.on_response(conn, m)
        elif t == "subscribed":
            self.on_subscribed(m)
        elif t == "push":
            self.on_push(m)
        elif t == "pong":
            if BREAK == "pong_only_liveness":
                conn.last_rx = time.monotonic()
        elif t == "unsubscribed":
            pass
        elif t == "token_expiring":
            if BREAK != "ignore_token_expiring":
                conn.tasks.append(asyncio.ensure_future(self.refresh_in_band(conn)))
        elif t == "error":
            emit({"event": "server_error", "code": m["code"], "message": m["message"]})
            rid, p = self.find_pending(m.get("requestId"), conn)
            if m["code"] == "too_many_requests" and p is not None:
                self.settle(rid, {"ok": False, "code": "too_many_requests", "message": m["message"]})

    async def on_authenticated(self, conn, m):
        self.params = dict(m["params"])
        if conn.authenticated:
            log("re-authenticated in-band")
            return
        conn.authenticated = True
        conn.auth_at = time.monotonic()
        emit({"event": "state", "state": "authenticated"})
        loop = asyncio.get_event_loop()
        # restore subscriptions (SUB-10), once each, with the last position seen
        if BREAK != "subscribe_before_auth":
            for ch, s in list(self.subs.items()):
                await self.send(conn, self.subscribe_msg(ch, s))
        # requests made while not authenticated go out now, on this session
        for rid, p in list(self.pending.items()):
            if p["conn"] is None or (p["conn"] is conn and not p["sent"]):
                await self.send_request(conn, rid)
        if BREAK == "resend_inflight":
            # the broken variant sends again what was in flight on the previous connection
            for msg in self.resend:
                await self.send(conn, msg)
            self.resend = []
        if BREAK != "no_ping":
            conn.tasks.append(asyncio.ensure_future(self.ping_loop(conn)))

    def subscribe_msg(self, ch, s):
        msg = {"type": "subscribe", "channel": ch}
        if s.get("last") is not None and BREAK != "resub_no_since":
            msg["since"] = s["last"]
        return msg

    def on_subscribed(self, m):
        s = self.subs.get(m["channel"])
        if s is None:
            return
        resume = m.get("resume")
        if resume == "unavailable":
            s["last"] = m["position"]
            if BREAK != "no_gap":
                emit({"event": "gap", "channel": m["channel"], "reason": "unavailable"})
        elif resume is None:
            if s.get("last") is None:
                s["last"] = m["position"]
        # "replayed": the last position is advanced by the replayed pushes themselves

    def on_push(self, m):
        ch = m["channel"]
        s = self.subs.get(ch)
        if s is None:
            return
        pos = m["position"]
        last = s.get("last")
        if last is not None:
            if pos["epoch"] == last["epoch"]:
                if pos["offset"] <= last["offset"] and BREAK != "no_dedupe":
                    log("dropped duplicate push", ch, pos)
                    return  # ROBUST-3
                if pos["offset"] != last["offset"] + 1:
                    emit({"event": "gap", "channel": ch, "reason": "missing"})
            else:
                emit({"event": "gap", "channel": ch, "reason": "epoch"})
        s["last"] = {"epoch": pos["epoch"], "offset": pos["offset"]}
        emit({"event": "push", "channel": ch, "data": m["data"], "position": s["last"],
              "replay": m.get("replay") is True})

    def find_pending(self, wire_id, conn):
        for rid, p in self.pending.items():
            if p["msg"]["id"] == wire_id and p["conn"] is conn and p["sent"]:
                return rid, p
        return None, None

    def on_response(self, conn, m):
        rid, p = self.find_pending(m["requestId"], conn)
        if p is None:
            late = self.late.pop(m["requestId"], None)
            if late is not None and BREAK == "deliver_late_response":
                ev = {"event": "response", "ref": late, "ok": bool(m["success"])}
                if m["success"]:
                    ev["data"] = m.get("data")
                else:
                    ev.update(code=m["error"]["code"], message=m["error"]["message"])
                emit(ev)
            return  # late (after its timeout) or unknown: dropped (REQ-5)
        if m["success"]:
            self.settle(rid, {"ok": True, "data": m.get("data")})
        else:
            self.settle(rid, {"ok": False, "code": m["error"]["code"], "message": m["error"]["message"]})

    async def refresh_in_band(self, conn):
        try:
            token = await self.fetch_token("expiring")
        except Exception as e:
            log("token refresh failed:", e)
            return
        self.token = token
        if self.conn is conn and conn.authenticated and conn.local_close is None:
            await self.send(conn, {"type": "auth", "token": token})

    # ------------------------------------------------------------ heartbeat
    async def ping_loop(self, conn):
        loop = asyncio.get_event_loop()
        while conn.local_close is None:
            await asyncio.sleep(self.params["heartbeatIntervalMs"] / 1000)
            if conn.local_close is not None or self.conn is not conn:
                return
            await self.ping_now(conn)

    async def ping_now(self, conn):
        sent_at = time.monotonic()
        if not await self.send(conn, {"type": "ping"}):
            return
        timeout = self.params["heartbeatTimeoutMs"] / 1000

        def check():
            if BREAK == "no_pong_timeout":
                return
            if conn.local_close is None and conn.last_rx < sent_at and self.conn is conn:
                log("heartbeat timeout")
                if BREAK == "hb_close_1000":
                    asyncio.ensure_future(self.close_conn(conn, 1000, "normal_closure", klass="reconnect"))
                else:
                    asyncio.ensure_future(self.close_conn(conn, 4001, "heartbeat_timeout"))
        conn.handles.append(asyncio.get_event_loop().call_later(timeout, check))

    async def liveness(self):
        conn = self.conn
        if conn is not None and conn.authenticated and conn.local_close is None and BREAK != "ignore_liveness":
            await self.ping_now(conn)

    # ------------------------------------------------------------ requests
    async def request(self, cmd):
        ref = cmd.get("ref")
        if self.closed:
            emit({"event": "response", "ref": ref, "ok": False, "code": "closed", "message": "client closed"})
            return
        self.req_seq += 1
        rid = str(self.req_seq)  # internal key; also the wire id
        wire_id = "1" if BREAK == "constant_request_id" else rid
        msg = {"type": "request", "id": wire_id, "action": cmd.get("action")}
        if "payload" in cmd:
            msg["payload"] = cmd["payload"]
        p = {"ref": ref, "msg": msg, "timeoutMs": cmd.get("timeoutMs"), "handle": None,
             "conn": None, "sent": False}
        self.pending[rid] = p
        conn = self.conn
        if conn is not None and conn.authenticated and conn.local_close is None:
            await self.send_request(conn, rid)
        elif conn is not None:
            p["conn"] = conn  # buffered for this connection's session; fails with it
            if p["timeoutMs"] is not None:
                self.arm_timeout(rid, p["timeoutMs"])
        else:
            if p["timeoutMs"] is not None:
                self.arm_timeout(rid, p["timeoutMs"])

    def arm_timeout(self, rid, ms):
        if BREAK == "no_request_timeout":
            return
        p = self.pending.get(rid)
        if p is None or p["handle"] is not None:
            return
        def expire():
            if BREAK == "deliver_late_response" and rid in self.pending:
                self.late[self.pending[rid]["msg"]["id"]] = self.pending[rid]["ref"]
            self.settle(rid, {"ok": False, "code": "timeout", "message": "request timed out"})
        p["handle"] = asyncio.get_event_loop().call_later(ms / 1000, expire)

    async def send_request(self, conn, rid):
        p = self.pending.get(rid)
        if p is None:
            return
        p["conn"] = conn
        p["sent"] = True
        timeout = p["timeoutMs"] if p["timeoutMs"] is not None else self.params["requestTimeoutMs"]
        self.arm_timeout(rid, timeout)
        await self.send(conn, p["msg"])

    def settle(self, rid, outcome):
        p = self.pending.pop(rid, None)
        if p is None:
            return
        if p["handle"] is not None:
            p["handle"].cancel()
        ev = {"event": "response", "ref": p["ref"]}
        ev.update(outcome)
        emit(ev)

    def on_disconnected(self, conn):
        # REQ-6: every request pending on the ended connection fails, and is never sent again
        for rid, p in list(self.pending.items()):
            if p["conn"] is conn:
                if BREAK == "resend_inflight" and p["sent"]:
                    self.resend.append(p["msg"])
                self.settle(rid, {"ok": False, "code": "disconnected", "message": "connection ended"})

    def fail_all(self, code):
        for rid in list(self.pending):
            self.settle(rid, {"ok": False, "code": code, "message": "client " + code})

    # ------------------------------------------------------------ application commands
    async def subscribe(self, ch):
        if ch in self.subs:
            return
        self.subs[ch] = {"last": None}
        conn = self.conn
        if conn is not None and conn.authenticated and conn.local_close is None:
            await self.send(conn, {"type": "subscribe", "channel": ch})
        elif conn is not None and BREAK == "subscribe_before_auth":
            await self.send(conn, {"type": "subscribe", "channel": ch})

    async def unsubscribe(self, ch):
        if self.subs.pop(ch, None) is None:
            return
        conn = self.conn
        if conn is not None and conn.authenticated and conn.local_close is None:
            await self.send(conn, {"type": "unsubscribe", "channel": ch})

    async def close(self):
        if self.closed:
            return
        self.closed = True
        for fut in self.fetches.values():
            if not fut.done():
                fut.set_exception(RuntimeError("closed"))
        if self.wake is not None:
            self.wake.set()
        conn = self.conn
        was_stopped = self.stopped
        if conn is not None:
            await self.close_conn(conn, 1000, "normal_closure", klass="stop")
        self.fail_all("closed")
        if not was_stopped:
            emit({"event": "state", "state": "closed", "code": 1000, "reason": "normal_closure",
                  "closeClass": "stop", "willRetry": False})


# ---------------------------------------------------------------- driver

async def main():
    loop = asyncio.get_event_loop()
    queue = asyncio.Queue()

    def reader():
        for line in sys.stdin:
            loop.call_soon_threadsafe(queue.put_nowait, line)
        loop.call_soon_threadsafe(queue.put_nowait, None)
    threading.Thread(target=reader, daemon=True).start()

    emit({"event": "ready", "name": "py-client", "version": "0.1.0", "features": ["liveness"]})
    client = None
    while True:
        line = await queue.get()
        if line is None:
            if client is not None:
                await client.close()
            break
        line = line.strip()
        if not line:
            continue
        try:
            cmd = json.loads(line)
            if not isinstance(cmd, dict):
                raise ValueError("not an object")
        except Exception:
            log("bad command line:", line[:200])
            continue
        cid = cmd.get("id")
        name = cmd.get("cmd")
        err = None
        try:
            if name == "connect":
                if client is not None:
                    await client.close()
                client = Client(cmd["url"], cmd.get("settings") or {})
                client.start()
            elif name == "token":
                if client is not None:
                    client.on_token(cmd)
            elif name == "subscribe":
                if client is None:
                    err = "not connected"
                else:
                    await client.subscribe(cmd["channel"])
            elif name == "unsubscribe":
                if client is not None:
                    await client.unsubscribe(cmd["channel"])
            elif name == "request":
                if client is None:
                    emit({"event": "response", "ref": cmd.get("ref"), "ok": False, "code": "closed",
                          "message": "no client"})
                else:
                    await client.request(cmd)
            elif name == "liveness":
                if client is not None:
                    await client.liveness()
            elif name == "close":
                if client is not None:
                    await client.close()
            elif name == "exit":
                if client is not None:
                    await client.close()
                emit({"event": "ack", "id": cid})
                break
            else:
                err = "unsupported"
        except Exception as e:
            log("command failed:", name, repr(e))
            err = str(e) or type(e).__name__
        ack = {"event": "ack", "id": cid}
        if err is not None:
            ack["error"] = err
        emit(ack)
    await asyncio.sleep(0.05)
    os._exit(0)


if __name__ == "__main__":
    asyncio.run(main())
