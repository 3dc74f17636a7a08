// GPU benchmark, run by scripts/gpu_check.sh on a CUDA machine: models with random
// weights in the real shapes of Qwen2.5 0.5B, 1.5B and 7B (Q4_K, written here from a
// seed), each on cuda:0:
//   - decode tokens/s at batch 1 against the device's copy bandwidth: the weight bytes a
//     token reads ÷ bandwidth is the floor, and efficiency = floor ÷ measured step;
//   - the cost of a pass over 1..64 tokens in decode steps (what a verifier pass costs);
//   - prefill tokens/s over a 512-token prompt;
//   - the speculative speedup this predicts for the real pair (0.5B drafting for 1.5B):
//     tokens per round (measured on the CPU: --tokens-per-pass) ÷ the round's cost in
//     decode steps, drafting then verifying on one GPU, or overlapped on two (PEARL).
//
//   build-lean/tests/gpu/tandem_gpu_bench --out gpu_bench.json [--quick] [--tokens-per-pass 3.25]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "kernels/device.h"
#include "model/transformer.h"
#include "synthetic_model.h"

namespace tandem {
namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

size_t weight_bytes(const Model& m) {
  const Weights& w = m.weights();
  size_t bytes = w.output.bytes();  // the classifier reads all of it; the embedding one row
  for (const LayerWeights& l : w.layers)
    for (const WeightMatrix* x : {&l.wq, &l.wk, &l.wv, &l.wo, &l.w_gate, &l.w_up, &l.w_down}) bytes += x->bytes();
  return bytes;
}

// Median seconds of `reps` forwards of a chain of k tokens after `context` committed ones.
double pass_seconds(Transformer& tf, KvCache& cache, int64_t k, int reps) {
  KvCache* caches[] = {&cache};
  const int64_t base = cache.length();
  std::vector<double> times;
  for (int r = 0; r < reps + 1; ++r) {  // the first is a warm-up
    std::vector<BatchToken> batch;
    for (int64_t i = 0; i < k; ++i) batch.push_back({int32_t(300 + i), 0, base + i, int32_t(i) - 1, true});
    const auto start = std::chrono::steady_clock::now();
    tf.forward(batch, caches);
    if (r > 0) times.push_back(seconds_since(start));
    cache.truncate(base);
  }
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

struct ShapeResult {
  nlohmann::json json;
  double decode_seconds = 0;
  std::vector<std::pair<int64_t, double>> pass_seconds;
};

ShapeResult measure(const std::string& name, const test::SyntheticShape& shape, double bandwidth, bool quick) {
  const std::string path = (std::filesystem::temp_directory_path() / ("tandem-gpu-bench-" + name + ".gguf")).string();
  auto start = std::chrono::steady_clock::now();
  test::write_synthetic_model(shape, path);
  auto model = Model::load(path);
  std::fprintf(stderr, "%s: written and loaded in %.1f s\n", name.c_str(), seconds_since(start));
  start = std::chrono::steady_clock::now();
  Transformer tf(*model, 1, kAttentionSegment, MatmulPath::Float, Device{Device::Kind::Cuda, 0});
  std::fprintf(stderr, "%s: uploaded in %.1f s\n", name.c_str(), seconds_since(start));
  ShapeResult out;
  const int reps = quick ? 3 : 9;

  // Prefill: 512 tokens in one pass, logits for the last only.
  KvCache cache(model->config(), 2048);
  KvCache* caches[] = {&cache};
  std::vector<BatchToken> prompt;
  for (int64_t i = 0; i < 512; ++i) prompt.push_back({int32_t((i * 97 + 5) % 50000), 0, i, int32_t(i) - 1, i == 511});
  tf.forward(prompt, caches);  // warm-up
  cache.truncate(0);
  start = std::chrono::steady_clock::now();
  tf.forward(prompt, caches);
  const double prefill = seconds_since(start);
  cache.commit_all();

  out.decode_seconds = pass_seconds(tf, cache, 1, reps * 3);
  const size_t bytes = weight_bytes(*model);
  const double floor = bandwidth > 0 ? double(bytes) / (bandwidth / 2) : 0;  // each byte read once
  nlohmann::json passes = nlohmann::json::object();
  for (int64_t k : {1, 2, 4, 8, 16, 32, 64}) {
    const double t = k == 1 ? out.decode_seconds : pass_seconds(tf, cache, k, reps);
    out.pass_seconds.emplace_back(k, t);
    passes[std::to_string(k)] = t / out.decode_seconds;
  }
  out.json = {{"weight_bytes", bytes},
              {"decode_tokens_per_second", 1.0 / out.decode_seconds},
              {"decode_ms", out.decode_seconds * 1e3},
              {"bandwidth_floor_ms", floor * 1e3},
              {"bandwidth_efficiency", floor / out.decode_seconds},
              {"pass_cost_in_decode_steps", passes},
              {"prefill_tokens_per_second", 512.0 / prefill}};
  std::filesystem::remove(path);
  return out;
}

double cost_of(const ShapeResult& r, int64_t k) {
  for (auto [n, t] : r.pass_seconds)
    if (n >= k) return t;  // the next measured size up
  return r.pass_seconds.back().second;
}

}  // namespace
}  // namespace tandem

int main(int argc, char** argv) {
  using namespace tandem;
  std::string out_path = "gpu_bench.json";
  bool quick = false, big = true;
  double tokens_per_pass = 3.25;  // chain, depth 4, 0.5B → 1.5B, Spec-Bench subset, greedy (docs/reports)
  int depth = 4;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--out" && i + 1 < argc)
      out_path = argv[++i];
    else if (a == "--quick")
      quick = true;
    else if (a == "--no-7b")
      big = false;
    else if (a == "--tokens-per-pass" && i + 1 < argc)
      tokens_per_pass = std::atof(argv[++i]);
    else if (a == "--depth" && i + 1 < argc)
      depth = std::atoi(argv[++i]);
    else {
      std::fprintf(stderr, "usage: %s [--out FILE] [--quick] [--no-7b] [--tokens-per-pass X] [--depth K]\n", argv[0]);
      return 2;
    }
  }
  if (cuda_device_count() == 0) {
    std::fprintf(stderr, "tandem_gpu_bench: no usable CUDA device here\n");
    return 1;
  }
  const std::string card = cuda_device_description(0);
  const double bandwidth = cuda_copy_bandwidth(0);
  std::printf("device: %s; copy bandwidth %.0f GB/s (read + write)\n", card.c_str(), bandwidth / 1e9);

  test::SyntheticShape small{"qwen2", 896, 4864, 24, 14, 2, 64, 151936, DType::Q4_K, DType::Q6_K, true, 0, 5};
  nlohmann::json report = {{"device", card}, {"copy_bandwidth_bytes_per_second", bandwidth}};
  const ShapeResult draft = measure("qwen2.5-0.5b-shape", small, bandwidth, quick);
  const ShapeResult target = measure("qwen2.5-1.5b-shape", test::qwen25_1_5b_shape(), bandwidth, quick);
  report["qwen2.5-0.5b-shape"] = draft.json;
  report["qwen2.5-1.5b-shape"] = target.json;
  if (big) report["qwen2.5-7b-shape"] = measure("qwen2.5-7b-shape", test::qwen25_7b_shape(), bandwidth, quick).json;

  // A chain round: `depth` draft steps, then one verifier pass over depth + 1 tokens.
  const double draft_time = depth * draft.decode_seconds, verify_time = cost_of(target, depth + 1);
  const double one_gpu = tokens_per_pass * target.decode_seconds / (draft_time + verify_time);
  const double two_gpus = tokens_per_pass * target.decode_seconds / std::max(draft_time, verify_time);
  report["predicted_speedup"] = {
      {"tokens_per_pass", tokens_per_pass}, {"depth", depth}, {"chain_one_gpu", one_gpu}, {"pearl_two_gpus", two_gpus}};

  std::printf("\n| shape | decode tok/s | vs bandwidth | pass 1/2/4/8/16/32/64 (decode steps) | prefill tok/s |\n");
  std::printf("|---|---|---|---|---|\n");
  for (const char* name : {"qwen2.5-0.5b-shape", "qwen2.5-1.5b-shape", "qwen2.5-7b-shape"}) {
    if (!report.contains(name)) continue;
    const nlohmann::json& r = report[name];
    std::string passes;
    for (const char* k : {"1", "2", "4", "8", "16", "32", "64"})
      passes +=
          (passes.empty() ? "" : " / ") + std::to_string(r["pass_cost_in_decode_steps"][k].get<double>()).substr(0, 4);
    std::printf("| %s | %.0f | %.0f%% | %s | %.0f |\n", name, r["decode_tokens_per_second"].get<double>(),
                100 * r["bandwidth_efficiency"].get<double>(), passes.c_str(),
                r["prefill_tokens_per_second"].get<double>());
  }
  std::printf(
      "\npredicted speedup of chain depth %d at %.2f tokens/pass: %.2fx on one GPU, %.2fx drafter and "
      "verifier on two GPUs (PEARL)\n",
      depth, tokens_per_pass, one_gpu, two_gpus);
  std::ofstream(out_path) << report.dump(2) << "\n";
  return 0;
}
