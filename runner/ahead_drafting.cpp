#include "runner/ahead_drafting.h"

#include <algorithm>
#include <chrono>

#include "speculation/ahead_chain.h"

namespace tandem {

// One request's chain; every field but `drafter` is guarded by the owner's mutex.
struct AheadDrafting::Slot {
  AheadChain chain;
  size_t wanted = 0;  // drafts to hold ahead of the verifier's context
  SamplingParams sampling;
  bool done = false;                      // cannot draft further (context full, or drafting failed)
  std::unique_ptr<ChainDrafter> drafter;  // drafting thread only: one token per call, with its own cache and stream
};

class AheadDrafting::SlotDrafter : public Drafter {
 public:
  SlotDrafter(AheadDrafting& owner, std::shared_ptr<Slot> slot) : owner_(owner), slot_(std::move(slot)) {}
  ~SlotDrafter() override {
    std::lock_guard lock(owner_.mutex_);
    std::erase(owner_.slots_, slot_);
  }

  TokenTree draft(const std::vector<int32_t>& context, int max_depth) override {
    std::unique_lock lock(owner_.mutex_);
    Slot& s = *slot_;
    s.sampling = sampling_;
    // The context only grows between passes; were it ever to change otherwise, start over.
    const std::vector<int32_t>& known = s.chain.context();
    const bool grew = known.size() <= context.size() && std::equal(known.begin(), known.end(), context.begin());
    const size_t keep = grew ? known.size() : 0;
    s.chain.move_to(keep, std::span(context).subspan(keep));
    s.wanted = 1 + size_t(max_depth);  // the bonus token's guess, then max_depth past it
    owner_.work_.notify_one();
    const size_t first = size_t(std::min(owner_.pre_verify_, max_depth));
    if (owner_.allow_waiting_ && s.chain.size() < first)
      owner_.appended_.wait_for(lock, std::chrono::seconds(2), [&] { return s.done || s.chain.size() >= first; });
    TokenTree tree = s.chain.chain(max_depth);
    s.wanted += size_t(tree.size());
    return tree;
  }

 private:
  AheadDrafting& owner_;
  std::shared_ptr<Slot> slot_;
};

AheadDrafting::AheadDrafting(Transformer& draft, int64_t max_context, int pre_verify)
    : draft_(draft), max_context_(max_context), pre_verify_(pre_verify), thread_([this] { loop(); }) {}

AheadDrafting::~AheadDrafting() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  work_.notify_all();
  thread_.join();
}

std::unique_ptr<Drafter> AheadDrafting::drafter() {
  auto slot = std::make_shared<Slot>();
  slot->drafter = std::make_unique<ChainDrafter>(draft_, 1, max_context_);
  {
    std::lock_guard lock(mutex_);
    slots_.push_back(slot);
  }
  return std::make_unique<SlotDrafter>(*this, std::move(slot));
}

void AheadDrafting::set_drafting(bool on) {
  {
    std::lock_guard lock(mutex_);
    drafting_ = on;
  }
  work_.notify_one();
}

std::shared_ptr<AheadDrafting::Slot> AheadDrafting::next_short() {
  if (!drafting_) return nullptr;
  for (size_t i = 0; i < slots_.size(); ++i) {
    const auto& slot = slots_[(turn_ + i) % slots_.size()];
    if (!slot->done && !slot->chain.context().empty() && slot->chain.size() < slot->wanted) {
      turn_ = (turn_ + i + 1) % slots_.size();
      return slot;
    }
  }
  return nullptr;
}

void AheadDrafting::loop() {
  for (;;) {
    std::shared_ptr<Slot> slot;  // keeps the slot alive while drafting, even if its request ends
    std::vector<int32_t> context;
    uint64_t epoch;
    SamplingParams sampling;
    {
      std::unique_lock lock(mutex_);
      work_.wait(lock, [&] { return stopping_ || (slot = next_short()); });
      if (stopping_) return;
      context = slot->chain.drafting_context();
      epoch = slot->chain.epoch();
      sampling = slot->sampling;
    }
    const auto start = std::chrono::steady_clock::now();
    TokenTree next;
    try {
      slot->drafter->sample_with(sampling);
      next = slot->drafter->draft(context, 1);
    } catch (const std::exception&) {
      next = TokenTree();  // the draft model cannot go on: the request decodes without drafts
    }
    busy_seconds_ = busy_seconds_ + std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    {
      std::lock_guard lock(mutex_);
      if (next.empty()) {
        slot->done = true;
      } else {
        // A draft begun before the chain started over continues a context that is gone.
        if (slot->chain.epoch() == epoch) slot->chain.push_chain(next);
      }
    }
    appended_.notify_all();
  }
}

}  // namespace tandem
