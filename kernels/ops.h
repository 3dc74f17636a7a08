#pragma once
// The CPU compute ops the transformer needs. Every op computes each output row
// with the same instruction sequence whatever the batch around it, so a
// token's result never depends on which other tokens share the batch.
#include <cstddef>
#include <cstdint>
#include <string>

#include "kernels/dtype.h"
#include "kernels/thread_pool.h"

namespace tandem {

/// A row-major weight matrix in any supported type: rows × cols values, `row_bytes` apart.
struct WeightMatrix {
  DType type = DType::F32;
  const void* data = nullptr;
  int64_t rows = 0;      // output features
  int64_t cols = 0;      // input features
  size_t row_bytes = 0;  // stride between rows
  /// Pointer to row r.
  const void* row(int64_t r) const { return static_cast<const char*>(data) + size_t(r) * row_bytes; }
  /// Bytes of the whole matrix.
  size_t bytes() const { return size_t(rows) * row_bytes; }
};

/// Sum of a[i]*b[i] in a fixed order (8-lane partial sums, fixed final reduction).
float dot_f32(const float* a, const float* b, int64_t n);

/// How matmul multiplies quantized weights: integer dot products against activations held
/// as two int16 terms (Int16, named "precise": about 31 bits of precision) or one (Int16Fast:
/// about 15 bits, half the multiplies); as 8-bit blocks against repacked weights (Int8, see
/// kernels/int8_matmul.h; the transformer packs the weights, plain matmul treats it as Int16);
/// or weights decoded to float.
enum class MatmulPath { Int16, Int16Fast, Float, Int8 };

/// The path every command uses unless told otherwise: int8, measured no worse than
/// llama.cpp's own perplexity on the same GGUF and tokens (docs/engine.md, "Quality of the int8 path").
constexpr MatmulPath kDefaultMatmulPath = MatmulPath::Int8;

/// The path named `name` (precise, int8, int16-fast or float; int16 = precise); throws
/// std::invalid_argument otherwise.
MatmulPath matmul_path_named(const std::string& name);
/// The name of `path`.
const char* matmul_path_name(MatmulPath path);

/// y[t][r] = sum_k w[r][k] * x[t][k] for n_tokens rows of x ([n_tokens][cols] → [n_tokens][rows]).
/// The integer paths fall back to Float for types without an integer kernel.
void matmul(const WeightMatrix& w, const float* x, int64_t n_tokens, float* y, ThreadPool& pool,
            MatmulPath path = MatmulPath::Int16);

/// Decodes row r of w into `out` (cols floats).
void matrix_row(const WeightMatrix& w, int64_t r, float* out);

/// out = x / rms(x) * weight over n values.
void rmsnorm(float* out, const float* x, const float* weight, int64_t n, float eps);

/// How rotary embedding pairs dimensions: (2i, 2i+1) or (i, i + d/2).
enum class RopeStyle { Interleaved, Halves };

/// Rotates each of n_heads vectors of head_dim by the angles whose cos/sin are given per pair.
void rope(float* x, int n_heads, int head_dim, const float* cos, const float* sin, RopeStyle style);

/// silu's e^-g is taken of -g clamped to [kSiluExpLow, kSiluExpHigh]: below, 1 + e^-g is 1 in
/// float anyway; above, g / (1 + e^-g) is as good as 0; inside, 2^k of the exponential is a
/// normal float, so the vector kernels build it from its bits.
constexpr float kSiluExpLow = -20.0f, kSiluExpHigh = 88.0f;

/// silu(g) = g / (1 + e^-g), with exact::exp (kernels/exact_math.h): what every instruction
/// set's swiglu computes, bit for bit.
float silu_reference(float g);

/// Attention's softmax weights e^x (x = score - max <= 0) are exact::exp, and 0 below
/// kAttentionExpFloor, where e^x would fall to a denormal: every instruction set the same bits.
constexpr float kAttentionExpFloor = -87.0f;
float attention_exp(float x);

/// gate[i] = silu(gate[i]) * up[i], vectorized on the current instruction set (kernel_isa()).
void swiglu(float* gate, const float* up, int64_t n);

/// gate[i] = gelu(gate[i]) * up[i], GELU in its tanh approximation.
void geglu(float* gate, const float* up, int64_t n);

/// x[i] += y[i].
void add_inplace(float* x, const float* y, int64_t n);

/// Index of the largest value; ties go to the lowest index.
int64_t argmax(const float* x, int64_t n);

/// Where one key/value head's rows of a sequence are. Slot s >= 0 is row s of `keys` and
/// `values`; a negative slot ~r is row r of `shared_keys` and `shared_values`: a prompt prefix
/// that several sequences read and none writes (kv_cache.h). Rows are `stride` floats apart.
struct KvRows {
  const float* keys = nullptr;
  const float* values = nullptr;
  int64_t stride = 0;
  const float* shared_keys = nullptr;
  const float* shared_values = nullptr;

  const float* key(int64_t slot) const { return slot >= 0 ? keys + slot * stride : shared_keys + ~slot * stride; }
  const float* value(int64_t slot) const { return slot >= 0 ? values + slot * stride : shared_values + ~slot * stride; }
};

/// Attention of `group` query vectors that share one key/value head (q and out: [group][head_dim],
/// group <= 64) over keys/values at consecutive absolute positions [first_pos, first_pos + count).
/// The key and value of position first_pos + i are at slot slots[i] of `rows`; each row is
/// read once for the whole group. Positions are
/// grouped into segments of `segment` by absolute position; each segment gives a partial (max,
/// sum, weighted values) computed in position order, and the partials merge in ascending
/// order. Each head's result is the same whatever the group. `scratch` holds at least
/// attend_scratch_floats(group, head_dim, count, segment) floats.
void attend(const float* q, int group, int head_dim, float scale, const KvRows& rows, const int64_t* slots,
            int64_t first_pos, int64_t count, int segment, float* out, float* scratch);

/// Scratch floats attend needs.
size_t attend_scratch_floats(int group, int head_dim, int64_t count, int segment);

/// Floats of one head's segment partial: the segment's largest score, its sum of exp(score -
/// max), and head_dim values weighted by those exps (not yet divided by the sum).
inline int64_t attention_partial_floats(int head_dim) { return int64_t(head_dim) + 2; }

/// The partial of one segment for `group` heads over n positions (keys and values of position
/// i at row slots[i], as in attend): partial is [group][attention_partial_floats(head_dim)];
/// `scores` is scratch of group * n floats. Runs on the chosen instruction set (kernel_isa.h)
/// with the same bits on every one.
void attend_segment(const float* q, int group, int head_dim, float scale, const KvRows& rows, const int64_t* slots,
                    int64_t n, float* partial, float* scores);

/// Sets a running partial to the empty one (max -inf, sum 0, values 0).
void start_attention(float* running, int group, int head_dim);
/// Folds the next segment's partial into the running one; segments must come in ascending
/// order of position, so the result is the same wherever each segment was computed.
void merge_attention(float* running, const float* partial, int group, int head_dim);
/// out[g] = the running partial's values / its sum.
void finish_attention(const float* running, int group, int head_dim, float* out);
/// Folds positions [first_pos, first_pos + count) into `running`, segment by segment in
/// ascending order (attend is start_attention, this, finish_attention). `scratch` holds
/// attend_scratch_floats floats.
void attend_fold(float* running, const float* q, int group, int head_dim, float scale, const KvRows& rows,
                 const int64_t* slots, int64_t first_pos, int64_t count, int segment, float* scratch);

}  // namespace tandem
