#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <stdexcept>

#include "apps/commands.h"
#include "apps/flags.h"
#include "speculation/draft_vocabulary.h"

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

void add_device_flags(Flags& f, bool draft) {
  f.add("device", "cpu", "where the model runs: cpu, cuda (device 0) or cuda:N");
  if (draft) f.add("draft-device", "", "where the draft model runs (empty: as --device), e.g. cuda:1");
}

Device device_flag(const Flags& flags, const std::string& name) {
  const std::string& value = flags.get(name).empty() && name == "draft-device" ? flags.get("device") : flags.get(name);
  try {
    return device_named(value);
  } catch (const std::invalid_argument& e) { throw UsageError("--" + name + ": " + e.what()); }
}

void add_link_flags(Flags& f) {
  f.add("link", "auto",
        "verifier, drafter: auto (NCCL to a paired node when both run on GPUs NCCL can join, else ZeroMQ) or zeromq");
  f.add("nccl-network", "",
        "verifier, drafter on GPUs: a name for an NCCL network (InfiniBand, RoCE) this machine shares with others; "
        "nodes of different machines naming the same one link over NCCL");
}

LinkSite link_site_flag(const Flags& flags, const Device& device) {
  try {
    return local_link_site(device, flags.get("link"), flags.get("nccl-network"));
  } catch (const std::invalid_argument& e) { throw UsageError(e.what()); }
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

void add_draft_vocab_flags(Flags& f) {
  f.add("draft-vocab", "auto",
        "the draft model computes logits only for the tokens this file lists (FR-Spec, written by tandem vocab): "
        "cheaper drafts, the output still exact. auto: the draft model's file with the extension .vocab if "
        "present; none: the whole vocabulary");
  f.add("draft-vocab-top", "32768", "of --draft-vocab, the most frequent tokens kept");
}

std::string apply_draft_vocab(const Flags& flags, Transformer& draft) {
  std::string path = flags.get("draft-vocab");
  if (path == "none") return "whole vocabulary";
  if (path == "auto") {
    path = std::filesystem::path(draft.model().path()).replace_extension(".vocab").string();
    if (!std::filesystem::exists(path)) return "whole vocabulary (no " + path + ")";
  }
  const long long top = flags.get_int("draft-vocab-top");
  if (top < 1) throw UsageError("--draft-vocab-top must be at least 1");
  draft.restrict_vocabulary(read_draft_vocabulary(path, draft.model().tokenizer(), int32_t(top)));
  return std::to_string(draft.vocabulary().size()) + " tokens of " + path;
}

}  // namespace tandem
