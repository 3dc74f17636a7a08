// Segment attention: every instruction set's kernel against the scalar
// reference, bit for bit (head counts past a register tile, head sizes with and
// without a whole 32-float tile, rows with tails and scattered slots), and a
// context split into segments computed anywhere and merged in order equals
// attention in one call.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <random>
#include <vector>

#include "kernels/ops.h"
#include "test_helpers.h"

namespace tandem {
namespace {

struct Context {
  std::vector<float> q, keys, values;
  std::vector<int64_t> slots;
  int64_t stride;
  KvRows rows() const { return {keys.data(), values.data(), stride}; }
};

// n positions of `group` heads of head_dim, keys and values in rows `stride` floats apart,
// their slots in shuffled order (as a cache whose rows were written out of order).
Context random_context(int group, int head_dim, int64_t n, std::mt19937& rng) {
  std::normal_distribution<float> normal(0.0f, 1.0f);
  Context c;
  c.stride = head_dim + 24;
  c.q.resize(size_t(group * head_dim));
  c.keys.resize(size_t(n * c.stride));
  c.values.resize(size_t(n * c.stride));
  for (auto* v : {&c.q, &c.keys, &c.values})
    for (auto& x : *v) x = normal(rng) * 2.0f;
  c.slots.resize(size_t(n));
  for (int64_t i = 0; i < n; ++i) c.slots[size_t(i)] = i;
  std::shuffle(c.slots.begin(), c.slots.end(), rng);
  return c;
}

TEST(Attention, EveryKernelEqualsTheReferenceBitForBit) {
  test::IsaGuard guard;
  std::mt19937 rng(17);
  for (int group : {1, 3, 6, 9, 12})
    for (int head_dim : {16, 48, 64, 128})
      for (int64_t n : {1, 15, 16, 17, 64, 65, 200}) {
        Context c = random_context(group, head_dim, n, rng);
        const int64_t ps = attention_partial_floats(head_dim);
        std::vector<float> expected(size_t(group * ps)), scores(size_t(group * n));
        set_kernel_isa(KernelIsa::Scalar);
        attend_segment(c.q.data(), group, head_dim, 0.1f, c.rows(), c.slots.data(), n, expected.data(), scores.data());
        for (KernelIsa isa : test::supported_isas()) {
          set_kernel_isa(isa);
          std::vector<float> got(size_t(group * ps), NAN);
          attend_segment(c.q.data(), group, head_dim, 0.1f, c.rows(), c.slots.data(), n, got.data(), scores.data());
          ASSERT_EQ(std::memcmp(got.data(), expected.data(), got.size() * 4), 0)
              << kernel_isa_name(isa) << " group " << group << " head_dim " << head_dim << " n " << n;
        }
      }
}

// A prompt prefix shared by several sequences is read through negative slots from its own
// buffer: the same rows there give the same bits as in the sequence's own buffer.
TEST(Attention, RowsOfASharedPrefixGiveTheSameBits) {
  std::mt19937 rng(29);
  const int group = 4, head_dim = 64;
  const int64_t n = 90;
  Context c = random_context(group, head_dim, n, rng);
  // The rows below slot 40 move to a buffer of their own, as a shared prefix.
  std::vector<float> shared_keys(c.keys.begin(), c.keys.begin() + 40 * c.stride);
  std::vector<float> shared_values(c.values.begin(), c.values.begin() + 40 * c.stride);
  std::vector<float> own_keys(c.keys), own_values(c.values);
  std::fill(own_keys.begin(), own_keys.begin() + 40 * c.stride, NAN);  // never read
  std::fill(own_values.begin(), own_values.begin() + 40 * c.stride, NAN);
  std::vector<int64_t> split_slots(c.slots);
  for (int64_t& slot : split_slots)
    if (slot < 40) slot = ~slot;
  const KvRows split{own_keys.data(), own_values.data(), c.stride, shared_keys.data(), shared_values.data()};
  const int64_t ps = attention_partial_floats(head_dim);
  for (KernelIsa isa : test::supported_isas()) {
    test::IsaGuard guard;
    set_kernel_isa(isa);
    std::vector<float> whole(size_t(group * ps)), parted(size_t(group * ps)), scores(size_t(group * n));
    attend_segment(c.q.data(), group, head_dim, 0.1f, c.rows(), c.slots.data(), n, whole.data(), scores.data());
    attend_segment(c.q.data(), group, head_dim, 0.1f, split, split_slots.data(), n, parted.data(), scores.data());
    ASSERT_EQ(std::memcmp(whole.data(), parted.data(), whole.size() * 4), 0) << kernel_isa_name(isa);
  }
}

TEST(Attention, SegmentsMergedInOrderEqualOneCall) {
  std::mt19937 rng(23);
  const int group = 6, head_dim = 64, segment = 32;
  const int64_t first_pos = 20, count = 150;  // segments [20,32) [32,64) ... [160,170)
  Context c = random_context(group, head_dim, count, rng);
  for (KernelIsa isa : test::supported_isas()) {
    test::IsaGuard guard;
    set_kernel_isa(isa);
    std::vector<float> whole(size_t(group * head_dim));
    std::vector<float> scratch(attend_scratch_floats(group, head_dim, count, segment));
    attend(c.q.data(), group, head_dim, 0.1f, c.rows(), c.slots.data(), first_pos, count, segment, whole.data(),
           scratch.data());

    // Each segment's partial computed on its own (as another thread or node would), then merged.
    const int64_t ps = attention_partial_floats(head_dim);
    std::vector<std::vector<float>> partials;
    std::vector<float> scores(size_t(group * segment));
    for (int64_t from = first_pos; from < first_pos + count;) {
      const int64_t to = std::min(first_pos + count, (from / segment + 1) * segment);
      partials.emplace_back(size_t(group * ps));
      attend_segment(c.q.data(), group, head_dim, 0.1f, c.rows(), c.slots.data() + (from - first_pos), to - from,
                     partials.back().data(), scores.data());
      from = to;
    }
    ASSERT_EQ(partials.size(), 6u);
    std::vector<float> running(size_t(group * ps)), merged(size_t(group * head_dim));
    start_attention(running.data(), group, head_dim);
    for (const auto& p : partials) merge_attention(running.data(), p.data(), group, head_dim);
    finish_attention(running.data(), group, head_dim, merged.data());
    EXPECT_EQ(std::memcmp(merged.data(), whole.data(), whole.size() * 4), 0) << kernel_isa_name(isa);
  }
}

}  // namespace
}  // namespace tandem
