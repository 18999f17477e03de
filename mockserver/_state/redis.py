"""The Redis state store (``--state redis://HOST:PORT/DB``): several servers, on several machines behind one load
balancer, share rules, counts, rate-limit windows and one journal. Needs the ``redis`` package (the ``redis``
extra).

Documents are strings changed with optimistic transactions (``WATCH`` / ``MULTI`` / ``EXEC``, retried when another
client changed the document in between); the journal is a list appended, counted and bounded by one Lua script, so
an id, the counts and the eviction are one atomic step. Every key starts with ``vision-mock:`` (one server group per
Redis database). Times in the documents are each server's clock: keep the machines' clocks synchronised (NTP).
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import redis

from .base import (
    DEFAULT_BOUNDS,
    KEEP,
    SEEDED,
    Body,
    JournalBounds,
    JournalCounts,
    JournalFilter,
    JournalPage,
    Json,
    StateError,
    T,
    encode_entry,
    parts_of,
    without_password,
    writes_refused,
)

__all__ = ["RedisStore"]

PREFIX = "vision-mock:"
_JOURNAL = PREFIX + "journal"
_IDS, _TOTAL, _EVICTED, _BYTES = (f"{_JOURNAL}:{name}" for name in ("ids", "total", "evicted", "bytes"))
# The inspector's bodies: each distinct part once (a hash digest -> bytes, and how many kept bodies refer to it), the
# parts of each entry's body (a hash entry id -> digests separated by spaces), the ids in the order kept, and the
# bytes stored (JournalBounds.bodies).
_BLOBS, _REFS, _PARTS, _BODY_IDS, _BODY_BYTES = (f"{PREFIX}bodies{name}" for name in (":blobs", ":refs", ":parts", ":ids", ":bytes"))
_ALL_BODIES = (_BLOBS, _REFS, _PARTS, _BODY_IDS, _BODY_BYTES)

# KEYS: journal, ids, total, evicted, bytes, blobs, refs, parts, body ids, body bytes. ARGV: the entry's JSON without
# its id, the bounds (entries, bytes, bodies), the number of body parts, then each part's digest and bytes ('' when
# the caller believes them stored: if they are not, the script changes nothing and answers -1, and the caller sends
# them). The new body's references are taken before anything is evicted, so a part it shares stays; an evicted
# entry's body goes with it; a part goes when no kept body refers to it.
_RECORD = """
local n = tonumber(ARGV[5])
for i = 0, n - 1 do
  if #ARGV[7 + 2 * i] == 0 and redis.call('HEXISTS', KEYS[6], ARGV[6 + 2 * i]) == 0 then return -1 end
end
local function release(old_id)
  local list = redis.call('HGET', KEYS[8], old_id)
  if not list then return end
  redis.call('HDEL', KEYS[8], old_id)
  local freed, seen = 0, {}
  for digest in string.gmatch(list, '%S+') do
    if not seen[digest] then
      seen[digest] = true
      if redis.call('HINCRBY', KEYS[7], digest, -1) <= 0 then
        freed = freed + redis.call('HSTRLEN', KEYS[6], digest)
        redis.call('HDEL', KEYS[6], digest)
        redis.call('HDEL', KEYS[7], digest)
      end
    end
  end
  if freed > 0 then redis.call('DECRBY', KEYS[10], freed) end
end
local id = redis.call('INCR', KEYS[2])
local doc = '{"id":' .. id .. ',' .. string.sub(ARGV[1], 2)
local kept = redis.call('RPUSH', KEYS[1], doc)
redis.call('INCR', KEYS[3])
local bound = tonumber(ARGV[4])
local sizes, data, order, list, total = {}, {}, {}, {}, 0
for i = 0, n - 1 do
  local digest, bytes = ARGV[6 + 2 * i], ARGV[7 + 2 * i]
  list[#list + 1] = digest
  if not sizes[digest] then
    sizes[digest] = #bytes > 0 and #bytes or redis.call('HSTRLEN', KEYS[6], digest)
    data[digest] = bytes
    order[#order + 1] = digest
    total = total + sizes[digest]
  end
end
local keep = n > 0 and total <= bound
local new, needed = {}, 0
if keep then
  for _, digest in ipairs(order) do
    if redis.call('HEXISTS', KEYS[6], digest) == 1 then
      redis.call('HINCRBY', KEYS[7], digest, 1)
    else
      new[#new + 1] = digest
      needed = needed + sizes[digest]
    end
  end
  redis.call('HSET', KEYS[8], id, table.concat(list, ' '))
  redis.call('RPUSH', KEYS[9], id)
end
local size = redis.call('INCRBY', KEYS[5], #doc)
local evicted, last = 0, nil
while kept > 1 and (kept > tonumber(ARGV[2]) or size > tonumber(ARGV[3])) do
  local old = redis.call('LPOP', KEYS[1])
  size = redis.call('DECRBY', KEYS[5], #old)
  last = tonumber(string.match(old, '^{"id":(%d+)')) or last
  kept = kept - 1
  evicted = evicted + 1
end
if evicted > 0 then redis.call('INCRBY', KEYS[4], evicted) end
if last then
  while true do
    local head = redis.call('LINDEX', KEYS[9], 0)
    if not head or tonumber(head) > last then break end
    redis.call('LPOP', KEYS[9])
    release(head)
  end
end
if needed > 0 then
  local held = tonumber(redis.call('GET', KEYS[10]) or '0')
  while held + needed > bound do
    local head = redis.call('LINDEX', KEYS[9], 0)
    if not head or tonumber(head) == id then break end
    redis.call('LPOP', KEYS[9])
    release(head)
    held = tonumber(redis.call('GET', KEYS[10]) or '0')
  end
  for _, digest in ipairs(new) do
    redis.call('HSET', KEYS[6], digest, data[digest])
    redis.call('HSET', KEYS[7], digest, 1)
  end
  redis.call('INCRBY', KEYS[10], needed)
end
return id
"""

# KEYS: parts, blobs. ARGV: the entry id. The body's parts joined, or nil.
_BODY = """
local list = redis.call('HGET', KEYS[1], ARGV[1])
if not list then return false end
local out = {}
for digest in string.gmatch(list, '%S+') do
  local part = redis.call('HGET', KEYS[2], digest)
  if not part then return false end
  out[#out + 1] = part
end
return table.concat(out)
"""

KNOWN_PARTS = 256  # digests this client sent lately: sent again as digests alone (the script asks for any it lacks)


def _doc(key: str) -> str:
    return f"{PREFIX}doc:{key}"


def _load(raw: bytes | str | None) -> Json:
    return None if raw is None else json.loads(raw)


class RedisStore:
    """The :class:`~.base.StateStore` on a Redis database; safe across threads (redis-py's connection pool)."""

    def __init__(self, url: str, bounds: JournalBounds = DEFAULT_BOUNDS):
        self.location = without_password(url)
        self.bounds = bounds
        self.local_reads = False  # every read is a round trip to the Redis server
        self._sent: OrderedDict[str, None] = OrderedDict()  # digests of body parts sent lately (see KNOWN_PARTS)
        self._sent_lock = threading.Lock()
        with self._errors():
            self._client = redis.Redis.from_url(url, socket_timeout=10, socket_connect_timeout=5)
            self._record = self._client.register_script(_RECORD)
            self._body = self._client.register_script(_BODY)
            self._client.ping()

    @contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except redis.ConnectionError as exc:
            raise StateError(f"The Redis state store {self.location} is unreachable: {str(exc).rstrip('.')}.") from exc
        except redis.RedisError as exc:
            raise StateError(f"The Redis state store {self.location} failed: {str(exc).rstrip('.')}.") from exc

    def close(self) -> None:
        self._client.close()

    # --- documents ---------------------------------------------------------------------------------------------

    def read(self, key: str) -> Json:
        with self._errors():
            return _load(self._client.get(_doc(key)))

    def update(self, key: str, change: Callable[[Json], tuple[Json, T]]) -> T:
        name = _doc(key)
        with self._errors(), self._client.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(name)  # type: ignore[no-untyped-call]  # redis-py leaves Pipeline.watch unannotated
                    new, answer = change(_load(pipe.get(name)))
                    if new is not KEEP:
                        writes_refused()
                        pipe.multi()
                        pipe.set(name, json.dumps(new))
                        pipe.execute()
                    return answer
                except redis.WatchError:  # another client changed the document since WATCH: read it again
                    continue

    def seed(self, documents: Mapping[str, Json]) -> bool:
        writes_refused()
        marker = _doc(SEEDED)
        with self._errors(), self._client.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(marker)  # type: ignore[no-untyped-call]  # redis-py leaves Pipeline.watch unannotated
                    if pipe.exists(marker):
                        return False
                    pipe.multi()
                    pipe.mset({_doc(k): json.dumps(v) for k, v in {**documents, SEEDED: True}.items()})
                    pipe.execute()
                    return True
                except redis.WatchError:  # another server seeded it meanwhile: see that it did
                    continue

    def reset(self, documents: Mapping[str, Json]) -> None:
        writes_refused()
        with self._errors(), self._client.pipeline(transaction=True) as pipe:
            if documents:
                pipe.mset({_doc(k): json.dumps(v) for k, v in documents.items()})
            pipe.delete(_JOURNAL, _TOTAL, _EVICTED, _BYTES, *_ALL_BODIES)
            pipe.execute()

    # --- the journal -------------------------------------------------------------------------------------------

    def record(self, entry: Mapping[str, Any], body: Body | None = None) -> int:
        writes_refused()
        doc = encode_entry(entry)
        parts = parts_of(body) if body is not None and self.bounds.bodies else []
        keys = [_JOURNAL, _IDS, _TOTAL, _EVICTED, _BYTES, *_ALL_BODIES]
        bounds = [self.bounds.entries, self.bounds.bytes, self.bounds.bodies, len(parts)]
        with self._sent_lock:
            sent = set(self._sent)
        entry_id = -1
        with self._errors():
            # the parts sent lately go as digests alone; when the store lacks one (evicted, cleared, another server's),
            # it changes nothing and answers -1: then every part goes with its bytes
            for lean in (True, False):
                args: list[Any] = [doc, *bounds]
                for part in parts:
                    args += [part.digest, b"" if lean and part.digest in sent else part.data]
                entry_id = int(self._record(keys=keys, args=args))
                if entry_id >= 0:
                    break
        with self._sent_lock:
            for part in parts:
                self._sent[part.digest] = None
                self._sent.move_to_end(part.digest)
            while len(self._sent) > KNOWN_PARTS:
                self._sent.popitem(last=False)
        return entry_id

    def body(self, entry_id: int) -> bytes | None:
        with self._errors():
            found = self._body(keys=[_PARTS, _BLOBS], args=[str(entry_id)])
        return found.encode() if isinstance(found, str) else found

    def entries(self, where: JournalFilter, limit: int) -> JournalPage:
        with self._errors():
            kept = [json.loads(raw) for raw in self._client.lrange(_JOURNAL, 0, -1)]
        matched = [entry for entry in kept if where.matches(entry)]
        return JournalPage(len(matched), matched[-limit:])

    def counts(self) -> JournalCounts:
        with self._errors(), self._client.pipeline(transaction=True) as pipe:
            pipe.mget(_TOTAL, _EVICTED, _BYTES)
            pipe.llen(_JOURNAL)
            (total, evicted, size), kept = pipe.execute()
        return JournalCounts(total=int(total or 0), kept=int(kept), evicted=int(evicted or 0), bytes=int(size or 0))

    def clear_journal(self) -> int:
        writes_refused()
        with self._errors(), self._client.pipeline(transaction=True) as pipe:
            pipe.llen(_JOURNAL)
            pipe.delete(_JOURNAL, _TOTAL, _EVICTED, _BYTES, *_ALL_BODIES)
            kept, _ = pipe.execute()
        return int(kept)
