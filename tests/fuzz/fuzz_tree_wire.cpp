// Token trees and verdicts from a peer: a TokenTree frame (its length in the first byte)
// checked against a vocabulary of 512, then a Verdict frame (the rest) against that tree.
#include "fuzz_input.h"
#include "spec/tree_wire.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const size_t split = std::min<size_t>(size - 1, data[0]);  // first byte: the tree frame's length
  tandem::wire::TokenTree tree_message;
  if (!tree_message.ParseFromArray(data + 1, int(split))) return 0;
  try {
    const tandem::TokenTree tree = tandem::tree_from_wire(tree_message, 512);
    tandem::wire::Verdict verdict_message;
    if (verdict_message.ParseFromArray(data + 1 + split, int(size - 1 - split)))
      (void)tandem::verdict_from_wire(verdict_message, tree, 512);
  } catch (const std::invalid_argument&) {
  }
  return 0;
}
