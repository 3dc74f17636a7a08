#pragma once
// Short fingerprints that tell whether two processes hold the same model or the same
// vocabulary, so the cluster can refuse a verifier of another model and never pair a
// drafter whose token ids mean other text. A consistency check between nodes that
// already authenticated (the control plane's certificates), not a cryptographic digest.
#include <string>

namespace tandem {

class Model;
class Tokenizer;

/// "N tokens:HASH" over every token's text, BOS, EOS and the encoding kind.
std::string vocabulary_fingerprint(const Tokenizer& tokenizer);
/// "NAME:HASH" over the configuration, the vocabulary, every norm and bias, and every matrix's
/// type, shape and first and last 4 KiB (reading every byte would cost seconds on large models).
std::string model_fingerprint(const Model& model);

}  // namespace tandem
