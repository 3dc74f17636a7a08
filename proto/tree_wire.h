#pragma once
// Token trees and verdicts to and from their wire messages (proto/speculation.proto).
// Decoding checks everything a peer could get wrong, so a bad message is a clear
// error here and never reaches a forward pass.
#include <cstdint>
#include <string>

#include "proto/speculation.pb.h"
#include "speculation/token_tree.h"
#include "speculation/verify.h"

namespace tandem {

/// Most nodes a tree from the network may have.
constexpr int kMaxWireTreeNodes = 4096;

/// `tree` as a message for request `request_id`, its first level at `first_position`.
wire::TokenTree tree_to_wire(const TokenTree& tree, uint64_t request_id, int64_t first_position);
/// The tree in `message`; throws std::invalid_argument naming the problem if the arrays
/// differ in length, a parent is not an earlier node, a token is outside [0, vocab), a
/// probability is outside [0, 1], there are more than kMaxWireTreeNodes nodes, or a
/// proposal is not a distribution holding each of its node's children once.
TokenTree tree_from_wire(const wire::TokenTree& message, int32_t vocab);

/// A request's sampling from its wire form (client.proto); std::invalid_argument unless the
/// temperature is in [0, kMaxTemperature], top_k >= 0 and top_p in [0, 1] (0, proto3's unset: no cut).
SamplingParams sampling_from_wire(const wire::Sampling& s);
/// `params` as its wire form.
wire::Sampling sampling_to_wire(const SamplingParams& params);

}  // namespace tandem
