"""The compare-and-set script of the read model: a hash is written only by a newer version.

Running the comparison and the write as one script makes them atomic: no other client (another
worker, a replay) can write between the read of the stored version and the write of the new one,
so an older or equal version can never overwrite a newer one.
"""

from __future__ import annotations

# KEYS[1]: the availability hash.  ARGV[1]: the update's version.  ARGV[2..]: field, value, ...
# for every hash field, `version` included.  Returns 1 when written, 0 when refused as stale.
# Lua compares versions as doubles: exact up to 2^53, and beyond that rounding is monotonic, so
# a newer version may at worst be refused as equal, never an older one applied.
COMPARE_AND_SET = """
local stored = redis.call('HGET', KEYS[1], 'version')
if stored and tonumber(stored) >= tonumber(ARGV[1]) then
  return 0
end
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
return 1
"""
