#pragma once
// What the libFuzzer targets share: the fuzzer's bytes as a file (the loaders read paths)
// and the paths of the real models they start from. Every target treats an exception
// as a clean refusal; a crash, a sanitizer report, a leak or a timeout is a finding.
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <string>

namespace tandem::fuzz {

/// The bytes as a file in memory, open while this lives; path() names it.
class InputFile {
 public:
  InputFile(const uint8_t* data, size_t size) : fd_(memfd_create("tandem-fuzz", 0)) {
    size_t written = 0;
    while (fd_ >= 0 && written < size) {
      const ssize_t n = write(fd_, data + written, size - written);
      if (n <= 0) break;
      written += size_t(n);
    }
  }
  ~InputFile() {
    if (fd_ >= 0) close(fd_);
  }
  InputFile(const InputFile&) = delete;
  InputFile& operator=(const InputFile&) = delete;
  std::string path() const { return "/proc/self/fd/" + std::to_string(fd_); }

 private:
  int fd_;
};

inline std::string shared_dir() { return TANDEM_SHARED_DIR; }
inline std::string stories_model() { return shared_dir() + "/data/models/stories260K/model.bin"; }
inline std::string stories_tokenizer() { return shared_dir() + "/data/models/stories260K/tokenizer.bin"; }
inline std::string installed_model(const std::string& name) { return std::string(TANDEM_MODELS_DIR) + "/" + name; }

}  // namespace tandem::fuzz
