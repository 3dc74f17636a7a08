// tandem generate: load a model, encode a prompt, stream the answer.
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "apps/commands.h"
#include "apps/flags.h"
#include "apps/kv_shard_setup.h"
#include "apps/pearl_flags.h"
#include "kernels/device.h"
#include "model/chat_template.h"
#include "model/model.h"
#include "speculation/mode.h"
#include "speculation/stop_matcher.h"

namespace tandem {
namespace {

Flags generate_flags() {
  Flags f("tandem generate",
          "Generates text after a prompt with a local model, streaming it to stdout.\n"
          "A one-line summary (tokens, tokens/s) goes to stderr; --json prints one JSON object instead.");
  f.add("model", kDefaultModel, "GGUF file or llama2.c checkpoint (a bare name is looked up in the models folder)");
  f.add("tokenizer", "", "llama2.c tokenizer.bin (default: tokenizer.bin beside the checkpoint)");
  f.add("prompt", "", "the prompt text (required)");
  f.add("max-tokens", "128", "most tokens to generate");
  f.add("temperature", "0", "sampling temperature; 0 is greedy");
  f.add("top-k", "0", "sample among the k most likely tokens; 0 for all");
  f.add("top-p", "1", "sample within the smallest set of tokens whose probability reaches p");
  f.add("seed", "0", "random seed; the same seed gives the same output");
  f.add_switch("chat", "wrap the prompt in the model's chat template");
  add_chat_template_flag(f);
  f.add("stop", "", "end the output before this text (a stop sequence; empty: none)");
  f.add("threads", "0", "CPU threads; 0 for one per core");
  f.add("mode", "ar",
        "ar (plain), chain (a draft model drafts a chain), tree (a draft model drafts a dynamic tree), pearl "
        "(drafter and verifier on their own threads at once), lookup (prompt lookup), recycle (token recycling) or "
        "auto (each pass the drafter and depth that pay most, or none; uses --draft-model unless it is 'none')");
  f.add("draft-model", "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        "draft model for --mode chain, tree and pearl (same vocabulary as --model)");
  add_draft_vocab_flags(f);
  f.add("draft-tokens", "5", "most tokens drafted per verifier pass (tree: depth; recycle: per branch; pearl: window)");
  f.add("adaptive", "true", "choose each pass's draft depth from acceptance and cost (true/false)");
  f.add("ngram", "3", "longest n-gram prompt lookup matches");
  f.add("lookup-depth", "16", "lookup: most drafted tokens per pass (the adaptive depth picks up to this)");
  f.add("tree-budget", "10", "tree: most nodes per verifier pass");
  f.add("tree-branching", "3", "tree: children proposed under each expanded node");
  f.add("tree-width", "2", "tree: nodes expanded per level; recycle: first-level candidates");
  add_pearl_flags(f);
  f.add("draft-threads", "0",
        "pearl: threads for the drafter, the rest verify (0: a quarter of --threads, at least 1)");
  f.add("matmul", matmul_path_name(kDefaultMatmulPath),
        "quantized matmul: int8 (activations in 8-bit blocks, repacked weights, VNNI/AVX2), precise (int16 "
        "integer dot products, activations to ~31 bits), int16-fast (~15 bits) or float (weights decoded to float)");
  f.add("max-context", "4096", "most positions (prompt + output) the KV cache may hold");
  add_kv_shard_flags(f);
  add_device_flags(f, true);
  f.add_switch("json", "print one JSON object: prompt_ids, ids, text, stats");
  f.add("server", "", "generate on a running tandem serve at this ZeroMQ endpoint instead of locally");
  f.add("timeout-ms", "5000",
        "--server: give up when the server is silent this long (it sends a heartbeat each second)");
  f.add("deadline-ms", "0", "--server: the server ends the request after this long (0: no deadline)");
  f.add("samples", "1", "--server: samples of the prompt decoded together, sharing its KV cache (OpenAI's n)");
  f.add_switch("first-finish", "--server: answer with the first of the samples to finish (First Finish Search)");
  f.add("curve-server-key", "", "--server: the server's CURVE public key file (its .pub); encrypts and authenticates");
  f.add("curve-secret-key", "", "--server: this client's CURVE key pair (its .key), which the server must list");
  return f;
}

}  // namespace

int run_generate(const std::vector<std::string>& args) {
  Flags flags = generate_flags();
  if (!flags.parse(args)) return 0;
  if (flags.get("prompt").empty()) throw UsageError("--prompt is required");
  if (!flags.get("server").empty()) return run_remote_generate(flags);
  if (flags.get_int("samples") != 1 || flags.get_switch("first-finish"))
    throw UsageError("--samples and --first-finish need --server");
  GenerationOptions options;
  options.max_tokens = int(flags.get_int("max-tokens"));
  options.max_context = flags.get_int("max-context");
  options.sampling.temperature = float(flags.get_double("temperature"));
  options.sampling.top_k = int(flags.get_int("top-k"));
  options.sampling.top_p = float(flags.get_double("top-p"));
  options.sampling.seed = uint64_t(flags.get_int("seed"));
  if (options.max_tokens < 0) throw UsageError("--max-tokens must be >= 0");
  if (options.max_context < 2) throw UsageError("--max-context must be at least 2");
  if (options.sampling.temperature < 0) throw UsageError("--temperature must be >= 0");
  if (options.sampling.top_k < 0) throw UsageError("--top-k must be >= 0");
  if (!(options.sampling.top_p > 0 && options.sampling.top_p <= 1)) throw UsageError("--top-p must be in (0, 1]");
  const bool json = flags.get_switch("json");
  const bool progress = isatty(STDERR_FILENO) && !json;

  std::string model_path = resolve_model_path(flags.get("model"));
  if (progress) std::cerr << "loading " << model_path << " ...\r" << std::flush;
  auto model = Model::load(model_path, flags.get("tokenizer"));
  if (progress) std::cerr << "\33[2K\r";
  apply_chat_template_flag(flags, model->tokenizer());
  const Tokenizer& tok = model->tokenizer();
  bool chat = flags.get_switch("chat");
  std::vector<int32_t> prompt_ids =
      chat ? encode_chat(tok, chat_prompt(tok, flags.get("prompt"))) : tok.encode(flags.get("prompt"), tok.add_bos());

  MatmulPath matmul_path;
  try {
    matmul_path = matmul_path_named(flags.get("matmul"));
  } catch (const std::invalid_argument& e) { throw UsageError(std::string("--matmul: ") + e.what()); }
  const int threads = int(flags.get_int("threads"));
  const int segment = attention_segment(flags);
  StreamDecoder decoder(tok);
  std::vector<std::string> stops;
  if (!flags.get("stop").empty()) stops.push_back(flags.get("stop"));
  try {
    check_stop_sequences(stops);
  } catch (const std::invalid_argument& e) { throw UsageError(std::string("--stop: ") + e.what()); }
  StopMatcher stop_matcher(stops);
  std::vector<int32_t> output_ids;
  std::string generated_text;
  auto show = [&](const StopMatcher::Released& released) {
    output_ids.insert(output_ids.end(), released.ids.begin(), released.ids.end());
    generated_text += released.text;
    if (!json) {
      std::fwrite(released.text.data(), 1, released.text.size(), stdout);
      std::fflush(stdout);
    }
  };
  auto on_token = [&](int32_t id) {
    show(stop_matcher.push(id, decoder.push(id)));
    if (stop_matcher.stopped()) throw StopGeneration{};
  };

  ModeSettings settings;
  settings.draft_tokens = int(flags.get_int("draft-tokens"));
  settings.adaptive = flags.get_switch("adaptive");
  settings.ngram = int(flags.get_int("ngram"));
  settings.lookup_depth = int(flags.get_int("lookup-depth"));
  settings.recycle_width = settings.tree.width = int(flags.get_int("tree-width"));
  settings.tree.budget = int(flags.get_int("tree-budget"));
  settings.tree.branching = int(flags.get_int("tree-branching"));
  read_pearl_flags(flags, settings.pearl);
  try {
    settings.mode = parse_mode(flags.get("mode"));
    check_mode_settings(settings);
  } catch (const std::invalid_argument& e) { throw UsageError(e.what()); }
  const Mode mode = settings.mode;

  std::unique_ptr<Model> draft_model;
  std::unique_ptr<Transformer> draft_transformer;
  int target_threads = threads;
  if (needs_draft_model(mode) || (mode == Mode::automatic && flags.get("draft-model") != "none")) {
    draft_model = load_draft_model(flags.get("draft-model"), *model);
    int draft_threads = threads;
    if (mode == Mode::pearl) {
      const ThreadSplit split = split_threads(threads, int(flags.get_int("draft-threads")));
      draft_threads = split.drafter;
      target_threads = split.verifier;
      settings.pearl.drafter_cpus = split.drafter_cpus;
      settings.pearl.verifier_cpus = split.verifier_cpus;
    }
    draft_transformer = std::make_unique<Transformer>(*draft_model, draft_threads, segment, matmul_path,
                                                      device_flag(flags, "draft-device"));
    apply_draft_vocab(flags, *draft_transformer);
  }
  Transformer transformer(*model, target_threads, segment, matmul_path, device_flag(flags, "device"));
  KvShardSetup shards = kv_shards_from_flags(flags, model->config(), segment);
  options.kv_remote = shards.pool->factory();
  SpeculationStats spec;
  GenerationResult result =
      generate_in_mode(settings, transformer, draft_transformer.get(), prompt_ids, options, spec, on_token);
  show(stop_matcher.flush(decoder.flush()));
  result.ids = output_ids;  // without the tokens from a stop sequence on

  double prefill_tps = result.prefill_seconds > 0 ? double(prompt_ids.size()) / result.prefill_seconds : 0.0;
  double decode_tps = result.decode_seconds > 0 ? double(result.ids.size()) / result.decode_seconds : 0.0;
  if (json) {
    nlohmann::json out = {{"prompt_ids", result.prompt_ids},
                          {"ids", result.ids},
                          {"text", generated_text},
                          {"finish_reason", finish_reason_name(result.finish)},
                          {"stats",
                           {{"prompt_tokens", prompt_ids.size()},
                            {"generated_tokens", result.ids.size()},
                            {"prefill_seconds", result.prefill_seconds},
                            {"decode_seconds", result.decode_seconds},
                            {"prefill_tokens_per_second", prefill_tps},
                            {"decode_tokens_per_second", decode_tps},
                            {"kv_cache_bytes", result.kv_cache_bytes},
                            {"threads", transformer.pool().size()},
                            {"device", transformer.device_name()}}}};
    if (mode != Mode::ar)
      out["stats"]["speculation"] = {{"mode", mode_name(mode)},
                                     {"verifier_passes", spec.passes},
                                     {"drafted_tokens", spec.drafted},
                                     {"accepted_tokens", spec.accepted},
                                     {"tokens_per_pass", spec.tokens_per_pass()},
                                     {"acceptance_rate", spec.acceptance_rate()},
                                     {"draft_seconds", spec.draft_seconds},
                                     {"verify_seconds", spec.verify_seconds}};
    for (const auto& [drafter, passes] : spec.auto_passes) out["stats"]["speculation"]["auto_passes"][drafter] = passes;
    if (draft_transformer) {
      const size_t kept = draft_transformer->vocabulary().size();  // 0: the whole vocabulary
      out["stats"]["speculation"]["draft_vocabulary"] = kept ? kept : size_t(draft_model->config().vocab_size);
    }
    if (mode == Mode::pearl) {
      out["stats"]["speculation"]["drafter_idle_seconds"] = spec.drafter_idle_seconds;
      out["stats"]["speculation"]["verifier_idle_seconds"] = spec.verifier_idle_seconds;
      out["stats"]["speculation"]["draft_threads"] = draft_transformer->pool().size();
    }
    // Invalid UTF-8 in model output is replaced rather than aborting the dump.
    std::cout << out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  } else {
    std::cout << std::endl;
    std::fprintf(stderr, "prompt %zu tokens, %.1f tok/s | generated %zu tokens, %.1f tok/s | %s | %s, %d threads\n",
                 prompt_ids.size(), prefill_tps, result.ids.size(), decode_tps, finish_reason_name(result.finish),
                 device_label(transformer.device_name()).c_str(), transformer.pool().size());
    if (mode != Mode::ar)
      std::fprintf(stderr, "%s: %lld verifier passes, %.2f tokens per pass, %.0f%% of %lld drafted tokens accepted\n",
                   mode_name(mode), (long long)spec.passes, spec.tokens_per_pass(), 100 * spec.acceptance_rate(),
                   (long long)spec.drafted);
    if (!spec.auto_passes.empty()) {
      std::string line;
      for (const auto& [drafter, passes] : spec.auto_passes)
        line += (line.empty() ? "" : ", ") + drafter + " " + std::to_string(passes);
      std::fprintf(stderr, "auto: passes by what drafted them: %s\n", line.c_str());
    }
    if (mode == Mode::pearl)
      std::fprintf(stderr, "pearl: drafter idle %.2f s, verifier idle %.2f s (drafter %d threads, verifier %d)\n",
                   spec.drafter_idle_seconds, spec.verifier_idle_seconds, draft_transformer->pool().size(),
                   transformer.pool().size());
  }
  return 0;
}

}  // namespace tandem
