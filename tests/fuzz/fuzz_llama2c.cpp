// llama2.c checkpoints (header and weights), with the real stories260K tokenizer beside.
#include "fuzz_input.h"
#include "model/model.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size >= 4 && std::string_view(reinterpret_cast<const char*>(data), 4) == "GGUF") return -1;  // the other loader's
  tandem::fuzz::InputFile file(data, size);
  try {
    tandem::Model::load(file.path(), tandem::fuzz::stories_tokenizer());
  } catch (const std::exception&) {}
  return 0;
}
