// Config files (--config): `name = value` lines read into a command's flags.
#include "apps/flags.h"
#include "fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  tandem::fuzz::InputFile file(data, size);
  tandem::Flags flags("tandem fuzz", "config files");
  flags.add("model", "", "a path");
  flags.add("threads", "1", "a number");
  flags.add("temperature", "0", "a real number");
  flags.add_switch("insecure", "a switch");
  try {
    if (flags.parse({"--config", file.path()})) {
      (void)flags.get_int("threads");
      (void)flags.get_double("temperature");
      (void)flags.get_switch("insecure");
    }
  } catch (const tandem::UsageError&) {
  } catch (const std::invalid_argument&) {}
  return 0;
}
