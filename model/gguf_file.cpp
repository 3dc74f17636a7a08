#include "model/gguf_file.h"

#include <limits>

namespace tandem {
namespace {

constexpr uint32_t kMagic = 0x46554747;  // "GGUF" little-endian
constexpr int kMaxDims = 4;

std::string shape_string(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

// Smallest encoded size of one value of `type`, used to reject absurd counts early.
uint64_t min_encoded_size(GgufType type) {
  switch (type) {
    case GgufType::U8:
    case GgufType::I8:
    case GgufType::Bool: return 1;
    case GgufType::U16:
    case GgufType::I16: return 2;
    case GgufType::U32:
    case GgufType::I32:
    case GgufType::F32: return 4;
    case GgufType::U64:
    case GgufType::I64:
    case GgufType::F64:
    case GgufType::String: return 8;
    case GgufType::Array: return 12;
  }
  return 1;
}

}  // namespace

std::string_view gguf_type_name(GgufType type) {
  static constexpr std::string_view names[] = {"u8",   "i8",     "u16",   "i16", "u32", "i32", "f32",
                                               "bool", "string", "array", "u64", "i64", "f64"};
  return uint32_t(type) < std::size(names) ? names[uint32_t(type)] : "unknown";
}

int64_t GgufTensor::elements() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

GgufFile::GgufFile(const std::string& path) : file_(std::make_unique<MappedFile>(path)) { parse(); }

void GgufFile::fail(const std::string& message) const { throw FormatError(path() + ": " + message); }

GgufValue GgufFile::read_value(ByteReader& in, GgufType type, int depth) {
  switch (type) {
    case GgufType::U8: return {type, int64_t(in.read<uint8_t>("u8 value"))};
    case GgufType::I8: return {type, int64_t(in.read<int8_t>("i8 value"))};
    case GgufType::U16: return {type, int64_t(in.read<uint16_t>("u16 value"))};
    case GgufType::I16: return {type, int64_t(in.read<int16_t>("i16 value"))};
    case GgufType::U32: return {type, int64_t(in.read<uint32_t>("u32 value"))};
    case GgufType::I32: return {type, int64_t(in.read<int32_t>("i32 value"))};
    case GgufType::U64: return {type, in.read<uint64_t>("u64 value")};
    case GgufType::I64: return {type, in.read<int64_t>("i64 value")};
    case GgufType::F32: return {type, double(in.read<float>("f32 value"))};
    case GgufType::F64: return {type, in.read<double>("f64 value")};
    case GgufType::Bool: {
      uint8_t b = in.read<uint8_t>("bool value");
      if (b > 1) in.fail("bool value " + std::to_string(b) + " at offset " + std::to_string(in.offset() - 1));
      return {type, b == 1};
    }
    case GgufType::String: {
      uint64_t len = in.read<uint64_t>("string length");
      return {type, in.bytes(len, "string")};
    }
    case GgufType::Array: {
      if (depth > 0) in.fail("nested arrays are not supported (offset " + std::to_string(in.offset()) + ")");
      uint32_t raw_elem = in.read<uint32_t>("array element type");
      if (raw_elem > uint32_t(GgufType::F64)) in.fail("unknown array element type " + std::to_string(raw_elem));
      GgufType elem = GgufType(raw_elem);
      uint64_t count = in.read<uint64_t>("array length");
      if (count > in.remaining() / min_encoded_size(elem))
        in.fail("array of " + std::to_string(count) + " " + std::string(gguf_type_name(elem)) +
                " values does not fit in the " + std::to_string(in.remaining()) + " bytes left");
      GgufArray array;
      array.elem = elem;
      if (elem == GgufType::String) {
        array.strings.reserve(count);
        for (uint64_t i = 0; i < count; ++i)
          array.strings.push_back(std::get<std::string_view>(read_value(in, elem, 1).value));
      } else if (elem == GgufType::Array) {
        in.fail("nested arrays are not supported");
      } else {
        array.numbers.reserve(count);
        for (uint64_t i = 0; i < count; ++i) {
          GgufValue v = read_value(in, elem, 1);
          std::visit(
              [&](auto&& x) {
                using T = std::decay_t<decltype(x)>;
                if constexpr (std::is_arithmetic_v<T>) array.numbers.push_back(double(x));
              },
              v.value);
        }
      }
      return {type, std::move(array)};
    }
  }
  in.fail("unknown metadata value type " + std::to_string(uint32_t(type)));
}

void GgufFile::parse() {
  ByteReader in(file_->data(), file_->size(), path());
  if (file_->size() < 4 || in.read<uint32_t>("magic") != kMagic) fail("not a GGUF file (bad magic)");
  version_ = in.read<uint32_t>("version");
  if (version_ != 2 && version_ != 3)
    fail("unsupported GGUF version " + std::to_string(version_) + " (expected 2 or 3)");
  uint64_t n_tensors = in.read<uint64_t>("tensor count");
  uint64_t n_kv = in.read<uint64_t>("metadata count");
  if (n_kv > in.remaining() / 12) fail("metadata count " + std::to_string(n_kv) + " is larger than the file can hold");
  if (n_tensors > in.remaining() / 24)
    fail("tensor count " + std::to_string(n_tensors) + " is larger than the file can hold");

  for (uint64_t i = 0; i < n_kv; ++i) {
    uint64_t key_len = in.read<uint64_t>("metadata key length");
    std::string key(in.bytes(key_len, "metadata key"));
    uint32_t raw_type = in.read<uint32_t>("metadata value type");
    if (raw_type > uint32_t(GgufType::F64))
      fail("metadata " + key + ": unknown value type " + std::to_string(raw_type));
    GgufValue value = read_value(in, GgufType(raw_type), 0);
    if (!metadata_.emplace(key, std::move(value)).second) fail("metadata key " + key + " appears twice");
  }
  alignment_ = uint64_t(get_int("general.alignment", 32));
  if (alignment_ == 0 || (alignment_ & (alignment_ - 1)) != 0)
    fail("general.alignment " + std::to_string(alignment_) + " is not a power of two");

  tensors_.reserve(n_tensors);
  for (uint64_t i = 0; i < n_tensors; ++i) {
    GgufTensor t;
    uint64_t name_len = in.read<uint64_t>("tensor name length");
    t.name = std::string(in.bytes(name_len, "tensor name"));
    uint32_t n_dims = in.read<uint32_t>("tensor dimension count");
    if (n_dims == 0 || n_dims > kMaxDims)
      fail("tensor " + t.name + " has " + std::to_string(n_dims) + " dimensions (1 to 4 allowed)");
    int64_t elements = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
      uint64_t ne = in.read<uint64_t>("tensor dimension");
      if (ne == 0 || ne > uint64_t(std::numeric_limits<int64_t>::max()) / uint64_t(elements))
        fail("tensor " + t.name + " has an invalid dimension " + std::to_string(ne));
      elements *= int64_t(ne);
      t.shape.push_back(int64_t(ne));
    }
    uint32_t raw_type = in.read<uint32_t>("tensor type");
    auto info = dtype_info(raw_type);
    if (!info) fail("tensor " + t.name + " has unsupported type id " + std::to_string(raw_type));
    t.type = DType(raw_type);
    if (t.shape[0] % info->block_elems != 0)
      fail("tensor " + t.name + " row length " + std::to_string(t.shape[0]) + " is not a multiple of the " +
           std::string(info->name) + " block size " + std::to_string(info->block_elems));
    t.offset = in.read<uint64_t>("tensor offset");
    if (t.offset % alignment_ != 0)
      fail("tensor " + t.name + " offset " + std::to_string(t.offset) + " is not aligned to " +
           std::to_string(alignment_));
    t.bytes = size_t(elements / info->block_elems) * size_t(info->block_bytes);
    if (!tensor_index_.emplace(t.name, tensors_.size()).second) fail("tensor " + t.name + " appears twice");
    tensors_.push_back(std::move(t));
  }

  uint64_t data_start = (in.offset() + alignment_ - 1) / alignment_ * alignment_;
  for (auto& t : tensors_) {
    uint64_t begin = data_start + t.offset;
    if (t.offset > file_->size() || begin > file_->size() || t.bytes > file_->size() - begin)
      fail("tensor " + t.name + " needs " + std::to_string(t.bytes) + " bytes at offset " + std::to_string(begin) +
           " but the file ends at " + std::to_string(file_->size()));
    t.data = file_->data() + begin;
  }
}

const GgufValue* GgufFile::find(std::string_view key) const {
  auto it = metadata_.find(key);
  return it == metadata_.end() ? nullptr : &it->second;
}

std::string GgufFile::get_string(std::string_view key) const {
  const GgufValue* v = find(key);
  if (!v) fail("missing metadata " + std::string(key));
  if (v->type != GgufType::String)
    fail("metadata " + std::string(key) + " is " + std::string(gguf_type_name(v->type)) + ", expected string");
  return std::string(std::get<std::string_view>(v->value));
}

std::string GgufFile::get_string(std::string_view key, const std::string& fallback) const {
  return find(key) ? get_string(key) : fallback;
}

int64_t GgufFile::get_int(std::string_view key) const {
  const GgufValue* v = find(key);
  if (!v) fail("missing metadata " + std::string(key));
  if (auto p = std::get_if<int64_t>(&v->value)) return *p;
  if (auto p = std::get_if<uint64_t>(&v->value)) {
    if (*p > uint64_t(std::numeric_limits<int64_t>::max())) fail("metadata " + std::string(key) + " is too large");
    return int64_t(*p);
  }
  fail("metadata " + std::string(key) + " is " + std::string(gguf_type_name(v->type)) + ", expected an integer");
}

int64_t GgufFile::get_int(std::string_view key, int64_t fallback) const { return find(key) ? get_int(key) : fallback; }

double GgufFile::get_float(std::string_view key, double fallback) const {
  const GgufValue* v = find(key);
  if (!v) return fallback;
  if (auto p = std::get_if<double>(&v->value)) return *p;
  if (auto p = std::get_if<int64_t>(&v->value)) return double(*p);
  if (auto p = std::get_if<uint64_t>(&v->value)) return double(*p);
  fail("metadata " + std::string(key) + " is " + std::string(gguf_type_name(v->type)) + ", expected a number");
}

bool GgufFile::get_bool(std::string_view key, bool fallback) const {
  const GgufValue* v = find(key);
  if (!v) return fallback;
  if (auto p = std::get_if<bool>(&v->value)) return *p;
  fail("metadata " + std::string(key) + " is " + std::string(gguf_type_name(v->type)) + ", expected bool");
}

const GgufArray& GgufFile::get_array(std::string_view key) const {
  const GgufValue* v = find(key);
  if (!v) fail("missing metadata " + std::string(key));
  if (auto p = std::get_if<GgufArray>(&v->value)) return *p;
  fail("metadata " + std::string(key) + " is " + std::string(gguf_type_name(v->type)) + ", expected an array");
}

const GgufTensor* GgufFile::find_tensor(std::string_view name) const {
  auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

const GgufTensor& GgufFile::require_tensor(std::string_view name, const std::vector<int64_t>& shape) const {
  const GgufTensor* t = find_tensor(name);
  if (!t) fail("missing tensor " + std::string(name));
  if (t->shape != shape)
    fail("tensor " + std::string(name) + " has shape " + shape_string(t->shape) + ", expected " + shape_string(shape));
  return *t;
}

}  // namespace tandem
