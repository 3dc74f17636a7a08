#include "speculation/draft_vocabulary.h"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <numeric>
#include <stdexcept>

#include "model/fingerprint.h"
#include "model/tokenizer.h"

namespace tandem {
namespace {

constexpr std::string_view kMagic = "# tandem draft vocabulary";
constexpr std::string_view kFingerprintKey = "# vocabulary: ";

// Texts are encoded in pieces of about this many bytes, cut after a newline, so that one
// huge line-free file does not make a single pre-tokenizer run.
constexpr size_t kPieceBytes = 1 << 16;

}  // namespace

TokenCounter::TokenCounter(const Tokenizer& tokenizer)
    : tokenizer_(tokenizer), counts_(size_t(tokenizer.vocab_size()), 0) {}

void TokenCounter::add(std::string_view text) {
  while (!text.empty()) {
    size_t cut = text.size();
    if (cut > kPieceBytes) {
      size_t newline = text.find('\n', kPieceBytes);
      cut = newline == std::string_view::npos ? text.size() : newline + 1;
    }
    for (int32_t id : tokenizer_.encode(text.substr(0, cut), false)) {
      ++counts_[size_t(id)];
      ++total_;
    }
    text.remove_prefix(cut);
  }
}

double TokenCounter::coverage(const std::vector<int32_t>& ids) const {
  std::vector<bool> held(counts_.size(), false);
  int64_t covered = 0;
  for (int32_t id : ids)
    if (id >= 0 && size_t(id) < held.size() && !held[size_t(id)]) {
      held[size_t(id)] = true;
      covered += counts_[size_t(id)];
    }
  return total_ > 0 ? double(covered) / double(total_) : 0.0;
}

std::vector<int32_t> TokenCounter::most_frequent(int32_t top) const {
  std::vector<int32_t> ids(counts_.size());
  std::iota(ids.begin(), ids.end(), 0);
  std::stable_sort(ids.begin(), ids.end(),
                   [&](int32_t a, int32_t b) { return counts_[size_t(a)] > counts_[size_t(b)]; });
  auto unseen = std::find_if(ids.begin(), ids.end(), [&](int32_t id) { return counts_[size_t(id)] == 0; });
  ids.erase(unseen, ids.end());
  if (top >= 0 && size_t(top) < ids.size()) ids.resize(size_t(top));
  return ids;
}

void write_draft_vocabulary(const std::string& path, const Tokenizer& tokenizer, const std::vector<int32_t>& ids,
                            const std::string& corpus_note) {
  const std::string partial = path + ".partial";  // renamed when whole: a reader never sees half a file
  std::ofstream out(partial);
  if (!out) throw std::runtime_error("cannot write the draft vocabulary " + path);
  out << kMagic << ", most frequent first\n"
      << kFingerprintKey << vocabulary_fingerprint(tokenizer) << "\n"
      << "# corpus: " << corpus_note << "\n";
  for (int32_t id : ids) out << id << "\n";
  out.close();
  if (!out || std::rename(partial.c_str(), path.c_str()) != 0)
    throw std::runtime_error("cannot write the draft vocabulary " + path);
}

std::vector<int32_t> read_draft_vocabulary(const std::string& path, const Tokenizer& tokenizer, int32_t top) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("no draft vocabulary at " + path);
  auto bad = [&](const std::string& why) { return std::runtime_error("draft vocabulary " + path + ": " + why); };
  std::string line;
  if (!std::getline(in, line) || line.rfind(kMagic, 0) != 0) throw bad("not a tandem draft vocabulary file");
  std::vector<int32_t> ids;
  bool fingerprint_seen = false;
  int64_t line_number = 1;
  while (std::getline(in, line)) {
    ++line_number;
    if (line.rfind(kFingerprintKey, 0) == 0) {
      const std::string theirs = line.substr(kFingerprintKey.size()), ours = vocabulary_fingerprint(tokenizer);
      if (theirs != ours) throw bad("counted for vocabulary " + theirs + ", but the draft model's is " + ours);
      fingerprint_seen = true;
      continue;
    }
    if (line.empty() || line[0] == '#') continue;
    if (top >= 0 && int64_t(ids.size()) >= top) break;
    size_t used = 0;
    long long id = -1;
    try {
      id = std::stoll(line, &used);
    } catch (const std::exception&) { used = 0; }
    if (used != line.size() || id < 0 || id >= tokenizer.vocab_size())
      throw bad("line " + std::to_string(line_number) + " is not a token id of this vocabulary: '" +
                line.substr(0, 40) + "'");
    ids.push_back(int32_t(id));
  }
  if (!fingerprint_seen) throw bad("names no vocabulary fingerprint");
  if (ids.empty()) throw bad("holds no token ids");
  for (int32_t stop : tokenizer.stop_ids())
    if (std::find(ids.begin(), ids.end(), stop) == ids.end()) ids.push_back(stop);
  return ids;
}

}  // namespace tandem
