#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <stdexcept>

#include "apps/commands.h"

namespace tandem {

std::string models_dir() {
  if (const char* env = std::getenv("TANDEM_MODELS_DIR")) return env;
  std::error_code ec;
  auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    auto beside_build = exe.parent_path().parent_path() / "models";
    if (std::filesystem::is_directory(beside_build)) return beside_build.string();
  }
  return "models";
}

std::string resolve_model_path(const std::string& name_or_path) {
  if (std::filesystem::exists(name_or_path)) return name_or_path;
  auto installed = std::filesystem::path(models_dir()) / name_or_path;
  if (std::filesystem::exists(installed)) return installed.string();
  return name_or_path;  // let the loader report the missing file by the name the user gave
}

std::unique_ptr<Model> load_draft_model(const std::string& name_or_path, const Model& target) {
  auto draft = Model::load(resolve_model_path(name_or_path));
  if (!draft->tokenizer().same_vocabulary(target.tokenizer()))
    throw std::runtime_error(draft->path() + ": its vocabulary differs from " + target.path() +
                             "'s, so it cannot draft for it");
  return draft;
}

}  // namespace tandem
