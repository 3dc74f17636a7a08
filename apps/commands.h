#pragma once
// The tandem subcommands and what they share.
#include <memory>
#include <string>
#include <vector>

#include "kernels/device.h"
#include "model/model.h"
#include "model/transformer.h"
#include "transport/link_site.h"

namespace tandem {

class Flags;

/// `tandem generate`: local text generation. Returns the exit code.
int run_generate(const std::vector<std::string>& args);
/// `tandem node`: one role of a multi-process cluster. Returns the exit code.
int run_node(const std::vector<std::string>& args);
/// `tandem serve`: serve clients over ZeroMQ. Returns the exit code.
int run_serve(const std::vector<std::string>& args);
/// `tandem generate --server`: generation on a running server. Returns the exit code.
int run_remote_generate(const Flags& flags);
/// `tandem models`: what is installed. Returns the exit code.
int run_models(const std::vector<std::string>& args);
/// `tandem vocab`: a draft vocabulary counted over a corpus. Returns the exit code.
int run_vocab(const std::vector<std::string>& args);
/// tandem keys generate: CURVE key files.
int run_keys(const std::vector<std::string>& args);

/// Applies --log-level and --log-format, naming this process `node` in every event line.
void apply_log_flags(const Flags& flags, const std::string& node);

/// Where installed models live: $TANDEM_MODELS_DIR, else models/ beside the build folder, else ./models.
std::string models_dir();
/// A model argument as a path: itself if it exists, else the file of that name in models_dir().
std::string resolve_model_path(const std::string& name_or_path);

/// Loads a draft model (name or path) for `target`; throws unless their vocabularies are identical.
std::unique_ptr<Model> load_draft_model(const std::string& name_or_path, const Model& target);

/// Adds --draft-vocab and --draft-vocab-top (FR-Spec).
void add_draft_vocab_flags(Flags& f);
/// Cuts `draft`'s classifier to the tokens --draft-vocab lists (speculation/draft_vocabulary.h):
/// a file, 'auto' (the draft model's file with the extension .vocab, when it exists, as
/// scripts/setup.sh writes it) or 'none'. Returns what it did, for the start-up line.
std::string apply_draft_vocab(const Flags& flags, Transformer& draft);
/// Adds --chat-template.
void add_chat_template_flag(Flags& f);
/// Puts --chat-template's file (if given) in `tokenizer`'s place of the model's template; a
/// file that cannot be read or parsed is a UsageError. A model template that cannot be parsed
/// is logged as a warning (its chat requests are refused with the reason).
void apply_chat_template_flag(const Flags& flags, Tokenizer& tokenizer);
/// `tandem template`: a conversation rendered through a chat template. Returns the exit code.
int run_template(const std::vector<std::string>& args);
/// Adds --device (and, with `draft`, --draft-device) to a command's flags.
void add_device_flags(Flags& f, bool draft);
/// The device a flag names (cpu, cuda, cuda:N); a bad name is a UsageError. --draft-device
/// left empty means the same as --device.
Device device_flag(const Flags& flags, const std::string& name);
/// Adds --link and --nccl-network (how a verifier and its drafter node are linked).
void add_link_flags(Flags& f);
/// This node's link site for a model on `device` (transport/link_site.h); a bad --link is a UsageError.
LinkSite link_site_flag(const Flags& flags, const Device& device);

/// The default target model file name.
inline constexpr const char* kDefaultModel = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf";

}  // namespace tandem
