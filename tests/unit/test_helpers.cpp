#include "test_helpers.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>

namespace tandem::test {

std::vector<KernelIsa> supported_isas() {
  std::vector<KernelIsa> isas{KernelIsa::Scalar};
  if (best_kernel_isa() != KernelIsa::Scalar) isas.push_back(KernelIsa::Avx2);
  if (best_kernel_isa() == KernelIsa::Avx512Vnni) isas.push_back(KernelIsa::Avx512Vnni);
  return isas;
}

std::string shared_dir() {
  const char* env = std::getenv("TANDEM_SHARED_DIR");
  return env ? env : TANDEM_SHARED_DIR;
}

std::string stories_model() { return shared_dir() + "/data/models/stories260K/model.bin"; }

std::string installed_model(const std::string& name) {
  const char* env = std::getenv("TANDEM_MODELS_DIR");
  std::string path = std::string(env ? env : TANDEM_MODELS_DIR) + "/" + name;
  if (!std::filesystem::exists(path))
    ADD_FAILURE() << path << " is missing: run scripts/setup.sh to install the models";
  return path;
}

std::string reference_file(const std::string& name) {
  std::string path = std::string(TANDEM_REFERENCE_DIR) + "/" + name;
  if (!std::filesystem::exists(path)) ADD_FAILURE() << path << " is missing: the reference_outputs test writes it";
  return path;
}

nlohmann::json read_json(const std::string& path) {
  std::ifstream in(path);
  return nlohmann::json::parse(in);
}

std::vector<float> read_floats(const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  std::vector<float> values(size_t(in.tellg()) / 4);
  in.seekg(0);
  in.read(reinterpret_cast<char*>(values.data()), std::streamsize(values.size() * 4));
  return values;
}

std::string temp_path(const std::string& stem) {
  static int counter = 0;
  const std::filesystem::path path =
      std::filesystem::temp_directory_path() /
      ("tandem-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++) + "-" + stem);
  // An earlier test process with the same (reused) pid may have left this path behind: a
  // stale endpoint file there was once read as the new server's address.
  std::filesystem::remove_all(path);
  return path.string();
}

// A copy of stories260K with layer 0's attention norm changed, so it drafts
// differently from the original in some places.
std::string perturbed_stories() {
  // In a folder of its own: the tokenizer is looked up beside the model, and a
  // shared /tmp/tokenizer.bin was rewritten by one test process while another read it.
  const std::filesystem::path folder = temp_path("stories-perturbed");
  std::filesystem::create_directories(folder);
  const std::string path = (folder / "model.bin").string();
  std::ifstream in(stories_model(), std::ios::binary);
  std::string data((std::istreambuf_iterator<char>(in)), {});
  const size_t rms_att = 28 + 4 * size_t(512 * 64);
  for (int i = 0; i < 64; ++i) {
    float v;
    std::memcpy(&v, &data[rms_att + 4 * size_t(i)], 4);
    v *= 1.0f + 0.5f * std::sin(float(i));
    std::memcpy(&data[rms_att + 4 * size_t(i)], &v, 4);
  }
  std::ofstream(path, std::ios::binary) << data;
  std::filesystem::copy_file(shared_dir() + "/data/models/stories260K/tokenizer.bin", folder / "tokenizer.bin");
  return path;
}

double kl_divergence(const float* p, const float* q, int64_t n) {
  auto log_softmax = [n](const float* x) {
    double top = *std::max_element(x, x + n), sum = 0;
    for (int64_t i = 0; i < n; ++i) sum += std::exp(double(x[i]) - top);
    std::vector<double> out(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) out[size_t(i)] = double(x[i]) - top - std::log(sum);
    return out;
  };
  const std::vector<double> lp = log_softmax(p), lq = log_softmax(q);
  double kl = 0;
  for (int64_t i = 0; i < n; ++i) kl += std::exp(lp[size_t(i)]) * (lp[size_t(i)] - lq[size_t(i)]);
  return kl;
}

}  // namespace tandem::test
