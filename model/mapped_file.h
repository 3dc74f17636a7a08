#pragma once
// A read-only memory-mapped file and a bounds-checked reader over it.
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <string_view>

namespace tandem {

/// A problem with an input file; the message names the file and what is wrong.
class FormatError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// A whole file mapped read-only into memory.
class MappedFile {
 public:
  /// Maps `path`; throws FormatError if it cannot be opened.
  explicit MappedFile(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  /// Start of the mapping.
  const uint8_t* data() const { return data_; }
  /// Size of the file in bytes.
  size_t size() const { return size_; }
  /// Path as given.
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

/// Sequential little-endian reads that never pass the end of the data.
class ByteReader {
 public:
  ByteReader(const uint8_t* data, size_t size, std::string file) : data_(data), size_(size), file_(std::move(file)) {}

  /// Current offset from the start.
  size_t offset() const { return offset_; }
  /// Bytes left after the offset.
  size_t remaining() const { return size_ - offset_; }
  /// Moves to an absolute offset within the data.
  void seek(size_t offset) {
    if (offset > size_)
      fail("offset " + std::to_string(offset) + " is past the end of the file (" + std::to_string(size_) + " bytes)");
    offset_ = offset;
  }

  /// Reads one trivially copyable value.
  template <typename T>
  T read(const char* what) {
    need(sizeof(T), what);
    T value;
    std::memcpy(&value, data_ + offset_, sizeof(T));
    offset_ += sizeof(T);
    return value;
  }

  /// Returns a view of the next n bytes and skips them.
  std::string_view bytes(uint64_t n, const char* what) {
    need(n, what);
    std::string_view view(reinterpret_cast<const char*>(data_ + offset_), size_t(n));
    offset_ += size_t(n);
    return view;
  }

  /// Throws FormatError("file: message").
  [[noreturn]] void fail(const std::string& message) const { throw FormatError(file_ + ": " + message); }

 private:
  void need(uint64_t n, const char* what) const {
    if (n > remaining())
      fail(std::string(what) + " needs " + std::to_string(n) + " bytes at offset " + std::to_string(offset_) +
           " but the file ends at " + std::to_string(size_));
  }

  const uint8_t* data_;
  size_t size_;
  size_t offset_ = 0;
  std::string file_;
};

}  // namespace tandem
