// tandem vocab: counts which tokens a corpus uses and writes the most frequent as a draft
// vocabulary (FR-Spec, speculation/draft_vocabulary.h) for --draft-vocab.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "apps/commands.h"
#include "apps/flags.h"
#include "speculation/draft_vocabulary.h"

namespace tandem {
namespace {

// The files under each corpus path (a file, or a folder searched recursively for the
// extensions), sorted so that the count does not depend on the directory order.
std::vector<std::filesystem::path> corpus_files(const std::vector<std::string>& paths,
                                                const std::vector<std::string>& extensions) {
  std::vector<std::filesystem::path> files;
  auto wanted = [&](const std::filesystem::path& p) {
    const std::string ext = p.extension().string();
    return std::find(extensions.begin(), extensions.end(), ext.empty() ? "" : ext.substr(1)) != extensions.end();
  };
  for (const std::string& path : paths) {
    if (std::filesystem::is_regular_file(path)) {
      files.emplace_back(path);
    } else if (std::filesystem::is_directory(path)) {
      for (const auto& entry : std::filesystem::recursive_directory_iterator(path))
        if (entry.is_regular_file() && wanted(entry.path())) files.push_back(entry.path());
    } else {
      throw UsageError("--corpus: no file or folder at " + path);
    }
  }
  std::sort(files.begin(), files.end());
  return files;
}

}  // namespace

int run_vocab(const std::vector<std::string>& args) {
  Flags flags("tandem vocab",
              "Counts the tokens of a corpus with a model's tokenizer and writes the most frequent ones, a draft "
              "vocabulary for --draft-vocab (FR-Spec: the draft model computes only their logits).");
  flags.add("model", "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf", "model whose tokenizer counts (the draft model)");
  flags.add("corpus", "", "comma-separated files or folders of text");
  flags.add("extensions", "txt,py,md,rst", "in folders, the file extensions read");
  flags.add("top", "32768", "most frequent tokens written");
  flags.add("out", "", "file to write");
  flags.add("check", "",
            "instead of writing: a draft vocabulary file, and what share of the corpus's tokens its first --top hold");
  if (!flags.parse(args)) return 0;
  const bool checking = !flags.get("check").empty();
  if (flags.get("corpus").empty() || (flags.get("out").empty() && !checking))
    throw UsageError("--corpus and --out (or --check) are needed");
  const long long top = flags.get_int("top");
  if (top < 1) throw UsageError("--top must be at least 1");
  auto model = Model::load(resolve_model_path(flags.get("model")));
  TokenCounter counter(model->tokenizer());
  const auto files = corpus_files(flags.get_list("corpus"), flags.get_list("extensions"));
  if (files.empty()) throw UsageError("--corpus holds no files with the extensions " + flags.get("extensions"));
  int64_t bytes = 0;
  for (const auto& file : files) {
    std::ifstream in(file, std::ios::binary);
    std::stringstream read;
    read << in.rdbuf();
    const std::string text = read.str();  // str() copies: once
    bytes += int64_t(text.size());
    counter.add(text);
  }
  if (checking) {
    const auto ids = read_draft_vocabulary(flags.get("check"), model->tokenizer(), int32_t(top));
    std::cout << "tandem vocab: " << ids.size() << " tokens of " << flags.get("check") << " hold "
              << 100.0 * counter.coverage(ids) << "% of the " << counter.total() << " tokens in " << files.size()
              << " files" << std::endl;
    return 0;
  }
  const std::vector<int32_t> ids = counter.most_frequent(int32_t(top));
  std::ostringstream note;
  note << files.size() << " files, " << bytes << " bytes, " << counter.total() << " tokens, under "
       << flags.get("corpus");
  write_draft_vocabulary(flags.get("out"), model->tokenizer(), ids, note.str());
  std::cout << "tandem vocab: " << ids.size() << " of " << model->config().vocab_size << " tokens (" << counter.total()
            << " counted in " << files.size() << " files) written to " << flags.get("out") << std::endl;
  return 0;
}

}  // namespace tandem
