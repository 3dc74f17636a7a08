#pragma once
// Paths and small utilities shared by the unit tests.
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "gguf_builder.h"
#include "kernels/dtype.h"
#include "kernels/kernel_isa.h"

namespace tandem::test {

/// ../shared, or $TANDEM_SHARED_DIR (the GPU check carries the files it needs elsewhere).
std::string shared_dir();
/// <shared>/data/models/stories260K/model.bin
std::string stories_model();
/// An installed model file by name (fails the test when missing: run scripts/setup.sh).
std::string installed_model(const std::string& name);
/// A reference output file written by tests/reference (the reference_outputs test).
std::string reference_file(const std::string& name);
/// Parses a JSON file.
nlohmann::json read_json(const std::string& path);
/// Reads a whole file of float32 values.
std::vector<float> read_floats(const std::string& path);
/// A copy of stories260K (tokenizer beside it) with one norm changed: a drafter that
/// agrees with the original often but not always.
std::string perturbed_stories();
/// KL(softmax(p) || softmax(q)) of two logit rows of n values, in double.
double kl_divergence(const float* p, const float* q, int64_t n);
/// A fresh temporary file path.
std::string temp_path(const std::string& stem);

/// The kernels' instruction sets this processor runs, the scalar reference first.
std::vector<KernelIsa> supported_isas();
/// Restores the process's kernel instruction set after a test forces another.
struct IsaGuard {
  KernelIsa saved = kernel_isa();
  ~IsaGuard() { set_kernel_isa(saved); }
};

/// Every installed real model.
inline const std::vector<std::string> kRealModels = {
    "gemma-3-270m-q4_k_m.gguf",
    "smollm2-135m-instruct-q4_1.gguf",
    "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
    "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
};

}  // namespace tandem::test
