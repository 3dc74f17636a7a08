#pragma once
// The n samples of one request (SubmitRequest.n). Each is an ActiveRequest of its
// own in the batch; the first prefills the prompt and shares its cache with the
// others (KvCache's shared prefix). They finish apart and answer as one final
// message, or, with first_finish, as soon as the first of them finishes.
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "model/kv_cache.h"
#include "proto/client.pb.h"

namespace tandem {

/// The seed sample `index` of a request draws from: the request's own for sample 0, so that
/// it is what the request alone (n = 1) would give, and a distinct mix of both for the others.
uint64_t sample_seed(uint64_t seed, uint32_t index);

/// What the samples of one request have produced so far.
class SampleGroup {
 public:
  SampleGroup(uint32_t n, bool first_finish) : n_(n), first_finish_(first_finish), finals_(n) {}

  /// Samples in the request.
  uint32_t size() const { return n_; }
  /// The prompt's cache the samples share (set once sample 0 has prefilled it; null when
  /// each sample prefills its own: a cache on KV shards).
  std::shared_ptr<const KvCache> prompt;

  /// Records sample `index`'s final message. Returns the request's final message once it is
  /// complete (every sample, or the first one with first_finish); the group has then ended.
  std::optional<wire::ServerMessage> finished(uint32_t index, const wire::ServerMessage& final);
  /// Ends the group without an answer (the caller sent an error); its samples are dropped.
  void fail() { ended_ = true; }
  /// Whether the request has been answered: samples still in the batch are dropped.
  bool ended() const { return ended_; }

 private:
  // The request's final message from the samples in `finals_` (ascending index).
  wire::ServerMessage merged() const;

  uint32_t n_;
  bool first_finish_;
  bool ended_ = false;
  std::vector<std::optional<wire::FinalResult>> finals_;
};

}  // namespace tandem
