"""Round-trip every storage and retrieval command through pymemcache, the
Debian-packaged Python client, against a running threadlined.

usage: pymemcache_roundtrip.py PORT ITEM_SIZE_MAX
Exit status 0 when every check passed; the first failure is printed."""
import sys

from pymemcache.client.base import Client
from pymemcache.exceptions import MemcacheServerError


def check(what, got, want):
    if got != want:
        sys.exit("%s: got %r, want %r" % (what, got, want))


def main():
    port, limit = int(sys.argv[1]), int(sys.argv[2])
    c = Client(("127.0.0.1", port), connect_timeout=10, timeout=10)

    # Every byte value, CR LF inside the value, and an empty value.
    binary = bytes(range(256)) * 4 + b"\r\nEND\r\n"
    check("set binary", c.set("bin", binary, noreply=False), True)
    check("get binary", c.get("bin"), binary)
    check("set empty", c.set("empty", b"", noreply=False), True)
    check("get empty", c.get("empty"), b"")

    # The largest value the limit allows (key and value count), and one
    # byte more.
    key = "big"
    largest = b"x" * (limit - len(key))
    check("set largest", c.set(key, largest, noreply=False), True)
    check("get largest", c.get(key), largest)
    try:
        c.set(key, largest + b"x", noreply=False)
        sys.exit("set past the limit: no error")
    except MemcacheServerError as e:
        check("set past the limit", e.args[0], b"object too large for cache")
    check("get after a refused set", c.get(key), None)

    # gets/cas: the first cas wins, a stale one is refused.
    c.set("k", b"v1", noreply=False)
    value, unique = c.gets("k")
    check("gets value", value, b"v1")
    check("cas", c.cas("k", b"v2", unique, noreply=False), True)
    check("stale cas", c.cas("k", b"v3", unique, noreply=False), False)
    check("cas missing", c.cas("nokey", b"v", unique, noreply=False), None)
    check("get after cas", c.get("k"), b"v2")

    # add/replace/append/prepend.
    check("add existing", c.add("k", b"x", noreply=False), False)
    check("add new", c.add("k2", b"mid", noreply=False), True)
    check("replace missing", c.replace("nokey", b"x", noreply=False), False)
    check("append", c.append("k2", b"-end", noreply=False), True)
    check("prepend", c.prepend("k2", b"start-", noreply=False), True)
    check("get appended", c.get("k2"), b"start-mid-end")

    # incr/decr: 64-bit wrap on incr, floor at 0 on decr.
    c.set("n", b"10", noreply=False)
    check("incr", c.incr("n", 5, noreply=False), 15)
    check("decr", c.decr("n", 100, noreply=False), 0)
    check("incr wraps", c.incr("n", 2**64 - 1, noreply=False), 2**64 - 1)
    check("incr past 2^64", c.incr("n", 2, noreply=False), 1)
    check("incr missing", c.incr("nokey", 1, noreply=False), None)

    # touch, delete.
    check("touch", c.touch("k", 100, noreply=False), True)
    check("touch missing", c.touch("nokey", 100, noreply=False), False)
    check("delete", c.delete("k", noreply=False), True)
    check("delete again", c.delete("k", noreply=False), False)
    check("get deleted", c.get("k"), None)

    # Multi-get, misses left out; gets_many carries the uniques.
    many = {"m%d" % i: (b"value-%d" % i) * (i + 1) for i in range(100)}
    check("set_many", c.set_many(many, noreply=False), [])
    keys = list(many) + ["absent1", "absent2"]
    check("get_many", c.get_many(keys), many)
    gm = c.gets_many(["m1", "m2", "absent1"])
    check("gets_many keys", sorted(gm), ["m1", "m2"])
    check("gets_many value", gm["m1"][0], many["m1"])

    # Flags round-trip through a serde that stores them.
    c2 = Client(("127.0.0.1", port), connect_timeout=10, timeout=10,
                serde=FlagSerde())
    c2.set("flagged", b"payload", noreply=False)
    check("flags", c2.get("flagged"), (b"payload", 4294967295))
    c.close()
    c2.close()
    print("pymemcache: all round-trips passed")


class FlagSerde:
    def serialize(self, key, value):
        return value, 4294967295

    def deserialize(self, key, value, flags):
        return value, flags


if __name__ == "__main__":
    main()
