// Every kind of malformed GGUF input gets a FormatError naming the file and the
// problem: never a crash, never a read out of bounds.
#include <gtest/gtest.h>

#include <fstream>

#include "gguf_builder.h"
#include "model/gguf_file.h"
#include "model/model.h"
#include "test_helpers.h"

namespace tandem {
namespace {

using test::GgufBuilder;

std::string write_bytes(const std::string& bytes) {
  std::string path = test::temp_path("bad.gguf");
  std::ofstream(path, std::ios::binary) << bytes;
  return path;
}

// Loading `path` as a model fails with a FormatError whose message names the file and contains `expected`.
void expect_format_error(const std::string& path, const std::string& expected) {
  try {
    Model::load(path);
    FAIL() << "no error for " << path << ", expected: " << expected;
  } catch (const FormatError& e) {
    std::string message = e.what();
    EXPECT_NE(message.find(path), std::string::npos) << message;
    EXPECT_NE(message.find(expected), std::string::npos) << message;
  }
}

TEST(GgufMalformed, ValidTinyModelLoads) {
  std::string path = test::tiny_llama().write(test::temp_path("tiny.gguf"));
  auto model = Model::load(path);
  EXPECT_EQ(model->config().dim, 32);
  EXPECT_EQ(model->config().n_layers, 2);
  EXPECT_EQ(model->config().vocab_size, 256);
  EXPECT_TRUE(model->config().tied_embeddings);
}

TEST(GgufMalformed, WrongMagic) {
  std::string bytes = test::tiny_llama().bytes();
  bytes[3] = 'X';
  // Not GGUF, so it is read as a llama2.c checkpoint, whose header is then implausible.
  expect_format_error(write_bytes(bytes), "not a GGUF file");
  EXPECT_THROW(GgufFile{write_bytes(bytes)}, FormatError);
}

TEST(GgufMalformed, UnsupportedVersion) {
  expect_format_error(test::tiny_llama().write(test::temp_path("v7.gguf"), 7), "unsupported GGUF version 7");
}

TEST(GgufMalformed, EveryTruncationIsAnError) {
  std::string bytes = test::tiny_llama().bytes();
  // Every cut inside the header and metadata, then a stride through the tensor data.
  for (size_t len = 0; len < bytes.size(); len += len < 4096 ? 1 : 997) {
    std::string path = write_bytes(bytes.substr(0, len));
    EXPECT_THROW(Model::load(path), FormatError) << "truncated to " << len << " bytes";
    std::remove(path.c_str());
  }
}

TEST(GgufMalformed, TensorDataPastTheEnd) {
  GgufBuilder b = test::tiny_llama();
  b.tensor("extra.weight", {32}, DType::F32, std::string(128, '\0'), 0, 1 << 30);
  expect_format_error(b.write(test::temp_path("offset.gguf")), "tensor extra.weight needs 128 bytes at offset");
}

TEST(GgufMalformed, MisalignedTensorOffset) {
  GgufBuilder b = test::tiny_llama();
  b.tensor("extra.weight", {32}, DType::F32, std::string(128, '\0'), 0, 4);
  expect_format_error(b.write(test::temp_path("align.gguf")), "is not aligned to 32");
}

TEST(GgufMalformed, UnknownTensorType) {
  GgufBuilder b = test::tiny_llama();
  b.tensor("extra.weight", {32}, DType::F32, std::string(128, '\0'), 99);
  expect_format_error(b.write(test::temp_path("type.gguf")), "tensor extra.weight has unsupported type id 99");
}

TEST(GgufMalformed, RowNotMultipleOfBlock) {
  GgufBuilder b = test::tiny_llama();
  b.tensor("extra.weight", {40, 2}, DType::Q8_0, std::string(68, '\0'));
  expect_format_error(b.write(test::temp_path("block.gguf")), "is not a multiple of the Q8_0 block size 32");
}

TEST(GgufMalformed, TooManyDimensions) {
  GgufBuilder b = test::tiny_llama();
  b.tensor("extra.weight", {1, 1, 1, 1, 1}, DType::F32, std::string(4, '\0'));
  expect_format_error(b.write(test::temp_path("dims.gguf")), "has 5 dimensions");
}

TEST(GgufMalformed, ZeroDimension) {
  GgufBuilder b = test::tiny_llama();
  b.tensor("extra.weight", {32, 0}, DType::F32, "");
  expect_format_error(b.write(test::temp_path("zero.gguf")), "has an invalid dimension 0");
}

TEST(GgufMalformed, UnknownMetadataType) {
  GgufBuilder b = test::tiny_llama();
  std::string raw;
  uint64_t len = 3;
  uint32_t type = 42;
  raw.append(reinterpret_cast<char*>(&len), 8).append("odd").append(reinterpret_cast<char*>(&type), 4);
  b.kv_raw(raw);
  expect_format_error(b.write(test::temp_path("kvtype.gguf")), "metadata odd: unknown value type 42");
}

TEST(GgufMalformed, AbsurdArrayLength) {
  GgufBuilder b;
  std::string raw;
  uint64_t len = 4, count = uint64_t(1) << 60;
  uint32_t type = 9, elem = 4;
  raw.append(reinterpret_cast<char*>(&len), 8).append("huge").append(reinterpret_cast<char*>(&type), 4);
  raw.append(reinterpret_cast<char*>(&elem), 4).append(reinterpret_cast<char*>(&count), 8);
  b.kv_raw(raw);
  expect_format_error(b.write(test::temp_path("array.gguf")), "array of 1152921504606846976 u32 values does not fit");
}

TEST(GgufMalformed, AbsurdStringLength) {
  GgufBuilder b;
  std::string raw;
  uint64_t len = uint64_t(1) << 62;
  raw.append(reinterpret_cast<char*>(&len), 8);
  raw += std::string(64, 'x');  // enough bytes that the entry count itself is plausible
  b.kv_raw(raw);
  expect_format_error(b.write(test::temp_path("string.gguf")), "metadata key needs 4611686018427387904 bytes");
}

TEST(GgufMalformed, AlignmentNotPowerOfTwo) {
  GgufBuilder b = test::tiny_llama();
  b.kv_u32("general.alignment", 24);
  expect_format_error(b.write(test::temp_path("alignment.gguf")), "general.alignment 24 is not a power of two");
}

TEST(GgufMalformed, DuplicateKey) {
  GgufBuilder b = test::tiny_llama();
  b.kv_string("general.name", "again");
  expect_format_error(b.write(test::temp_path("dup.gguf")), "metadata key general.name appears twice");
}

TEST(GgufMalformed, MissingTensor) {
  std::string path =
      test::tiny_llama({.skip_tensor = "blk.1.ffn_up.weight", .misshape_tensor = "", .architecture = "llama"})
          .write(test::temp_path("missing.gguf"));
  expect_format_error(path, "missing tensor blk.1.ffn_up.weight");
}

TEST(GgufMalformed, InconsistentShape) {
  std::string path =
      test::tiny_llama({.skip_tensor = "", .misshape_tensor = "blk.0.attn_k.weight", .architecture = "llama"})
          .write(test::temp_path("shape.gguf"));
  expect_format_error(path, "tensor blk.0.attn_k.weight has shape [64, 16], expected [32, 16]");
}

TEST(GgufMalformed, UnsupportedArchitectureNamesIt) {
  test::TinyModelOptions options;
  options.architecture = "mamba";
  expect_format_error(test::tiny_llama(options).write(test::temp_path("arch.gguf")),
                      "architecture 'mamba' is not supported");
}

TEST(GgufMalformed, MissingFile) { expect_format_error("/nonexistent/dir/model.gguf", "cannot open"); }

TEST(GgufFile, ReadsRealModelMetadata) {
  GgufFile f(test::installed_model("qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"));
  EXPECT_EQ(f.version(), 3u);
  EXPECT_EQ(f.get_string("general.architecture"), "qwen2");
  EXPECT_EQ(f.get_int("qwen2.block_count"), 24);
  EXPECT_EQ(f.get_array("tokenizer.ggml.tokens").strings.size(), 151936u);
  EXPECT_EQ(f.tensors().size(), 291u);
  EXPECT_NE(f.find_tensor("blk.23.ffn_down.weight"), nullptr);
}

}  // namespace
}  // namespace tandem
