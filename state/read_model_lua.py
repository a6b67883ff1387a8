"""The compare-and-set scripts of the read model: a hash is written only by a newer version.

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

# The same for many hashes in one call: one script run per batch instead of one per key (the
# per-command cost of Redis and of the client was most of what a write cost).
# KEYS: the hashes.  ARGV[1]: how many values follow per key (n).  Then, per key, n values:
# its version, then field, value, ... as above.  Returns, per key, 1 (written), 0 (stale) or
# the error Redis gave for that key as a string (a key of another type, say); the other keys
# are written all the same.
COMPARE_AND_SET_MANY = """
local per = tonumber(ARGV[1])
local results = {}
for i, key in ipairs(KEYS) do
  local first = 2 + (i - 1) * per
  local stored = redis.pcall('HGET', key, 'version')
  if type(stored) == 'table' and stored.err then
    results[i] = stored.err
  elseif stored and tonumber(stored) >= tonumber(ARGV[first]) then
    results[i] = 0
  else
    local written = redis.pcall('HSET', key, unpack(ARGV, first + 1, first + per - 1))
    if type(written) == 'table' and written.err then
      results[i] = written.err
    else
      results[i] = 1
    end
  end
end
return results
"""
