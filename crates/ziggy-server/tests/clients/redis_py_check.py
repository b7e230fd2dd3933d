"""redis-py against ziggy-server: every command group, pipelines, transactions, AUTH, RESP3.

Usage: redis_py_check.py PORT1 PORT2 PASSWORD ZIGGY DIR
Both servers serve the same directory DIR and ask for PASSWORD; what one writes the other
reads. ZIGGY is the `ziggy` tool, an embedded process on DIR.
Exits non-zero (an AssertionError or a redis error) on the first thing that is not as Redis 7
does it.
"""

import socket
import subprocess
import sys
import threading
import time

import redis

port1, port2, password = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
ziggy, db_dir = sys.argv[4], sys.argv[5]


def client(port, **kw):
    return redis.Redis(host="127.0.0.1", port=port, password=password,
                       socket_timeout=60, decode_responses=True, **kw)


r = client(port1)
r2 = client(port2)

# AUTH: without the password, nothing; with a wrong one, an error.
try:
    redis.Redis(host="127.0.0.1", port=port1, socket_timeout=60).get("k")
    raise AssertionError("a command ran without AUTH")
except redis.exceptions.AuthenticationError:
    pass
except redis.exceptions.ResponseError as e:
    assert "NOAUTH" in str(e), e
try:
    redis.Redis(host="127.0.0.1", port=port1, password="nope", socket_timeout=60).ping()
    raise AssertionError("a wrong password was accepted")
except (redis.exceptions.AuthenticationError, redis.exceptions.ResponseError):
    pass

assert r.ping() is True
assert r.echo("hi") == "hi"
r.flushdb()

# Strings.
assert r.set("s", "v") is True
assert r.get("s") == "v"
assert r.set("s", "w", nx=True) is None
assert r.set("s", "w", xx=True, get=True) == "v"
assert r.append("s", "xyz") == 4
assert r.strlen("s") == 4
assert r.getrange("s", 1, 2) == "xy"
assert r.incr("n") == 1
assert r.incrby("n", 10) == 11
assert r.decr("n") == 10
assert abs(r.incrbyfloat("f", 1.5) - 1.5) < 1e-9
assert r.mset({"a": "1", "b": "2"}) is True
assert r.mget("a", "b", "missing") == ["1", "2", None]
assert r.getdel("a") == "1"
assert r.exists("a", "b") == 1

# Keys and expiry.
assert r.expire("b", 100) is True
assert 0 < r.ttl("b") <= 100
assert r.persist("b") is True
assert r.ttl("b") == -1
assert r.type("b") == "string"
assert r.rename("b", "c") is True
assert r.delete("c", "nothing") == 1
assert sorted(r.keys("*")) == sorted(["s", "n", "f"])
assert set(r.scan_iter(match="*")) == {"s", "n", "f"}

# Lists.
assert r.rpush("l", "a", "b", "c") == 3
assert r.lpush("l", "z") == 4
assert r.lrange("l", 0, -1) == ["z", "a", "b", "c"]
assert r.lpop("l") == "z"
assert r.rpop("l") == "c"
assert r.llen("l") == 2
assert r.lindex("l", 1) == "b"

# Hashes.
assert r.hset("h", mapping={"f1": "1", "f2": "2"}) == 2
assert r.hget("h", "f1") == "1"
assert r.hgetall("h") == {"f1": "1", "f2": "2"}
assert r.hincrby("h", "f1", 5) == 6
assert r.hdel("h", "f2") == 1
assert r.hlen("h") == 1

# Sets.
assert r.sadd("set", "a", "b", "c") == 3
assert r.sismember("set", "a") in (True, 1)
assert r.smembers("set") == {"a", "b", "c"}
assert r.srem("set", "a") == 1
assert r.scard("set") == 2

# Sorted sets.
assert r.zadd("z", {"a": 1, "b": 2, "c": 3}) == 3
assert r.zrange("z", 0, -1) == ["a", "b", "c"]
assert r.zrange("z", 0, -1, withscores=True) == [("a", 1.0), ("b", 2.0), ("c", 3.0)]
assert r.zscore("z", "b") == 2.0
assert r.zincrby("z", 5, "a") == 6.0
assert r.zrank("z", "a") == 2
assert r.zcard("z") == 3

# The other server on the same directory sees all of it.
assert r2.get("s") == "wxyz"
assert r2.zscore("z", "a") == 6.0
r2.set("from2", "yes")
assert r.get("from2") == "yes"

# Pipelines, with and without a transaction.
p = r.pipeline(transaction=False)
for i in range(500):
    p.set(f"p{i}", i)
    p.incr("pc")
res = p.execute()
assert res[0] is True and res[-1] == 500, res[-3:]
p = r.pipeline(transaction=True)
p.set("t", "1").incr("t").get("t")
assert p.execute() == [True, 2, "2"]

# WATCH: a change by another client (here through the other server) aborts.
with r.pipeline() as p:
    p.watch("w")
    r2.set("w", "other")
    p.multi()
    p.set("w", "mine")
    try:
        p.execute()
        raise AssertionError("EXEC ran though a watched key changed")
    except redis.exceptions.WatchError:
        pass
assert r.get("w") == "other"

# Errors come back as errors, and the connection goes on.
try:
    r.lpush("s", "x")
    raise AssertionError("LPUSH on a string succeeded")
except redis.exceptions.ResponseError as e:
    assert str(e).startswith("WRONGTYPE"), e
assert r.ping() is True

# Many clients at once.
def worker():
    c = client(port1 if threading.get_ident() % 2 else port2)
    for _ in range(200):
        c.incr("many")

threads = [threading.Thread(target=worker) for _ in range(8)]
for t in threads:
    t.start()
for t in threads:
    t.join()
assert r.get("many") == "1600", r.get("many")

# CLIENT and CONFIG.
r.client_setname("py")
assert r.client_getname() == "py"
assert any(c.get("name") == "py" for c in r.client_list())
assert r.config_get("port") == {"port": str(port1)}
assert "connected_clients" in r.info("clients")

# RESP3 after HELLO 3 (the server's own replies are maps; which data commands reply with
# RESP3's maps and doubles is the library's command layer's to say).
r3 = client(port1, protocol=3)
assert r3.get("s") == "wxyz"
assert r3.config_get("port") == {"port": str(port1)}

# Pub/Sub: a subscriber on one server, the publisher on the other.
p = r.pubsub()
p.subscribe("chan")
m = p.get_message(timeout=10)
assert m["type"] == "subscribe" and m["channel"] == "chan" and m["data"] == 1, m
p.psubscribe("ch*")
m = p.get_message(timeout=10)
assert m["type"] == "psubscribe" and m["data"] == 2, m
assert r2.publish("chan", "hello") == 2
got = [p.get_message(timeout=10) for _ in range(2)]
assert [(m["type"], m["channel"], m["data"]) for m in got] == [
    ("message", "chan", "hello"), ("pmessage", "chan", "hello")], got
assert got[1]["pattern"] == "ch*", got
assert r2.pubsub_numsub("chan", "none") == [("chan", 1), ("none", 0)]
assert r2.pubsub_numpat() == 1
assert r2.pubsub_channels() == ["chan"]
p.close()

# Blocking pops: a waiter on each server, woken by pushes from an embedded process (the
# `ziggy` tool on the directory) and by the other server; each element goes to one waiter.
got = {}


def waiter(name, port, fn):
    got[name] = fn(client(port))


waiters = [
    threading.Thread(target=waiter, args=("l", port1, lambda c: c.blpop(["bq"], timeout=0))),
    threading.Thread(target=waiter, args=("z", port2, lambda c: c.bzpopmin("bz", timeout=0))),
]
for t in waiters:
    t.start()
deadline = time.time() + 60
while (int(r.info("clients")["blocked_clients"]) < 1
       or int(r2.info("clients")["blocked_clients"]) < 1):
    assert time.time() < deadline, "the waiters never blocked"
    time.sleep(0.01)
subprocess.run([ziggy, "-d", db_dir, "RPUSH", "bq", "job"], check=True, capture_output=True)
r.zadd("bz", {"m": 1.5})
for t in waiters:
    t.join(60)
    assert not t.is_alive(), "a waiter was never woken"
assert got == {"l": ("bq", "job"), "z": ("bz", "m", 1.5)}, got
assert r.blpop(["bq"], timeout=0.1) is None

# Bad input from a raw socket: an error and a closed connection, the server goes on.
s = socket.create_connection(("127.0.0.1", port1), timeout=60)
s.sendall(b"*1\r\n$99999999999\r\n")
data = b""
while True:
    chunk = s.recv(4096)
    if not chunk:
        break
    data += chunk
assert b"Protocol error" in data, data
assert r.ping() is True

print("redis-py", redis.__version__, "checks passed")
