// GGUF files: the parser and the model built from it (metadata, tensor table, shapes).
#include "fuzz_input.h"
#include "model/model.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 4 || std::string_view(reinterpret_cast<const char*>(data), 4) != "GGUF") return -1;  // not this loader's
  tandem::fuzz::InputFile file(data, size);
  try {
    tandem::Model::load(file.path());
  } catch (const std::exception&) {}
  return 0;
}
