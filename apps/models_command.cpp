// tandem models: what is installed, read from each file's own header.
#include <cstdio>
#include <filesystem>
#include <iostream>

#include "apps/commands.h"
#include "apps/flags.h"
#include "model/model.h"

namespace tandem {

int run_models(const std::vector<std::string>& args) {
  Flags flags("tandem models", "Lists the installed models: architecture, parameters, quantization, tokenizer, path.");
  flags.add("dir", models_dir(), "folder to list");
  if (!flags.parse(args)) return 0;
  std::filesystem::path dir = flags.get("dir");
  if (!std::filesystem::is_directory(dir)) {
    std::cerr << "tandem models: no models folder at " << dir.string() << " (run scripts/setup.sh)\n";
    return 1;
  }
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::directory_iterator(dir))
    if (entry.path().extension() == ".gguf") files.push_back(entry.path());
  std::sort(files.begin(), files.end());
  std::printf("%-44s %-9s %9s %-6s %-9s %s\n", "model", "arch", "params", "quant", "tokenizer", "path");
  for (const auto& path : files) {
    try {
      auto m = Model::load(path.string());
      const auto& c = m->config();
      std::printf("%-44s %-9s %8.1fM %-6s %-9s %s\n", c.name.c_str(), c.architecture.c_str(),
                  double(m->parameters()) / 1e6, m->quantization().c_str(),
                  m->tokenizer().kind() == Tokenizer::Kind::ByteLevelBpe ? "bpe-bytes" : "spm-bpe",
                  path.string().c_str());
    } catch (const std::exception& e) {
      std::printf("%-44s unusable: %s\n", path.filename().string().c_str(), e.what());
    }
  }
  std::printf("devices: %s\n", usable_devices().c_str());
  return 0;
}

}  // namespace tandem
