// KV shard messages from a verifier, several per input (each length-prefixed), so that
// a store, an attend and a release can meet the state earlier frames left.
#include <cstring>

#include "fuzz_input.h"
#include "shards/kv_shard.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  tandem::KvShardLimits limits;
  limits.max_bytes = 1 << 22;
  tandem::KvShard shard(limits, 1);
  while (size >= 2) {
    const size_t length = std::min<size_t>(size - 2, size_t(data[0]) << 8 | data[1]);
    (void)shard.handle("verifier", std::string_view(reinterpret_cast<const char*>(data + 2), length));
    data += 2 + length;
    size -= 2 + length;
  }
  return 0;
}
