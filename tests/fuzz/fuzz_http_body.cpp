// HTTP request bodies of /v1/completions (first byte even) and /v1/chat/completions (odd):
// JSON and UTF-8 checks, then every field's type and range.
#include "fuzz_input.h"
#include "server/openai_request.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  try {
    const nlohmann::ordered_json body =
        tandem::parse_body(std::string(reinterpret_cast<const char*>(data + 1), size - 1));
    (void)tandem::openai_submit(body, data[0] & 1);
  } catch (const std::invalid_argument&) {  // the 400 a client gets
  }
  return 0;
}
