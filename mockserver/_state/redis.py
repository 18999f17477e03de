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
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import redis

from .base import (
    DEFAULT_BOUNDS,
    KEEP,
    SEEDED,
    JournalBounds,
    JournalCounts,
    JournalFilter,
    JournalPage,
    Json,
    StateError,
    T,
    encode_entry,
    without_password,
    writes_refused,
)

__all__ = ["RedisStore"]

PREFIX = "vision-mock:"
_JOURNAL = PREFIX + "journal"
_IDS, _TOTAL, _EVICTED, _BYTES = (f"{_JOURNAL}:{name}" for name in ("ids", "total", "evicted", "bytes"))
# The inspector's bodies: a hash entry id -> body, the ids in the order kept, and their bytes (JournalBounds.bodies).
_BODIES, _BODY_IDS, _BODY_BYTES = (f"{PREFIX}bodies{name}" for name in ("", ":ids", ":bytes"))

# KEYS: journal, ids, total, evicted, bytes, bodies, body ids, body bytes. ARGV: the entry's JSON without its id, the
# bounds (entries, bytes, bodies), the body ('' for none). An evicted entry's body goes with it.
_RECORD = """
local id = redis.call('INCR', KEYS[2])
local doc = '{"id":' .. id .. ',' .. string.sub(ARGV[1], 2)
local kept = redis.call('RPUSH', KEYS[1], doc)
redis.call('INCR', KEYS[3])
local size = redis.call('INCRBY', KEYS[5], #doc)
local evicted = 0
while kept > 1 and (kept > tonumber(ARGV[2]) or size > tonumber(ARGV[3])) do
  local old = redis.call('LPOP', KEYS[1])
  size = redis.call('DECRBY', KEYS[5], #old)
  local old_id = string.match(old, '^{"id":(%d+)')
  if old_id then
    local held = redis.call('HSTRLEN', KEYS[6], old_id)
    if held > 0 then
      redis.call('HDEL', KEYS[6], old_id)
      redis.call('DECRBY', KEYS[8], held)
    end
  end
  kept = kept - 1
  evicted = evicted + 1
end
if evicted > 0 then redis.call('INCRBY', KEYS[4], evicted) end
local body = ARGV[5]
local bound = tonumber(ARGV[4])
if #body > 0 and #body <= bound then
  local held = tonumber(redis.call('GET', KEYS[8]) or '0')
  while held + #body > bound and redis.call('LLEN', KEYS[7]) > 0 do
    local old_id = redis.call('LPOP', KEYS[7])
    local old_size = redis.call('HSTRLEN', KEYS[6], old_id)
    if old_size > 0 then
      redis.call('HDEL', KEYS[6], old_id)
      held = redis.call('DECRBY', KEYS[8], old_size)
    end
  end
  redis.call('HSET', KEYS[6], id, body)
  redis.call('RPUSH', KEYS[7], id)
  redis.call('INCRBY', KEYS[8], #body)
end
return id
"""


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
        with self._errors():
            self._client = redis.Redis.from_url(url, socket_timeout=10, socket_connect_timeout=5)
            self._record = self._client.register_script(_RECORD)
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
            pipe.delete(_JOURNAL, _TOTAL, _EVICTED, _BYTES, _BODIES, _BODY_IDS, _BODY_BYTES)
            pipe.execute()

    # --- the journal -------------------------------------------------------------------------------------------

    def record(self, entry: Mapping[str, Any], body: bytes | None = None) -> int:
        writes_refused()
        doc = encode_entry(entry)
        keys = [_JOURNAL, _IDS, _TOTAL, _EVICTED, _BYTES, _BODIES, _BODY_IDS, _BODY_BYTES]
        with self._errors():
            return int(self._record(keys=keys, args=[doc, self.bounds.entries, self.bounds.bytes, self.bounds.bodies, body or b""]))

    def body(self, entry_id: int) -> bytes | None:
        with self._errors():
            found = self._client.hget(_BODIES, str(entry_id))
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
            pipe.delete(_JOURNAL, _TOTAL, _EVICTED, _BYTES, _BODIES, _BODY_IDS, _BODY_BYTES)
            kept, _ = pipe.execute()
        return int(kept)
