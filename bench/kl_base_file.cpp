#include "bench/kl_base_file.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace tandem {

QuantizedLogProbs quantize_log_probs(const std::vector<double>& log_probs) {
  const auto [low, high] = std::minmax_element(log_probs.begin(), log_probs.end());
  const double top = *high, bottom = std::max(*low, top - 16);
  QuantizedLogProbs row;
  row.scale = float((top - bottom) / 65535);
  row.min_log_prob = float(bottom);
  row.steps.assign(log_probs.size(), 0);
  if (row.scale > 0)
    for (size_t i = 0; i < log_probs.size(); ++i)
      if (log_probs[i] > bottom)
        row.steps[i] = uint16_t(std::min(65535.0, std::round((log_probs[i] - bottom) / row.scale)));
  return row;
}

double kl_from_base(const QuantizedLogProbs& base, const std::vector<double>& log_probs) {
  double kl = 0;
  for (size_t i = 0; i < log_probs.size(); ++i) {
    const float b = base.at(i);
    if (b > -16.f) kl += std::exp(double(b)) * (double(b) - log_probs[i]);
  }
  return kl;
}

KlBaseWriter::KlBaseWriter(const std::string& path, int64_t ctx, int32_t vocab, int64_t chunks,
                           const std::vector<int32_t>& tokens)
    : out_(path, std::ios::binary), vocab_(vocab) {
  if (!out_) throw std::runtime_error(path + ": cannot write the KL base file");
  const uint32_t ctx32 = uint32_t(ctx);
  const int32_t chunks32 = int32_t(chunks);
  out_.write("_logits_", 8);
  out_.write(reinterpret_cast<const char*>(&ctx32), 4);
  out_.write(reinterpret_cast<const char*>(&vocab), 4);
  out_.write(reinterpret_cast<const char*>(&chunks32), 4);
  out_.write(reinterpret_cast<const char*>(tokens.data()), std::streamsize(size_t(chunks * ctx) * 4));
}

void KlBaseWriter::add(const QuantizedLogProbs& row) {
  if (int32_t(row.steps.size()) != vocab_) throw std::invalid_argument("KL base row of the wrong vocabulary size");
  const float head[2] = {row.scale, row.min_log_prob};
  out_.write(reinterpret_cast<const char*>(head), sizeof head);
  out_.write(reinterpret_cast<const char*>(row.steps.data()), std::streamsize(row.steps.size() * 2));
  const uint16_t pad = 0;
  if (vocab_ % 2) out_.write(reinterpret_cast<const char*>(&pad), 2);  // rows hold an even count of tokens
  if (!out_) throw std::runtime_error("writing the KL base file failed");
}

}  // namespace tandem
