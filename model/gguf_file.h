#pragma once
// GGUF v2/v3 reader over a memory-mapped file: metadata, tensor infos, tensor data.
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "kernels/dtype.h"
#include "model/mapped_file.h"

namespace tandem {

/// GGUF metadata value types.
enum class GgufType : uint32_t { U8, I8, U16, I16, U32, I32, F32, Bool, String, Array, U64, I64, F64 };

/// An array value: its element type and elements (strings as views into the file).
struct GgufArray {
  GgufType elem = GgufType::U8;
  std::vector<std::string_view> strings;  // when elem is String
  std::vector<double> numbers;            // any numeric or bool element type
};

/// One metadata value.
struct GgufValue {
  GgufType type;
  std::variant<int64_t, uint64_t, double, bool, std::string_view, GgufArray> value;
};

/// One tensor: name, type, shape (GGML order: shape[0] varies fastest) and its bytes in the file.
struct GgufTensor {
  std::string name;
  DType type;
  std::vector<int64_t> shape;
  uint64_t offset;   // from the start of the data section
  const void* data;  // into the mapping
  size_t bytes;
  /// Number of values.
  int64_t elements() const;
};

/// A parsed GGUF file. Every read is bounds-checked; problems throw FormatError naming the file.
class GgufFile {
 public:
  /// Maps and parses `path`.
  explicit GgufFile(const std::string& path);

  /// File path.
  const std::string& path() const { return file_->path(); }
  /// Format version (2 or 3).
  uint32_t version() const { return version_; }
  /// Data alignment.
  uint64_t alignment() const { return alignment_; }
  /// All metadata, by key.
  const std::map<std::string, GgufValue, std::less<>>& metadata() const { return metadata_; }
  /// All tensors in file order.
  const std::vector<GgufTensor>& tensors() const { return tensors_; }

  /// The value for `key`, or nullptr.
  const GgufValue* find(std::string_view key) const;
  /// A string value; throws if missing or of another type.
  std::string get_string(std::string_view key) const;
  /// A string value, or `fallback` when absent.
  std::string get_string(std::string_view key, const std::string& fallback) const;
  /// An integer value (any integer type); throws if missing.
  int64_t get_int(std::string_view key) const;
  /// An integer value, or `fallback` when absent.
  int64_t get_int(std::string_view key, int64_t fallback) const;
  /// A float value (any numeric type), or `fallback` when absent.
  double get_float(std::string_view key, double fallback) const;
  /// A bool value, or `fallback` when absent.
  bool get_bool(std::string_view key, bool fallback) const;
  /// An array value; throws if missing or not an array.
  const GgufArray& get_array(std::string_view key) const;

  /// The tensor called `name`, or nullptr.
  const GgufTensor* find_tensor(std::string_view name) const;
  /// The tensor called `name` with exactly this shape; throws a FormatError otherwise.
  const GgufTensor& require_tensor(std::string_view name, const std::vector<int64_t>& shape) const;

  /// Throws FormatError("path: message").
  [[noreturn]] void fail(const std::string& message) const;

 private:
  void parse();
  GgufValue read_value(ByteReader& in, GgufType type, int depth);

  std::unique_ptr<MappedFile> file_;
  uint32_t version_ = 0;
  uint64_t alignment_ = 32;
  std::map<std::string, GgufValue, std::less<>> metadata_;
  std::vector<GgufTensor> tensors_;
  std::map<std::string, size_t, std::less<>> tensor_index_;
};

/// Name of a metadata value type, for messages.
std::string_view gguf_type_name(GgufType type);

}  // namespace tandem
