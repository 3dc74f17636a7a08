// Token trees from a peer: a TokenTree frame checked against a vocabulary of 512.
#include "fuzz_input.h"
#include "proto/tree_wire.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  tandem::wire::TokenTree tree_message;
  if (!tree_message.ParseFromArray(data, int(size))) return 0;
  try {
    (void)tandem::tree_from_wire(tree_message, 512);
  } catch (const std::invalid_argument&) {}
  return 0;
}
