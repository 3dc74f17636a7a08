#pragma once
// One client request inside the worker: its ticket (who asked, deadline, cancel
// flag), then, once admitted, its parsed settings, drafter and decoding state.
#include <atomic>
#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <string>

#include "proto/client.pb.h"
#include "runner/remote_drafter.h"
#include "server/request_backend.h"
#include "server/request_spec.h"
#include "server/sample_group.h"
#include "speculation/ahead_drafting.h"
#include "speculation/auto_drafter.h"
#include "speculation/mode.h"
#include "speculation/speculative_run.h"
#include "speculation/stop_matcher.h"

namespace tandem {

/// The models a server runs. Draft and PEARL transformers may be null when no draft model is loaded.
struct ServingModels {
  Transformer* target = nullptr;                    // all threads
  Transformer* draft = nullptr;                     // all threads, for chain and tree
  Transformer* pearl_target = nullptr;              // the verifier's share of the cores, for passes with PEARL requests
  Transformer* pearl_draft = nullptr;               // the drafter's share, for PEARL's drafting thread
  RemoteDrafterLink* remote_drafter = nullptr;      // a drafter process for chain, tree and PEARL, instead of `draft`
  AheadDrafting* pearl_drafting = nullptr;          // set by the worker: drafts ahead for PEARL requests on pearl_draft
  const std::atomic<int64_t>* pass_rows = nullptr;  // set by the worker: rows of its latest pass (mode auto)
};

/// A request as received: what it asks (parsed once, on arrival) and what has happened to it.
struct RequestTicket {
  RequestSpec spec;
  std::chrono::steady_clock::time_point received, deadline;  // deadline: max() when none
  std::atomic<bool> cancelled{false};
  std::atomic<int64_t> last_heard_ms{0};  // steady-clock time of the client's latest message
  int passed_over = 0;              // requests admitted ahead of it because its samples did not fit (worker's lock)
  std::vector<int32_t> prompt_ids;  // the prompt, tokenized (prepare thread) before the request is queued
};

/// Thrown to end a request early (cancelled, past its deadline).
struct RequestAborted {
  wire::ErrorCode code;
  std::string message;
};

/// Milliseconds on the steady clock.
int64_t steady_now_ms();
/// Throws RequestAborted if the ticket was cancelled, its deadline has passed, or its
/// client has missed three heartbeats.
void check_alive(const RequestTicket& ticket);

/// An admitted request, or one sample of it when it asks for several (SubmitRequest.n).
class ActiveRequest {
 public:
  /// Prepares the ticket's request to run: its drafter (std::invalid_argument when its mode
  /// needs a draft model the server lacks) and decoding state; streamed chunks go to `sink`.
  /// This is its sample 0.
  ActiveRequest(std::shared_ptr<RequestTicket> ticket, const ServingModels& models, const ServingOptions& options,
                ReplySink sink);

  /// The ticket.
  RequestTicket& ticket() { return *ticket_; }
  /// Its speculation mode.
  Mode mode() const { return ticket_->spec.mode.mode; }
  /// Whether a local draft model drafts for it while the verifier waits (chain, tree).
  bool drafts_locally() const { return drafts_locally_; }
  /// Whether the PEARL drafting thread drafts for it while passes run.
  bool drafts_ahead() const { return drafts_ahead_; }
  /// Its pass-by-pass state.
  SpeculativeRun& run() { return *run_; }
  /// In mode auto, what drafted its latest pass (kNoDraftChoice: nothing, as for every pass
  /// of a sampled request, which auto decodes plainly); empty in the other modes.
  const std::string& auto_choice() const;
  /// The final message, once finished (called once: a streaming request first gets
  /// the text still held back, if any, as a last chunk). For a sample, its own.
  wire::ServerMessage final_message();

  /// The samples of the request this one belongs to (null: n = 1).
  SampleGroup* group() const { return group_.get(); }
  /// Which sample this is.
  uint32_t sample_index() const { return index_; }
  /// Places in the batch it holds: sample 0 of several holds them all until it has started
  /// the others.
  int batch_slots() const { return group_ && index_ == 0 && !forked_ ? int(group_->size()) : 1; }
  /// Whether sample 0 may start the others now: its prompt is in (they share its cache), or
  /// at once when caches live on KV shards (each sample prefills its own).
  bool ready_to_fork() const { return group_ && index_ == 0 && !forked_ && (!shares_prompt_ || !run_->prefilling()); }
  /// Starts samples 1 to n - 1, sharing this one's prompt cache where they can.
  std::vector<std::unique_ptr<ActiveRequest>> fork();

 private:
  // Sample `index` of `group`'s request.
  ActiveRequest(std::shared_ptr<RequestTicket> ticket, const ServingModels& models, const ServingOptions& options,
                ReplySink sink, uint32_t index, std::shared_ptr<SampleGroup> group);

  void on_token(int32_t id);
  // Adds released ids and text to the output, and streams them when the client asked.
  void deliver(const StopMatcher::Released& released);

  std::shared_ptr<RequestTicket> ticket_;
  const ServingModels& models_;
  const ServingOptions& serving_;
  uint32_t index_ = 0;
  std::shared_ptr<SampleGroup> group_;
  bool shares_prompt_ = false;  // the samples read sample 0's prompt cache
  bool forked_ = false;
  ReplySink sink_;
  GenerationOptions options_;  // the spec's, with this sample's seed
  std::unique_ptr<Drafter> drafter_;
  const AutoDrafter* auto_drafter_ = nullptr;  // drafter_, when auto chooses its drafts
  std::unique_ptr<SpeculativeRun> run_;
  StreamDecoder decoder_;
  StopMatcher stop_matcher_;
  std::vector<int32_t> ids_;  // released to the client
  std::string text_;
  // With logprobs: those of the tokens decided but not yet released (the stop matcher holds
  // them), in order, and those released, one per id in ids_.
  std::deque<wire::TokenLogprob> held_logprobs_;
  std::vector<wire::TokenLogprob> logprobs_;
  std::chrono::steady_clock::time_point started_;
  bool drafts_locally_ = false;
  bool drafts_ahead_ = false;
};

}  // namespace tandem
