/**
 * The Lua scripts of the Redis backend. Each runs atomically in Redis, so offset assignment, the
 * history append and the fan-out of a publish are one step (NODE-2), and the shared rate-limit window
 * and the session generation are never raced by two nodes (NODE-6, NODE-8).
 *
 * Keys of a channel share the hash tag `{channel}`; the session and rate keys are per user.
 */

/**
 * NODE-1..3: publish. KEYS: meta hash, history list. ARGV: json, ts, historySize, historyBytes,
 * fresh epoch, pub/sub channel, channel ttl ms. The meta hash holds `epoch`, `offset` (the head) and `bytes`; the list
 * holds the retained pushes as `ts json`, oldest first and contiguous, so the oldest retained offset
 * is `offset - LLEN + 1`. A channel whose meta hash is gone (never published, flushed, evicted) starts
 * a new epoch and drops whatever history is left (NODE-3: never offsets of two epochs mixed).
 */
export const PUBLISH_LUA = `
local epoch = redis.call('HGET', KEYS[1], 'epoch')
if not epoch then
  epoch = ARGV[5]
  redis.call('DEL', KEYS[2])
  redis.call('HSET', KEYS[1], 'epoch', epoch, 'offset', 0, 'bytes', 0)
end
local offset = redis.call('HINCRBY', KEYS[1], 'offset', 1)
local size = tonumber(ARGV[3])
if size > 0 then
  local maxBytes = tonumber(ARGV[4])
  local n = redis.call('LLEN', KEYS[2])
  local bytes
  if n == 0 then bytes = 0 else bytes = tonumber(redis.call('HGET', KEYS[1], 'bytes')) or 0 end
  redis.call('RPUSH', KEYS[2], ARGV[2] .. ' ' .. ARGV[1])
  n = n + 1
  bytes = bytes + string.len(ARGV[1])
  while n > 0 and (n > size or bytes > maxBytes) do
    local old = redis.call('LPOP', KEYS[2])
    bytes = bytes - (string.len(old) - string.find(old, ' ', 1, true))
    n = n - 1
  end
  redis.call('HSET', KEYS[1], 'bytes', bytes)
end
redis.call('PEXPIRE', KEYS[1], ARGV[7])
redis.call('PEXPIRE', KEYS[2], ARGV[7])
redis.call('PUBLISH', ARGV[6], epoch .. ' ' .. offset .. ' ' .. ARGV[2] .. ' ' .. ARGV[1])
return {epoch, offset}
`;

/**
 * NODE-1, SUB-8, SUB-9: read. KEYS: meta hash, history list. ARGV: fresh epoch, since epoch ('' for
 * none), since offset, channel ttl ms (a channel nobody published to nor read for that long is
 * forgotten: its next use starts a new epoch, NODE-5). Returns {epoch, head} or {epoch, head, 'u'} (unavailable) or
 * {epoch, head, 'm', entries}. A read of an unknown channel fixes its epoch, so that the head a
 * subscriber was given stays resumable when the first push comes.
 */
export const READ_LUA = `
local epoch = redis.call('HGET', KEYS[1], 'epoch')
if not epoch then
  epoch = ARGV[1]
  redis.call('DEL', KEYS[2])
  redis.call('HSET', KEYS[1], 'epoch', epoch, 'offset', 0, 'bytes', 0)
end
redis.call('PEXPIRE', KEYS[1], ARGV[4])
redis.call('PEXPIRE', KEYS[2], ARGV[4])
local offset = tonumber(redis.call('HGET', KEYS[1], 'offset'))
if ARGV[2] == '' then return {epoch, offset} end
local since = tonumber(ARGV[3])
local oldest = offset - redis.call('LLEN', KEYS[2]) + 1
if ARGV[2] ~= epoch or since < oldest - 1 or since > offset then return {epoch, offset, 'u'} end
return {epoch, offset, 'm', redis.call('LRANGE', KEYS[2], since - oldest + 1, -1)}
`;

/**
 * NODE-6: claim the session of a user. KEYS: the global generation counter, the user's latest
 * generation. ARGV: user id, control channel, ttl ms. The highest generation is the newest session;
 * every node closes its sessions of the user with a lower one.
 */
export const CLAIM_LUA = `
local g = redis.call('INCR', KEYS[1])
redis.call('SET', KEYS[2], g, 'PX', ARGV[3])
redis.call('PUBLISH', ARGV[2], 's ' .. g .. ' ' .. ARGV[1])
return g
`;

/**
 * NODE-8: one exact sliding window per user over all nodes, on Redis's clock. KEYS: the user's
 * admitted times (a list, newest last), the user's block marker. ARGV: messages, windowMs, control
 * channel, user id. Returns 0 when admitted, else the ms until the window has room; the first
 * refusal of a window tells every node (one control message, not one per refused frame).
 */
export const RATE_LUA = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local n = tonumber(ARGV[1])
local w = tonumber(ARGV[2])
if redis.call('LLEN', KEYS[1]) >= n then
  local oldest = tonumber(redis.call('LINDEX', KEYS[1], -n))
  if now - oldest < w then
    local retry = oldest + w - now
    if redis.call('SET', KEYS[2], '1', 'NX', 'PX', retry) then
      redis.call('PUBLISH', ARGV[3], 'r ' .. retry .. ' ' .. ARGV[4])
    end
    return retry
  end
end
redis.call('RPUSH', KEYS[1], now)
redis.call('LTRIM', KEYS[1], -n, -1)
redis.call('PEXPIRE', KEYS[1], w)
return 0
`;
