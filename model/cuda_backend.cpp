// The CUDA backend: the model's weights copied to the device as they are stored
// (quantized blocks stay quantized), activations and KV rows in device memory,
// the ops of kernels/cuda/forward_kernels.h on the device's default stream. Only
// token ids, positions and cache slots go up, and only the asked-for logits come back.
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>
#include <unordered_map>

#include "kernels/cuda/forward_kernels.h"
#include "model/backend.h"

namespace tandem {
namespace {

void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) throw std::runtime_error(std::string("CUDA ") + what + ": " + cudaGetErrorString(e));
}

// Device memory of `bytes` bytes on the current device, freed on destruction.
class DeviceMemory {
 public:
  DeviceMemory() = default;
  explicit DeviceMemory(size_t bytes) : bytes_(bytes) {
    if (bytes > 0) check(cudaMalloc(&data_, bytes), "allocating device memory");
  }
  DeviceMemory(DeviceMemory&& o) noexcept : data_(o.data_), bytes_(o.bytes_) { o.data_ = nullptr, o.bytes_ = 0; }
  DeviceMemory& operator=(DeviceMemory&& o) noexcept {
    std::swap(data_, o.data_);
    std::swap(bytes_, o.bytes_);
    return *this;
  }
  ~DeviceMemory() {
    if (data_) cudaFree(data_);
  }
  template <class T = void>
  T* get() const {
    return static_cast<T*>(data_);
  }
  size_t bytes() const { return bytes_; }

 private:
  void* data_ = nullptr;
  size_t bytes_ = 0;
};

// `host` copied to a fresh allocation.
template <class T>
DeviceMemory to_device(const T* host, size_t count) {
  DeviceMemory m(count * sizeof(T));
  if (count > 0) check(cudaMemcpy(m.get(), host, count * sizeof(T), cudaMemcpyHostToDevice), "copying to the device");
  return m;
}

// A buffer of device memory that grows to what is asked of it.
struct GrowingBuffer {
  DeviceMemory memory;
  template <class T>
  T* fit(size_t count) {
    if (memory.bytes() < count * sizeof(T)) memory = DeviceMemory(std::max<size_t>(count * sizeof(T), 1));
    return memory.get<T>();
  }
  template <class T>
  T* upload(const T* host, size_t count) {
    T* device = fit<T>(count);
    if (count > 0) check(cudaMemcpyAsync(device, host, count * sizeof(T), cudaMemcpyHostToDevice), "upload");
    return device;
  }
};

// A cache's rows on the device: keys of every layer, then values, [layer][rows][kv_dim] each.
class DeviceRowStore final : public KvRowStore {
 public:
  DeviceRowStore(int device, int n_layers, int64_t kv_dim) : device_(device), n_layers_(n_layers), kv_dim_(kv_dim) {}

  void resize(int64_t rows) override {
    check(cudaSetDevice(device_), "selecting the device");
    DeviceMemory grown(size_t(2 * n_layers_ * rows * kv_dim_) * 4);
    const int64_t kept = std::min(rows, rows_);
    if (kept > 0)
      check(cudaMemcpy2D(grown.get(), size_t(rows * kv_dim_) * 4, memory_.get(), size_t(rows_ * kv_dim_) * 4,
                         size_t(kept * kv_dim_) * 4, size_t(2 * n_layers_), cudaMemcpyDeviceToDevice),
            "growing KV rows");
    memory_ = std::move(grown);
    rows_ = rows;
  }
  void move_rows(const std::vector<std::pair<int64_t, int64_t>>& moves) override {
    check(cudaSetDevice(device_), "selecting the device");
    std::vector<int64_t> flat;
    for (auto [dst, src] : moves) flat.insert(flat.end(), {dst, src});
    int64_t* device_moves = moves_.upload(flat.data(), flat.size());
    cuda::move_rows(memory_.get<float>(), 2 * n_layers_, rows_ * kv_dim_, kv_dim_, device_moves, int64_t(moves.size()),
                    nullptr);
  }
  float* keys(int layer) override { return memory_.get<float>() + layer * layer_stride(); }
  float* values(int layer) override { return memory_.get<float>() + (n_layers_ + layer) * layer_stride(); }
  bool on_host() const override { return false; }
  std::unique_ptr<KvRowStore> empty_like() const override {
    return std::make_unique<DeviceRowStore>(device_, n_layers_, kv_dim_);
  }
  int64_t layer_stride() const { return rows_ * kv_dim_; }

 private:
  int device_;
  int n_layers_;
  int64_t kv_dim_;
  int64_t rows_ = 0;
  DeviceMemory memory_;
  GrowingBuffer moves_;
};

// A model's weights on one device, found by the host address of the model's own copy.
class DeviceWeights {
 public:
  DeviceWeights(const Model& model, int device) {
    check(cudaSetDevice(device), "selecting the device");
    const Weights& w = model.weights();
    add_matrix(w.token_embedding);
    add_matrix(w.output);
    add_vector(w.output_norm);
    for (const LayerWeights& l : w.layers) {
      for (const WeightMatrix* m : {&l.wq, &l.wk, &l.wv, &l.wo, &l.w_gate, &l.w_up, &l.w_down}) add_matrix(*m);
      for (const std::vector<float>* v :
           {&l.attn_norm, &l.bq, &l.bk, &l.bv, &l.q_norm, &l.k_norm, &l.post_attn_norm, &l.post_ffn_norm, &l.ffn_norm})
        add_vector(*v);
    }
  }
  const cuda::DeviceMatrix& matrix(const WeightMatrix& m) const { return matrices_.at(m.data); }
  const float* vector(const std::vector<float>& v) const { return vectors_.at(v.data()); }

  // The weights of `model` on `device`, uploaded once however many backends use them (a
  // verifier keeps one transformer for plain requests and one for PEARL's).
  static std::shared_ptr<const DeviceWeights> of(const Model& model, int device) {
    static std::mutex mutex;
    static std::map<std::pair<const Model*, int>, std::weak_ptr<const DeviceWeights>> uploaded;
    std::lock_guard lock(mutex);
    std::weak_ptr<const DeviceWeights>& slot = uploaded[{&model, device}];
    std::shared_ptr<const DeviceWeights> weights = slot.lock();
    if (!weights) slot = weights = std::make_shared<const DeviceWeights>(model, device);
    return weights;
  }

 private:
  void add_matrix(const WeightMatrix& m) {
    if (!m.data || matrices_.count(m.data)) return;
    memory_.push_back(to_device(static_cast<const char*>(m.data), m.bytes()));
    matrices_[m.data] = {m.type, memory_.back().get(), m.rows, m.cols, m.row_bytes};
  }
  void add_vector(const std::vector<float>& v) {
    if (v.empty() || vectors_.count(v.data())) return;
    memory_.push_back(to_device(v.data(), v.size()));
    vectors_[v.data()] = memory_.back().get<float>();
  }

  std::vector<DeviceMemory> memory_;
  std::unordered_map<const void*, cuda::DeviceMatrix> matrices_;
  std::unordered_map<const float*, const float*> vectors_;
};

class CudaBackend final : public Backend {
 public:
  CudaBackend(const Model& model, int device) : model_(model), device_(device) {
    const int count = cuda_device_count();
    if (device < 0 || device >= count)
      throw std::runtime_error("device cuda:" + std::to_string(device) + " asked for, but " +
                               (count == 0 ? std::string("no CUDA device is usable here")
                                           : std::to_string(count) + " CUDA device(s) are present"));
    if (model.config().head_dim > 256) throw std::invalid_argument("CUDA backend: head_dim past 256");
    weights_ = DeviceWeights::of(model, device);
  }

  std::string name() const override { return "cuda:" + std::to_string(device_); }

  const Activations& reserve(int64_t n, int64_t n_logits) override {
    check(cudaSetDevice(device_), "selecting the device");
    const ModelConfig& c = model_.config();
    const int64_t q_dim = int64_t(c.n_heads) * c.head_dim, half = c.head_dim / 2;
    auto fit = [](GrowingBuffer& b, int64_t floats) { return b.fit<float>(size_t(std::max<int64_t>(floats, 1))); };
    act_ = {fit(x_, n * c.dim),         fit(xb_, n * c.dim),
            fit(q_, n * q_dim),         fit(k_, n * c.kv_dim()),
            fit(v_, n * c.kv_dim()),    fit(att_, n * q_dim),
            fit(out_, n * c.dim),       fit(gate_, n * c.hidden_dim),
            fit(up_, n * c.hidden_dim), fit(cos_, n * half),
            fit(sin_, n * half),        fit(cos_local_, n * half),
            fit(sin_local_, n * half),  fit(logits_, n_logits * c.vocab_size)};
    return act_;
  }

  void upload(float* dst, const float* src, int64_t count) override {
    check(cudaMemcpyAsync(dst, src, size_t(count) * 4, cudaMemcpyHostToDevice), "upload");
  }

  std::span<const float> logits(int64_t count) override {
    host_logits_.resize(size_t(count));
    check(cudaMemcpy(host_logits_.data(), act_.logits, size_t(count) * 4, cudaMemcpyDeviceToHost), "reading logits");
    return host_logits_;
  }

  std::span<const float> read(const float* x, int64_t count) override {
    host_read_.resize(size_t(count));
    check(cudaMemcpy(host_read_.data(), x, size_t(count) * 4, cudaMemcpyDeviceToHost), "reading activations");
    return host_read_;
  }

  void adopt(KvCache& cache) override {
    if (!cache.store().on_host()) return;
    const ModelConfig& c = model_.config();
    cache.use_store(std::make_unique<DeviceRowStore>(device_, c.n_layers, c.kv_dim()));
  }

  void embed(const WeightMatrix& table, std::span<const int32_t> tokens, float scale, float* x) override {
    const int32_t* ids = tokens_.upload(tokens.data(), tokens.size());
    cuda::embed(on_device(table), ids, int64_t(tokens.size()), scale, x, nullptr);
  }

  void rmsnorm(float* out, const float* x, const std::vector<float>& weight, int64_t rows, int64_t width,
               float eps) override {
    cuda::rmsnorm(out, x, on_device(weight), rows, width, eps, nullptr);
  }

  void gather_rows(float* out, const float* x, std::span<const int64_t> rows, int64_t width) override {
    const int64_t* device_rows = gather_.upload(rows.data(), rows.size());
    cuda::gather_rows(out, x, device_rows, int64_t(rows.size()), width, nullptr);
  }

  void add_matrix(const WeightMatrix& m) override {
    check(cudaSetDevice(device_), "selecting the device");
    own_memory_.push_back(to_device(static_cast<const char*>(m.data), m.bytes()));
    own_matrices_[m.data] = {m.type, own_memory_.back().get(), m.rows, m.cols, m.row_bytes};
  }

  void project(std::initializer_list<Projection> projections, const float* x, int64_t n) override {
    for (const Projection& p : projections) cuda::matmul(on_device(*p.w), x, n, p.y, nullptr);
  }

  void add_bias(float* x, const std::vector<float>& bias, int64_t rows) override {
    cuda::add_bias(x, on_device(bias), rows, int64_t(bias.size()), nullptr);
  }

  void rope(float* x, int64_t n, int heads, int head_dim, const float* cos, const float* sin,
            RopeStyle style) override {
    cuda::rope(x, n, heads, head_dim, cos, sin, style == RopeStyle::Interleaved, nullptr);
  }

  void store_kv(int layer, const float* k, const float* v, std::span<const int64_t> slots,
                const AttentionBatch& batch) override {
    if (layer == 0) upload_pass(batch, slots);
    cuda::store_kv(k, v, seqs_kv_.memory.get<cuda::DeviceKvSeq>(), seqs_.memory.get<int32_t>(),
                   slots_.memory.get<int64_t>(), int64_t(slots.size()), layer, model_.config().kv_dim(), nullptr);
  }

  void attention(int layer, const AttentionBatch& batch, const float* q, float* att) override {
    const ModelConfig& c = model_.config();
    const bool local = c.window(layer) > 0;
    cuda::AttentionArgs args{};
    args.q = q;
    args.out = att;
    args.seqs_kv = seqs_kv_.memory.get<cuda::DeviceKvSeq>();
    args.seqs = seqs_.memory.get<int32_t>();
    args.first = local ? first_local_.memory.get<int64_t>() : nullptr;  // global layers see from 0
    args.pos = pos_.memory.get<int64_t>();
    args.rows = rows_.memory.get<int64_t>();
    args.row_offset = row_offset_.memory.get<int64_t>();
    args.n = int64_t(batch.tokens.size());
    args.heads = c.n_heads;
    args.kv_heads = c.n_kv_heads;
    args.head_dim = c.head_dim;
    args.layer = layer;
    args.segment = batch.segment;
    args.max_segments = local ? most_segments_local_ : most_segments_global_;
    args.scale = 1.0f / std::sqrt(float(c.head_dim));
    args.partials = partials_.fit<float>(size_t(args.n * c.n_heads * args.max_segments * (c.head_dim + 2)));
    cuda::attention(args, nullptr);
  }

  void gated_activation(Activation act, float* gate, const float* up, int64_t count) override {
    cuda::gated_activation(act == Activation::GeluTanh, gate, up, count, nullptr);
  }

  void add(float* x, const float* y, int64_t count) override { cuda::add(x, y, count, nullptr); }

 private:
  const cuda::DeviceMatrix& on_device(const WeightMatrix& m) const {
    auto own = own_matrices_.find(m.data);
    return own != own_matrices_.end() ? own->second : weights_->matrix(m);
  }
  const float* on_device(const std::vector<float>& v) const { return weights_->vector(v); }

  // Uploads what every layer of this pass shares: where each sequence's rows are, each
  // token's sequence, slot, positions and the slots of the positions it reads.
  void upload_pass(const AttentionBatch& batch, std::span<const int64_t> slots) {
    const ModelConfig& c = model_.config();
    // A pass may list the caches of sequences with no token in it (still empty, on the host):
    // nothing reads them, so they stay null here.
    std::vector<bool> in_pass(batch.caches.size(), false);
    for (const BatchToken& t : batch.tokens) in_pass[size_t(t.seq)] = true;
    std::vector<cuda::DeviceKvSeq> seqs_kv;
    for (size_t seq = 0; seq < batch.caches.size(); ++seq) {
      KvCache* cache = batch.caches[seq];
      cuda::DeviceKvSeq s{};
      if (cache && in_pass[seq]) {
        if (cache->remote())
          throw std::invalid_argument("KV shards hold rows in host memory; --kv-shards cannot serve a CUDA device yet");
        auto* own = dynamic_cast<DeviceRowStore*>(&cache->store());
        if (!own) throw std::logic_error("a KV cache in host memory was given to the CUDA backend");
        s.keys = own->keys(0);
        s.values = own->values(0);
        s.layer_stride = own->layer_stride();
        if (const KvCache* prefix = cache->shared_prefix()) {
          auto* shared = dynamic_cast<const DeviceRowStore*>(&prefix->store());
          if (!shared) throw std::logic_error("a shared KV prefix in host memory was given to the CUDA backend");
          s.shared_keys = const_cast<DeviceRowStore*>(shared)->keys(0);
          s.shared_values = const_cast<DeviceRowStore*>(shared)->values(0);
          s.shared_layer_stride = shared->layer_stride();
        }
      }
      seqs_kv.push_back(s);
    }
    std::vector<int32_t> seqs;
    std::vector<int64_t> pos, first_local, rows, row_offset;
    most_segments_global_ = most_segments_local_ = 1;
    for (size_t i = 0; i < batch.tokens.size(); ++i) {
      const BatchToken& t = batch.tokens[i];
      seqs.push_back(t.seq);
      pos.push_back(t.pos);
      first_local.push_back(c.sliding_window > 0 ? std::max<int64_t>(0, t.pos + 1 - c.sliding_window) : 0);
      row_offset.push_back(int64_t(rows.size()));
      rows.insert(rows.end(), batch.rows[i].begin(), batch.rows[i].end());
      auto segments = [&](int64_t first) { return t.pos / batch.segment - first / batch.segment + 1; };
      most_segments_global_ = std::max(most_segments_global_, segments(0));
      most_segments_local_ = std::max(most_segments_local_, segments(first_local.back()));
    }
    seqs_kv_.upload(seqs_kv.data(), seqs_kv.size());
    seqs_.upload(seqs.data(), seqs.size());
    slots_.upload(slots.data(), slots.size());
    pos_.upload(pos.data(), pos.size());
    first_local_.upload(first_local.data(), first_local.size());
    rows_.upload(rows.data(), rows.size());
    row_offset_.upload(row_offset.data(), row_offset.size());
  }

  const Model& model_;
  int device_;
  std::shared_ptr<const DeviceWeights> weights_;
  std::vector<DeviceMemory> own_memory_;  // add_matrix's matrices
  std::unordered_map<const void*, cuda::DeviceMatrix> own_matrices_;
  Activations act_{};
  GrowingBuffer x_, xb_, q_, k_, v_, att_, out_, gate_, up_, cos_, sin_, cos_local_, sin_local_, logits_;
  GrowingBuffer tokens_, gather_, partials_;
  // This pass's layout (upload_pass).
  GrowingBuffer seqs_kv_, seqs_, slots_, pos_, first_local_, rows_, row_offset_;
  int64_t most_segments_global_ = 1, most_segments_local_ = 1;
  std::vector<float> host_logits_, host_read_;
};

}  // namespace

std::unique_ptr<Backend> make_cuda_backend(const Model& model, int index) {
  return std::make_unique<CudaBackend>(model, index);
}

}  // namespace tandem
