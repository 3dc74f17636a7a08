// Engine benchmark: memory bandwidth and int8 peak of this machine, then prefill and
// decode speed of each model at each thread count, decode as a fraction of the
// bandwidth limit (weight bytes read per token / bandwidth), and prefill and
// multi-token passes as a fraction of the int8 peak (their matrices' multiply-adds
// per second / the peak).
//
//   build/tandem_bench [--threads 1,2] [--models a.gguf,b.gguf] [--matmul int16,int16-fast,float] [--json out.json]
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "apps/flags.h"
#include "kernels/int8_matmul.h"
#include "kernels/int8_peak.h"
#include "model/model.h"
#include "model/transformer.h"
#include "observability/metrics.h"
#include "shards/local_kv_shards.h"
#include "speculation/draft_vocabulary.h"

#if defined(__AVX2__)
#include <immintrin.h>
#endif

namespace tandem {
namespace {

using Clock = std::chrono::steady_clock;

double seconds(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double>(b - a).count(); }

// Sums a buffer with wide loads: reading is all it does, like a decode step over weights.
float stream_sum(const float* data, size_t n) {
#if defined(__AVX2__)
  __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
  size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    a0 = _mm256_add_ps(a0, _mm256_load_ps(data + i));
    a1 = _mm256_add_ps(a1, _mm256_load_ps(data + i + 8));
    a2 = _mm256_add_ps(a2, _mm256_load_ps(data + i + 16));
    a3 = _mm256_add_ps(a3, _mm256_load_ps(data + i + 24));
  }
  float out[8];
  _mm256_storeu_ps(out, _mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
  float s = 0;
  for (float v : out) s += v;
  return s;
#else
  float s = 0;
  for (size_t i = 0; i < n; ++i) s += data[i];
  return s;
#endif
}

// Read bandwidth in bytes/s with `threads` threads over a buffer far larger than the caches.
double measure_bandwidth(int threads) {
  const size_t n = size_t(1) << 28;  // 1 GiB of floats
  float* data = static_cast<float*>(std::aligned_alloc(64, n * 4));
  for (size_t i = 0; i < n; ++i) data[i] = 1.0f;
  double best = 0;
  for (int rep = 0; rep < 10; ++rep) {  // best of ten: other load on the host only slows a pass
    std::vector<std::thread> pool;
    std::vector<float> sink(static_cast<size_t>(threads));
    auto start = Clock::now();
    for (int t = 0; t < threads; ++t)
      pool.emplace_back(
          [&, t] { sink[size_t(t)] = stream_sum(data + n / size_t(threads) * size_t(t), n / size_t(threads)); });
    for (auto& th : pool) th.join();
    double s = seconds(start, Clock::now());
    if (sink[0] < 0) std::puts("");  // keep the sums alive
    best = std::max(best, double(n) * 4 / s);
  }
  std::free(data);
  return best;
}

// Multiply-adds of the weight matrices for one token: every layer's, plus the output head's
// when the token wants logits (a prompt's tokens but the last do not).
double matrix_multiply_adds(const Weights& w, bool with_output) {
  double total = with_output ? double(w.output.rows) * double(w.output.cols) : 0.0;
  for (const auto& l : w.layers)
    for (const WeightMatrix* m : {&l.wq, &l.wk, &l.wv, &l.wo, &l.w_gate, &l.w_up, &l.w_down})
      total += double(m->rows) * double(m->cols);
  return total;
}

// Multiply-adds per second of matmul_int8 alone on one matrix, `tokens` random tokens at a
// time: the best of five rounds of three after one untimed run.
double matrix_rate(const WeightMatrix& m, int tokens, ThreadPool& pool) {
  const PackedMatrix packed = pack_matrix(m, pool);
  std::vector<float> x(size_t(tokens) * size_t(m.cols)), y(size_t(tokens) * size_t(m.rows));
  for (size_t i = 0; i < x.size(); ++i) x[i] = float(int(i * 2654435761u % 2001) - 1000) / 1000.0f;
  matmul_int8(packed, x.data(), tokens, y.data(), pool);
  double best = 1e9;
  for (int round = 0; round < 5; ++round) {
    const auto start = Clock::now();
    for (int i = 0; i < 3; ++i) matmul_int8(packed, x.data(), tokens, y.data(), pool);
    best = std::min(best, seconds(start, Clock::now()) / 3);
  }
  return double(m.rows) * double(m.cols) * tokens / best;
}

struct Speed {
  double prefill_tps, decode_tps;
};

// A --matmul name as a path; "int8-amx" is int8 with the AMX tile kernels on, to compare.
MatmulPath use_path(const std::string& name) {
  const bool amx = name == "int8-amx";
  if (amx && !amx_available()) throw std::invalid_argument("int8-amx: this processor or kernel offers no AMX tiles");
  if (amx_available()) set_amx(amx);
  return matmul_path_named(amx ? "int8" : name);
}

// Prefill: the best of three after one untimed run (as llama-bench warms up), so the
// first run's buffer allocations and page faults are not counted; then decode.
Speed measure_model(const Model& model, int threads, MatmulPath path, int prompt_tokens, int decode_tokens) {
  Transformer tf(model, threads, kAttentionSegment, path);
  std::vector<BatchToken> batch;
  for (int i = 0; i < prompt_tokens; ++i)
    batch.push_back({(i * 131 + 7) % model.config().vocab_size, 0, i, i - 1, i == prompt_tokens - 1});
  double prefill = 1e9;
  std::unique_ptr<KvCache> cache;
  for (int run = 0; run < 4; ++run) {
    cache = std::make_unique<KvCache>(model.config(), prompt_tokens + decode_tokens + 1);
    KvCache* caches[] = {cache.get()};
    const auto start = Clock::now();
    tf.forward(batch, caches);
    cache->commit_all();
    if (run > 0) prefill = std::min(prefill, seconds(start, Clock::now()));
  }
  KvCache* caches[] = {cache.get()};
  auto start = Clock::now();
  for (int i = 0; i < decode_tokens; ++i) {
    tf.forward({{(i * 17 + 3) % model.config().vocab_size, 0, cache->length(), -1, true}}, caches);
    cache->commit_all();
  }
  double decode = seconds(start, Clock::now());
  return {prompt_tokens / prefill, decode_tokens / decode};
}

// Seconds of one forward pass over a chain of k tokens after a 64-token context, for each k
// in ks: the best of seven, the sizes taken in turn within each round so that a slow phase of
// the host (these VMs are noisy) falls on all of them alike.
std::vector<double> pass_seconds(Transformer& tf, const std::vector<int>& ks) {
  const ModelConfig& c = tf.model().config();
  std::vector<double> best(ks.size(), 1e9);
  for (int rep = 0; rep < 7; ++rep)
    for (size_t i = 0; i < ks.size(); ++i) {
      const int k = ks[i];
      KvCache cache(c, 64 + k);
      KvCache* caches[] = {&cache};
      std::vector<BatchToken> batch;
      for (int p = 0; p < 64; ++p) batch.push_back({(p * 131 + 7) % c.vocab_size, 0, p, p - 1, false});
      tf.forward(batch, caches);
      cache.commit_all();
      batch.clear();
      for (int p = 0; p < k; ++p) batch.push_back({(p * 71 + 5) % c.vocab_size, 0, 64 + p, p - 1, true});
      auto start = Clock::now();
      tf.forward(batch, caches);
      best[i] = std::min(best[i], seconds(start, Clock::now()));
    }
  return best;
}

struct ContextDecode {
  double tps = 0.0;
  double bytes_sent = 0.0, bytes_received = 0.0;  // per decode step, to and from the KV shards
};

double kv_shard_bytes(const std::string& direction) { return metrics().channel_bytes("kv_shard", direction).Value(); }

// Decode tokens/s after `context` cached positions. The cache is filled with
// synthetic keys and values (attention's cost does not depend on them), so a
// 16k context needs no 16k-token prefill.
ContextDecode decode_at_context(Transformer& tf, int64_t context, int decode_tokens,
                                const RemoteKvFactory& remote = {}) {
  const ModelConfig& c = tf.model().config();
  KvCache cache = remote ? KvCache(c, context + decode_tokens, remote(context + decode_tokens))
                         : KvCache(c, context + decode_tokens);
  cache.begin_pending(context);
  for (int64_t i = 0; i < context; ++i) cache.link_pending(i, i - 1, i);
  for (int layer = 0; layer < c.n_layers; ++layer)
    for (int64_t i = 0; i < context; ++i)
      for (int64_t d = 0; d < cache.kv_dim(); ++d) {
        cache.key(layer, i)[d] = float((i * 7 + d * 13 + layer) % 17) / 17.0f - 0.5f;
        cache.value(layer, i)[d] = float((i * 5 + d * 3 + layer) % 19) / 19.0f - 0.5f;
      }
  cache.commit_all();
  KvCache* caches[] = {&cache};
  const double sent = kv_shard_bytes("sent"), received = kv_shard_bytes("received");
  auto start = Clock::now();
  for (int i = 0; i < decode_tokens; ++i) {
    tf.forward({{(i * 17 + 3) % c.vocab_size, 0, cache.length(), -1, true}}, caches);
    cache.commit_all();
  }
  return {decode_tokens / seconds(start, Clock::now()), (kv_shard_bytes("sent") - sent) / decode_tokens,
          (kv_shard_bytes("received") - received) / decode_tokens};
}

}  // namespace
}  // namespace tandem

int main(int argc, char** argv) {
  using namespace tandem;
  Flags flags("tandem_bench",
              "Engine benchmark: memory bandwidth, then prefill and decode tokens/s per model, thread count\n"
              "and matmul path, and the cost of k-token forward passes.");
  flags.add(
      "models",
      "smollm2-135m-instruct-q4_1.gguf,qwen2.5-coder-0.5b-instruct-q4_k_m.gguf,qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
      "comma-separated model files (bare names are looked up in --models-dir)");
  flags.add("models-dir", "models", "folder of installed models");
  flags.add("threads", "1,2", "comma-separated thread counts");
  flags.add("matmul", "precise,int8",
            "comma-separated matmul paths: precise, int8, int16-fast, float; int8-amx: int8 with the AMX tile "
            "kernels for 16 tokens or more (processors that have them; off by default, being slower so far)");
  flags.add("prompt-tokens", "128", "prompt length for the prefill measurement");
  flags.add("decode-tokens", "32", "tokens for the decode measurement");
  flags.add("contexts", "1024,4096,16384", "context lengths for the long-context decode measurement (empty: skip)");
  flags.add("shards", "0",
            "long-context decode: comma-separated counts of in-process KV shards holding the committed segments "
            "(0: none)");
  flags.add("kv-shards", "", "long-context decode: also with these shard processes (ZeroMQ endpoints)");
  flags.add("sections", "speed,passes,contexts",
            "what to measure: speed (prefill and decode), passes (k-token pass costs), contexts (long-context "
            "decode), vocab (a drafted token with the classifier cut to --draft-vocab, FR-Spec), matrices (the int8 "
            "kernel alone on each of the first layer's matrices and the classifier, --prompt-tokens at a time, as a "
            "share of the int8 peak)");
  flags.add("draft-vocab", "models/qwen2.5-coder-0.5b-instruct-q4_k_m.vocab", "section vocab: the draft vocabulary");
  flags.add("draft-vocab-top", "32768", "section vocab: its most frequent tokens kept");
  flags.add("json", "", "also write the figures to this JSON file");
  try {
    if (!flags.parse(std::vector<std::string>(argv + 1, argv + argc))) return 0;
  } catch (const UsageError& e) {
    std::fprintf(stderr, "tandem_bench: %s\n", e.what());
    return 2;
  }
  std::vector<std::string> models = flags.get_list("models"), paths = flags.get_list("matmul");
  std::vector<int> thread_counts;
  for (auto& t : flags.get_list("threads")) thread_counts.push_back(std::stoi(t));
  const std::string models_dir = flags.get("models-dir"), json_path = flags.get("json");
  const int prompt_tokens = int(flags.get_int("prompt-tokens")), decode_tokens = int(flags.get_int("decode-tokens"));
  for (const auto& path : paths) try {
      use_path(path);
    } catch (const std::invalid_argument& e) {
      std::fprintf(stderr, "tandem_bench: --matmul: %s\n", e.what());
      return 2;
    }
  nlohmann::json report = {{"prompt_tokens", prompt_tokens}, {"decode_tokens", decode_tokens}};
  const auto section_list = flags.get_list("sections");
  const std::set<std::string> sections(section_list.begin(), section_list.end());
  // A --models entry: a bare name is looked up in --models-dir.
  auto load_model = [&](const std::string& name) {
    return Model::load(name.find('/') == std::string::npos ? models_dir + "/" + name : name);
  };
  std::printf("memory read bandwidth:");
  for (int t : thread_counts) {
    double bw = measure_bandwidth(t);
    report["bandwidth_gbs"][std::to_string(t)] = bw / 1e9;
    std::printf("  %d thread(s) %.1f GB/s", t, bw / 1e9);
  }
  std::printf("\nint8 peak (%s dot products alone):", kernel_isa_name(kernel_isa()));
  for (int t : thread_counts) {
    ThreadPool pool(t);
    const Int8Peak peak = measure_int8_peak(pool);
    report["int8_peak_gmacs"][std::to_string(t)] = peak.multiply_adds_per_second / 1e9;
    std::printf("  %d thread(s) %.0f G multiply-adds/s", t, peak.multiply_adds_per_second / 1e9);
    if (peak.amx_multiply_adds_per_second > 0) {
      report["amx_peak_gmacs"][std::to_string(t)] = peak.amx_multiply_adds_per_second / 1e9;
      std::printf(" (AMX tiles %.0f G)", peak.amx_multiply_adds_per_second / 1e9);
    }
    if (peak.with_two_loads_multiply_adds_per_second > 0) {
      const double loads = peak.with_two_loads_multiply_adds_per_second,
                   fma = peak.with_float_fma_multiply_adds_per_second,
                   logic = peak.with_two_logic_ops_multiply_adds_per_second;
      report["int8_peak_with_two_loads_gmacs"][std::to_string(t)] = loads / 1e9;
      report["int8_peak_with_float_fma_gmacs"][std::to_string(t)] = fma / 1e9;
      report["int8_peak_with_two_logic_ops_gmacs"][std::to_string(t)] = logic / 1e9;
      const double all = peak.multiply_adds_per_second;
      std::printf(" (each dot with two vector loads %.0f%%, a float multiply-add %.0f%%, two logic operations %.0f%%)",
                  100 * loads / all, 100 * fma / all, 100 * logic / all);
    }
  }
  // A rate of multiply-adds as a percentage of the peak at t threads (0 when there is none).
  auto of_peak = [&](double multiply_adds_per_second, int t) {
    const double peak = report["int8_peak_gmacs"][std::to_string(t)].get<double>() * 1e9;
    return peak > 0 ? 100 * multiply_adds_per_second / peak : 0.0;
  };
  std::printf(
      "\n\n| model | weights read/token | matmul | threads | prefill tok/s | prefill / int8 peak | decode tok/s | "
      "bandwidth limit tok/s | decode / limit |\n");
  std::printf("|---|---|---|---|---|---|---|---|---|\n");
  for (const auto& name : sections.count("speed") ? models : std::vector<std::string>{}) {
    auto model = load_model(name);
    double mb = double(model->weights().bytes_per_token()) / 1e6;
    for (const auto& path : paths)
      for (int t : thread_counts) {
        Speed s = measure_model(*model, t, use_path(path), prompt_tokens, decode_tokens);
        double limit = report["bandwidth_gbs"][std::to_string(t)].get<double>() * 1e3 / mb;
        const double prefill_peak = of_peak(s.prefill_tps * matrix_multiply_adds(model->weights(), false), t);
        std::printf("| %s | %.0f MB | %s | %d | %.1f | %.0f%% | %.2f | %.1f | %.0f%% |\n", model->config().name.c_str(),
                    mb, path.c_str(), t, s.prefill_tps, prefill_peak, s.decode_tps, limit, 100 * s.decode_tps / limit);
        std::fflush(stdout);
        report["models"].push_back({{"model", name},
                                    {"matmul", path},
                                    {"threads", t},
                                    {"weight_mb_per_token", mb},
                                    {"prefill_tps", s.prefill_tps},
                                    {"prefill_percent_of_int8_peak", prefill_peak},
                                    {"decode_tps", s.decode_tps},
                                    {"bandwidth_limit_tps", limit},
                                    {"fraction_of_limit", s.decode_tps / limit}});
      }
  }
  // What a verifier pass over k tokens costs, in single-token decode steps.
  std::printf(
      "\n| model | matmul | threads | forward of 1, ms | forward of k tokens / forward of 1: k=2 | 4 | 8 | 16 | k=16 / "
      "int8 peak |\n"
      "|---|---|---|---|---|---|---|---|---|\n");
  for (const auto& name : sections.count("passes") ? models : std::vector<std::string>{}) {
    auto model = load_model(name);
    for (const auto& path : paths)
      for (int t : thread_counts) {
        Transformer tf(*model, t, kAttentionSegment, use_path(path));
        const std::vector<int> ks{1, 2, 4, 8, 16};
        const std::vector<double> pass = pass_seconds(tf, ks);
        // The one-token forward reads every weight: its time moves with the memory's speed, and the ratios with it.
        std::printf("| %s | %s | %d | %.1f |", model->config().name.c_str(), path.c_str(), t, 1e3 * pass[0]);
        report["one_token_forward_ms"].push_back(
            {{"model", name}, {"matmul", path}, {"threads", t}, {"ms", 1e3 * pass[0]}});
        for (size_t i = 1; i < ks.size(); ++i) {
          const int k = ks[i];
          double ratio = pass[i] / pass[0];
          std::printf(" %.2f |", ratio);
          report["batch_cost"].push_back(
              {{"model", name}, {"matmul", path}, {"threads", t}, {"tokens", k}, {"cost_in_decode_steps", ratio}});
        }
        // Every token of a pass wants logits, as a verifier's do.
        const double pass_peak = of_peak(16 * matrix_multiply_adds(model->weights(), true) / pass.back(), t);
        report["pass16_percent_of_int8_peak"].push_back(
            {{"model", name}, {"matmul", path}, {"threads", t}, {"percent", pass_peak}});
        std::printf(" %.0f%% |\n", pass_peak);
        std::fflush(stdout);
      }
  }
  // The int8 kernel alone on each matrix of the first layer, and the classifier.
  if (sections.count("matrices"))
    std::printf(
        "\n| model | matrix | type | rows x cols | tokens | threads | G multiply-adds/s | of int8 peak |\n"
        "|---|---|---|---|---|---|---|---|\n");
  for (const auto& name : sections.count("matrices") ? models : std::vector<std::string>{}) {
    auto model = load_model(name);
    const Weights& w = model->weights();
    const auto& l = w.layers.at(0);
    const std::pair<const char*, const WeightMatrix*> matrices[] = {
        {"q", &l.wq},        {"k", &l.wk},    {"v", &l.wv},        {"output", &l.wo},
        {"gate", &l.w_gate}, {"up", &l.w_up}, {"down", &l.w_down}, {"classifier", &w.output}};
    for (const auto& [label, m] : matrices) {
      if (!can_pack(*m) || !has_int8_kernel(m->type)) continue;
      for (int t : thread_counts) {
        ThreadPool pool(t);
        const double rate = matrix_rate(*m, prompt_tokens, pool), share = of_peak(rate, t);
        const std::string type(dtype_info(m->type).name);
        std::printf("| %s | %s | %s | %lld x %lld | %d | %d | %.0f | %.0f%% |\n", model->config().name.c_str(), label,
                    type.c_str(), (long long)m->rows, (long long)m->cols, prompt_tokens, t, rate / 1e9, share);
        std::fflush(stdout);
        report["matrices"].push_back({{"model", name},
                                      {"matrix", label},
                                      {"type", type},
                                      {"rows", m->rows},
                                      {"cols", m->cols},
                                      {"tokens", prompt_tokens},
                                      {"threads", t},
                                      {"gmacs", rate / 1e9},
                                      {"percent_of_int8_peak", share}});
      }
    }
  }
  // A drafted token (one-token pass, logits wanted) with the whole classifier and with it cut.
  if (sections.count("vocab"))
    std::printf(
        "\n| model | threads | drafted token, whole vocabulary | cut to | drafted token | saved |\n"
        "|---|---|---|---|---|---|\n");
  for (const auto& name : sections.count("vocab") ? models : std::vector<std::string>{}) {
    auto model = load_model(name);
    const auto kept =
        read_draft_vocabulary(flags.get("draft-vocab"), model->tokenizer(), int32_t(flags.get_int("draft-vocab-top")));
    for (int t : thread_counts) {
      Transformer whole(*model, t), cut(*model, t);
      cut.restrict_vocabulary(kept);
      const double whole_ms = 1e3 * pass_seconds(whole, {1})[0], cut_ms = 1e3 * pass_seconds(cut, {1})[0];
      std::printf("| %s | %d | %.2f ms | %zu tokens | %.2f ms | %.0f%% |\n", model->config().name.c_str(), t, whole_ms,
                  kept.size(), cut_ms, 100 * (1 - cut_ms / whole_ms));
      std::fflush(stdout);
      report["draft_vocab"].push_back(
          {{"model", name}, {"threads", t}, {"kept_tokens", kept.size()}, {"whole_ms", whole_ms}, {"cut_ms", cut_ms}});
    }
  }

  // Decode with a long context: attention's share grows with the context.
  std::vector<int64_t> contexts;
  if (sections.count("contexts"))
    for (auto& c : flags.get_list("contexts")) contexts.push_back(std::stoll(c));
  if (!contexts.empty()) {
    std::printf("\n| model | matmul | threads | KV shards | decode tok/s (attention share of the step) at context:");
    for (int64_t c : contexts) std::printf(" %lld |", (long long)c);
    std::printf("\n|---|---|---|---|");
    for (size_t i = 0; i < contexts.size(); ++i) std::printf("---|");
    std::printf("\n");
  }
  // Shard setups: none, N in-process shards, the shard processes of --kv-shards.
  std::vector<std::string> setups;
  for (auto& n : flags.get_list("shards")) setups.push_back(n);
  if (!flags.get("kv-shards").empty()) setups.push_back("processes");
  for (const auto& name : contexts.empty() ? std::vector<std::string>{} : models) {
    auto model = load_model(name);
    for (const auto& path : paths)
      for (int t : thread_counts)
        for (const std::string& setup : setups) {
          Transformer tf(*model, t, kAttentionSegment, use_path(path));
          std::unique_ptr<LocalKvShards> local;
          std::vector<std::shared_ptr<ShardLink>> links;
          if (setup == "processes") {
            for (const auto& endpoint : flags.get_list("kv-shards"))
              links.push_back(std::make_shared<ShardLink>(zmq_channel_connect(endpoint), endpoint));
          } else if (std::stoi(setup) > 0) {
            local = std::make_unique<LocalKvShards>(std::stoi(setup), 1);
            links = local->links();
          }
          RemoteKvFactory remote;
          if (!links.empty())
            remote = sharded_kv_factory(links, model->config(), kAttentionSegment, std::chrono::seconds(60));
          const std::string label = setup == "processes" ? std::to_string(links.size()) + " shard processes"
                                    : setup == "0"       ? "none"
                                                         : setup + " in-process";
          std::printf("| %s | %s | %d | %s |", model->config().name.c_str(), path.c_str(), t, label.c_str());
          const double base_ms = 1e3 / decode_at_context(tf, 64, 8, remote).tps;
          for (int64_t c : contexts) {
            const ContextDecode d =
                decode_at_context(tf, std::min<int64_t>(c, model->config().context_length - 8), 8, remote);
            const double tps = d.tps, share = std::max(0.0, 1.0 - base_ms / (1e3 / tps));
            std::printf(" %.2f (%.0f%%", tps, 100 * share);
            if (remote) std::printf("; %.0f/%.0f KB", d.bytes_sent / 1e3, d.bytes_received / 1e3);
            std::printf(") |");
            std::fflush(stdout);
            report["long_context"].push_back({{"model", name},
                                              {"matmul", path},
                                              {"threads", t},
                                              {"shards", label},
                                              {"context", c},
                                              {"decode_tps", tps},
                                              {"attention_share", share},
                                              {"kv_shard_bytes_sent_per_step", d.bytes_sent},
                                              {"kv_shard_bytes_received_per_step", d.bytes_received}});
          }
          std::printf("\n");
        }
  }
  if (!json_path.empty()) std::ofstream(json_path) << report.dump(2) << "\n";
  return 0;
}
