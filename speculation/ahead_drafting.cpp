#include "speculation/ahead_drafting.h"

#include <algorithm>
#include <chrono>

namespace tandem {
namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

class AheadDrafting::LaneDrafter : public Drafter {
 public:
  LaneDrafter(AheadDrafting& owner, std::shared_ptr<AheadLane> lane) : owner_(owner), lane_(std::move(lane)) {}
  ~LaneDrafter() override {
    std::lock_guard lock(owner_.mutex_);
    std::erase(owner_.lanes_, lane_);
  }

  void prepare(const std::vector<int32_t>& context, int max_depth) override {
    std::lock_guard lock(owner_.mutex_);
    move_to(context, max_depth);
  }

  TokenTree draft(const std::vector<int32_t>& context, int max_depth) override {
    std::unique_lock lock(owner_.mutex_);
    move_to(context, max_depth);
    AheadLane& lane = *lane_;
    const size_t first = size_t(std::clamp(owner_.options_.pre_verify, 0, max_depth));
    if (owner_.allow_waiting_ && lane.chain.size() < first) {
      const auto start = std::chrono::steady_clock::now();
      owner_.appended_.wait_for(lock, std::chrono::seconds(2), [&] { return lane.done || lane.chain.size() >= first; });
      owner_.waited_seconds_ = owner_.waited_seconds_ + seconds_since(start);
    }
    TokenTree tree = lane.chain.chain(max_depth);
    lane.wanted += size_t(tree.depth());  // those are under verification: draft past them too
    return tree;
  }

 private:
  // The verifier's context is `context` (mutex held): the chain follows it, and the thread
  // drafts the bonus token's guess and max_depth past it.
  void move_to(const std::vector<int32_t>& context, int max_depth) {
    AheadLane& lane = *lane_;
    lane.sampling = sampling_;
    // The context only grows between passes; were it ever to change otherwise, start over.
    const std::vector<int32_t>& known = lane.chain.context();
    const bool grew = known.size() <= context.size() && std::equal(known.begin(), known.end(), context.begin());
    const size_t keep = grew ? known.size() : 0;
    lane.chain.move_to(keep, std::span(context).subspan(keep));
    lane.wanted = 1 + size_t(std::max(0, max_depth));
    owner_.work_.notify_one();
  }

  AheadDrafting& owner_;
  std::shared_ptr<AheadLane> lane_;
};

AheadDrafting::AheadDrafting(Transformer& draft, int64_t max_context, AheadDraftingOptions options)
    : engine_(draft, max_context), options_(std::move(options)), thread_([this, &draft] {
        if (!options_.cpus.empty()) draft.pool().pin(options_.cpus);
        loop();
      }) {}

AheadDrafting::~AheadDrafting() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  work_.notify_all();
  thread_.join();
}

std::unique_ptr<Drafter> AheadDrafting::drafter() {
  auto lane = std::make_shared<AheadLane>();
  lane->branch_below = options_.branch_below;
  {
    std::lock_guard lock(mutex_);
    lanes_.push_back(lane);
  }
  return std::make_unique<LaneDrafter>(*this, std::move(lane));
}

void AheadDrafting::set_drafting(bool on) {
  {
    std::lock_guard lock(mutex_);
    drafting_ = on;
  }
  work_.notify_one();
}

void AheadDrafting::loop() {
  for (;;) {
    AheadEngine::Round round;
    {
      std::unique_lock lock(mutex_);
      work_.wait(lock, [&] { return stopping_ || (drafting_ && !(round = AheadEngine::plan(lanes_)).empty()); });
      if (stopping_) return;
    }
    const auto start = std::chrono::steady_clock::now();
    engine_.draft(round);
    busy_seconds_ = busy_seconds_ + seconds_since(start);
    {
      std::lock_guard lock(mutex_);
      AheadEngine::apply(round);
    }
    appended_.notify_all();
  }
}

}  // namespace tandem
