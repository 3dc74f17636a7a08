// Spec-Bench: every speculative mode against plain autoregressive decoding on the
// same prompts in the same run, per category: speedup, tokens per verifier pass,
// acceptance, and a check that greedy output is identical to AR's. With a temperature,
// chain and tree run under each rule asked for: draft-aware (drafts drawn from the
// drafter's q, accepted by p/q) and point-mass (greedy drafts accepted with probability p).
//
//   build/tandem_spec_bench --limit 2 --modes ar,chain,tree,pearl,lookup,recycle --json out.json --markdown out.md
//   build/tandem_spec_bench --limit 5 --modes ar,chain:fr,lookup,recycle,auto:fr --repeats 3
//   build/tandem_spec_bench --limit 1 --modes ar,chain,tree --temperature 1 --rules draft-aware,point-mass
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "apps/flags.h"
#include "model/chat_template.h"
#include "model/model.h"
#include "speculation/auto_drafter.h"
#include "speculation/draft_vocabulary.h"
#include "speculation/mode.h"
#include "speculation/pass_times.h"

namespace tandem {
namespace {

struct Prompt {
  std::string id, category, text;
};

// The first turn of up to `limit` prompts per category (0: all), in file order.
std::vector<Prompt> load_prompts(const std::string& path, int limit) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error(path + ": cannot open");
  std::vector<Prompt> prompts;
  std::map<std::string, int> taken;
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) continue;
    auto j = nlohmann::json::parse(line);
    std::string category = j["category"];
    if (limit > 0 && taken[category] >= limit) continue;
    ++taken[category];
    prompts.push_back({j["question_id"].dump(), category, j["turns"][0]});
  }
  return prompts;
}

struct Run {
  GenerationResult result;
  SpeculationStats stats;
};

struct Totals {
  double seconds = 0, ar_seconds = 0;
  int64_t tokens = 0, ar_tokens = 0, passes = 0, accepted = 0, drafted = 0, mismatches = 0, prompts = 0;
  double drafter_idle = 0, verifier_idle = 0;  // pearl
  double wall = 0;                             // prefill and decode: the span idle times fall in
};

}  // namespace
}  // namespace tandem

int main(int argc, char** argv) {
  using namespace tandem;
  Flags flags("tandem_spec_bench",
              "Spec-Bench: each speculative mode against autoregressive decoding on the same prompts in\n"
              "the same run, per category; checks that greedy output equals AR's.");
  flags.add("target", "models/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf", "target model");
  flags.add("draft", "models/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf", "draft model for chain, tree and pearl");
  flags.add("prompts", "../shared/data/prompts/spec_bench.jsonl", "Spec-Bench prompt file");
  flags.add("modes", "ar,chain,tree,pearl,lookup,recycle,auto",
            "comma-separated modes (ar always runs first); MODE:fr drafts with the draft model's classifier cut to "
            "--draft-vocab (FR-Spec); auto...:untimed prices drafting by auto's model alone, not corrected by "
            "its timed passes");
  flags.add("draft-vocab", "models/qwen2.5-coder-0.5b-instruct-q4_k_m.vocab",
            "draft vocabulary of the :fr runs (tandem vocab; scripts/setup.sh writes this one)");
  flags.add("draft-vocab-top", "32768", "its most frequent tokens the :fr runs keep");
  flags.add("limit", "2", "prompts per category (first turns, in file order); 0 for all 480");
  flags.add("max-tokens", "64", "tokens generated per prompt");
  flags.add("threads", "0", "CPU threads; 0 for one per core");
  flags.add("draft-tokens", "5",
            "most draft tokens per pass (per branch for recycle), as tandem serve and generate default to "
            "(reports before 2026-12-06 ran at 4)");
  flags.add("repeats", "1",
            "rounds per prompt: every mode runs once a round, in turn, and keeps its fastest round's time "
            "(3 steadies the per-category figures on a noisy machine)");
  flags.add("adaptive", "true", "adaptive draft depth, as tandem generate does by default (true/false)");
  flags.add("temperature", "0", "sampling temperature of every request (0: greedy)");
  flags.add("seed", "1", "sampling seed of every request");
  flags.add("rules", "draft-aware",
            "with a temperature, chain and tree run once per rule: draft-aware (q drawn, p/q), point-mass");
  flags.add("json", "", "write every run and the summary to this JSON file");
  flags.add("markdown", "", "write the summary table to this markdown file");
  flags.add("write-prompts", "",
            "only write the selected prompts, as the target's chat template formats them, to this JSONL file "
            "(question_id, category, text), so other engines can run the very same prompts");
  try {
    if (!flags.parse(std::vector<std::string>(argv + 1, argv + argc))) return 0;
  } catch (const UsageError& e) {
    std::fprintf(stderr, "tandem_spec_bench: %s\n", e.what());
    return 2;
  }
  const std::string target_path = flags.get("target"), draft_path = flags.get("draft");
  const std::string prompts_path = flags.get("prompts"), json_path = flags.get("json");
  const std::string markdown_path = flags.get("markdown");
  std::vector<std::string> modes = flags.get_list("modes");
  const int limit = int(flags.get_int("limit")), max_tokens = int(flags.get_int("max-tokens"));
  const int threads = int(flags.get_int("threads")), draft_tokens = int(flags.get_int("draft-tokens"));
  const bool adaptive = flags.get_switch("adaptive");
  const int repeats = int(flags.get_int("repeats"));
  if (repeats < 1 || repeats > 100) {
    std::fprintf(stderr, "tandem_spec_bench: --repeats must be 1 to 100\n");
    return 2;
  }
  if (modes.empty() || modes[0] != "ar") modes.insert(modes.begin(), "ar");  // the baseline runs first
  for (const std::string& mode : modes)
    if (mode.find(":fr") != std::string::npos && mode.rfind("chain", 0) != 0 && mode.rfind("tree", 0) != 0 &&
        mode.rfind("auto", 0) != 0) {
      std::fprintf(stderr, "tandem_spec_bench: %s: only chain, tree and auto draft with a cut classifier\n",
                   mode.c_str());
      return 2;
    }
  const float temperature = float(flags.get_double("temperature"));
  // A sampled run of chain or tree under each rule: "chain" is draft-aware, "chain:point-mass" not.
  if (temperature > 0) {
    std::vector<std::string> runs;
    for (const std::string& mode : modes)
      for (const std::string& rule : flags.get_list("rules")) {
        if (rule != "draft-aware" && rule != "point-mass") {
          std::fprintf(stderr, "tandem_spec_bench: unknown rule '%s'\n", rule.c_str());
          return 2;
        }
        const bool has_rules = mode == "chain" || mode == "tree";
        if (!has_rules && rule != flags.get_list("rules")[0]) continue;
        runs.push_back(has_rules && rule == "point-mass" ? mode + ":point-mass" : mode);
      }
    modes = runs;
  }
  try {
    auto target = Model::load(target_path);
    std::unique_ptr<Model> draft;
    Transformer target_tf(*target, threads);
    std::unique_ptr<Transformer> draft_tf, fr_draft_tf;
    auto prompts = load_prompts(prompts_path, limit);
    if (!flags.get("write-prompts").empty()) {
      std::ofstream out(flags.get("write-prompts"));
      for (const Prompt& p : prompts)
        out << nlohmann::json{{"question_id", p.id},
                              {"category", p.category},
                              {"text", chat_prompt(target->tokenizer(), p.text)}}
                   .dump()
            << "\n";
      return out ? 0 : 1;
    }
    const bool progress = isatty(STDERR_FILENO);
    GenerationOptions options;
    options.max_tokens = max_tokens;
    options.sampling.temperature = temperature;
    options.sampling.seed = uint64_t(flags.get_int("seed"));
    ModeSettings settings;
    settings.draft_tokens = draft_tokens;
    settings.adaptive = adaptive;
    const ThreadSplit split = split_threads(threads, 0);
    settings.pearl.drafter_cpus = split.drafter_cpus;
    settings.pearl.verifier_cpus = split.verifier_cpus;
    std::unique_ptr<Transformer> pearl_target_tf, pearl_draft_tf;

    // The verifier and drafter a run uses, each loaded or built on first need.
    auto transformers_for = [&](const std::string& run_name, Mode mode) -> std::pair<Transformer*, Transformer*> {
      if (!needs_draft_model(mode) && mode != Mode::automatic) return {&target_tf, nullptr};
      if (!draft) draft = Model::load(draft_path);
      if (mode == Mode::pearl) {
        // PEARL splits the cores: its own transformers with their own thread pools.
        if (!pearl_target_tf) {
          pearl_target_tf = std::make_unique<Transformer>(*target, split.verifier);
          pearl_draft_tf = std::make_unique<Transformer>(*draft, split.drafter);
        }
        return {pearl_target_tf.get(), pearl_draft_tf.get()};
      }
      if (run_name.find(":fr") != std::string::npos) {
        if (!fr_draft_tf) {
          fr_draft_tf = std::make_unique<Transformer>(*draft, threads);
          fr_draft_tf->restrict_vocabulary(read_draft_vocabulary(flags.get("draft-vocab"), draft->tokenizer(),
                                                                 int32_t(flags.get_int("draft-vocab-top"))));
        }
        return {&target_tf, fr_draft_tf.get()};
      }
      if (!draft_tf) draft_tf = std::make_unique<Transformer>(*draft, threads);
      return {&target_tf, draft_tf.get()};
    };

    nlohmann::json records = nlohmann::json::array();
    std::map<std::string, std::map<std::string, Totals>> totals;  // mode -> category (and "all")
    // Auto carries what it learns from request to request (RecentAcceptance). Each auto run
    // (auto:fr, auto:fr:untimed, ...) learns only from its own requests; each round of it
    // starts from where its first round on the previous prompt left it, so that every round
    // makes the same choices as far as acceptance goes (timed prices follow the machine).
    std::map<std::string, RecentAcceptance> learned, learned_next;
    for (size_t p = 0; p < prompts.size(); ++p) {
      const Prompt& prompt = prompts[p];
      auto ids = encode_chat(target->tokenizer(), chat_prompt(target->tokenizer(), prompt.text));
      // Every mode runs once per round, in turn, so that a slow spell of the machine falls on
      // all of them; each mode keeps its fastest round.
      std::map<std::string, Run> fastest;
      std::map<std::string, bool> differs;  // some round's output was not AR's
      std::vector<int32_t> ar_ids;
      for (int round = 0; round < repeats; ++round)
        for (const auto& run_name : modes) {
          if (progress)
            std::fprintf(stderr, "\r[%zu/%zu] %-14s %-18s round %d", p + 1, prompts.size(), prompt.category.c_str(),
                         run_name.c_str(), round + 1);
          Run run;
          const std::string mode = run_name.substr(0, run_name.find(':'));
          settings.mode = parse_mode(mode);
          settings.draft_aware = run_name.find(":point-mass") == std::string::npos;
          settings.auto_timed = run_name.find(":untimed") == std::string::npos;
          auto [verifier, drafter] = transformers_for(run_name, settings.mode);
          const bool learns = settings.mode == Mode::automatic;
          if (learns) RecentAcceptance::process() = learned[run_name];
          run.result = generate_in_mode(settings, *verifier, drafter, ids, options, run.stats);
          if (learns && round == 0) learned_next[run_name] = RecentAcceptance::process();
          if (mode == "ar" && round == 0) ar_ids = run.result.ids;
          differs[run_name] |= run.result.ids != ar_ids;  // sampled: another sample of the same distribution
          auto [kept, first] = fastest.try_emplace(run_name, run);
          if (!first && run.result.decode_seconds < kept->second.result.decode_seconds) kept->second = std::move(run);
        }
      learned = learned_next;
      const Run& ar = fastest.at(modes[0]);
      for (const auto& run_name : modes) {
        const Run& run = fastest.at(run_name);
        const double seconds = run.result.decode_seconds, ar_seconds = ar.result.decode_seconds;
        const bool same = !differs[run_name];
        for (const std::string& key : {prompt.category, std::string("all")}) {
          Totals& t = totals[run_name][key];
          t.seconds += seconds;
          t.ar_seconds += ar_seconds;
          t.ar_tokens += int64_t(ar.result.ids.size());
          t.tokens += int64_t(run.result.ids.size());
          t.passes += run.stats.passes;
          t.accepted += run.stats.accepted;
          t.drafted += run.stats.drafted;
          t.mismatches += !same;
          t.wall += run.result.prefill_seconds + seconds;
          t.drafter_idle += run.stats.drafter_idle_seconds;
          t.verifier_idle += run.stats.verifier_idle_seconds;
          t.prompts += 1;
        }
        records.push_back({{"question_id", prompt.id},
                           {"category", prompt.category},
                           {"mode", run_name},
                           {"prompt_tokens", ids.size()},
                           {"generated_tokens", run.result.ids.size()},
                           {"decode_seconds", seconds},
                           {"ar_decode_seconds", ar_seconds},
                           {"tokens_per_pass", run.stats.tokens_per_pass()},
                           {"acceptance_rate", run.stats.acceptance_rate()},
                           {"drafter_idle_seconds", run.stats.drafter_idle_seconds},
                           {"verifier_idle_seconds", run.stats.verifier_idle_seconds},
                           {"same_as_ar", same}});
        // What auto's timed passes said after this prompt (the step and each drafter's price
        // against the model's), to tell which machine it priced drafting for.
        if (run_name.rfind("auto", 0) == 0) {
          records.back()["pass_times"] = {{"step_ms", 1e3 * PassTimes::process().step_seconds()},
                                          {"scales", PassTimes::process().scales()}};
          // Passes by what drafted them ("ar": none), to tell which drafter auto leaned on.
          records.back()["auto_passes"] = nlohmann::json::object();
          for (const auto& [name, passes] : run.stats.auto_passes) records.back()["auto_passes"][name] = passes;
        }
      }
    }
    if (progress) std::fprintf(stderr, "\n");

    // Summary: speedup is AR's decode time over the mode's, on the same prompts in this run.
    std::ostringstream md;
    md << "Target " << target->config().name << ", drafter " << (draft ? draft->config().name : "-") << ", "
       << prompts.size() << " Spec-Bench prompts (" << (limit > 0 ? std::to_string(limit) + " per category" : "all")
       << "), " << max_tokens << " tokens each, "
       << (temperature > 0 ? "temperature " + std::to_string(temperature).substr(0, 4) + " seed " + flags.get("seed")
                           : std::string("greedy"))
       << ", " << target_tf.pool().size() << " threads (pearl: drafter " << split.drafter << ", verifier "
       << split.verifier << "), " << (adaptive ? "adaptive" : "fixed") << " draft depth (at most " << draft_tokens
       << "; tree budget " << settings.tree.budget << ")"
       << (repeats > 1 ? ", each mode's fastest of " + std::to_string(repeats) + " rounds" : std::string()) << ".\n\n";
    // AR's time per token tells how fast the machine ran the category: on a guest whose memory
    // speed changes, the ratios of drafting modes move with it.
    md << "| mode | category | speedup vs AR | AR ms/token | tokens/pass | acceptance | idle drafter/verifier | output "
          "identical to AR |\n|---|---|---|---|---|---|---|---|\n";
    nlohmann::json summary;
    for (const auto& mode : modes) {
      for (const auto& [category, t] : totals[mode]) {
        // AR's time per token over the mode's: sampled runs may stop at other lengths.
        double speedup = t.seconds > 0 && t.ar_tokens > 0 ? (t.ar_seconds / double(t.ar_tokens)) /
                                                                (t.seconds / double(std::max<int64_t>(t.tokens, 1)))
                                                          : 0;
        double per_pass = t.passes ? double(t.accepted + t.passes) / double(t.passes) : 1.0;
        double acceptance = t.drafted ? double(t.accepted) / double(t.drafted) : 0.0;
        const double ar_ms_per_token = t.ar_tokens > 0 ? 1e3 * t.ar_seconds / double(t.ar_tokens) : 0.0;
        summary[mode][category] = {{"speedup", speedup},
                                   {"ar_ms_per_token", ar_ms_per_token},
                                   {"tokens_per_pass", per_pass},
                                   {"acceptance_rate", acceptance},
                                   {"mismatches", t.mismatches},
                                   {"prompts", t.prompts},
                                   {"tokens", t.tokens},
                                   {"drafter_idle_share", t.wall > 0 ? t.drafter_idle / t.wall : 0.0},
                                   {"verifier_idle_share", t.wall > 0 ? t.verifier_idle / t.wall : 0.0}};
        char idle[64] = "-";
        if (mode == "pearl")
          std::snprintf(idle, sizeof idle, "%.0f%% / %.0f%%", 100 * t.drafter_idle / t.wall,
                        100 * t.verifier_idle / t.wall);
        char row[320];
        char identical[48] = "- (sampled)";
        if (temperature <= 0)
          std::snprintf(identical, sizeof identical, "%lld/%lld", (long long)(t.prompts - t.mismatches),
                        (long long)t.prompts);
        std::snprintf(row, sizeof row, "| %s | %s | %.2fx | %.1f | %.2f | %.0f%% | %s | %s |\n", mode.c_str(),
                      category.c_str(), speedup, ar_ms_per_token, per_pass, 100 * acceptance, idle, identical);
        md << row;
      }
    }
    std::printf("%s", md.str().c_str());
    if (!markdown_path.empty()) std::ofstream(markdown_path) << md.str();
    if (!json_path.empty())
      std::ofstream(json_path) << nlohmann::json{{"target", target_path},    {"draft", draft_path},
                                                 {"max_tokens", max_tokens}, {"limit_per_category", limit},
                                                 {"repeats", repeats},       {"temperature", temperature},
                                                 {"summary", summary},       {"runs", records}}
                                      .dump(2)
                               << "\n";
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "tandem_spec_bench: %s\n", e.what());
    return 1;
  }
}
