#pragma once
// The verifier's end of a drafter channel that holds each request until the drafter has
// drafted as far ahead as it will: as when verifying takes longer than drafting ahead,
// without timing.
#include <chrono>
#include <memory>
#include <thread>

#include "runner/remote_drafter.h"

namespace tandem::test {

class PatientChannel : public Channel {
 public:
  PatientChannel(std::unique_ptr<Channel> inner, const DrafterService& service)
      : inner_(std::move(inner)), service_(service) {}
  bool send(std::string_view frame) override {
    while (!service_.idle()) std::this_thread::sleep_for(std::chrono::microseconds(200));
    return inner_->send(frame);
  }
  std::optional<std::string> receive(std::chrono::milliseconds timeout) override { return inner_->receive(timeout); }
  const char* kind() const override { return inner_->kind(); }

 private:
  std::unique_ptr<Channel> inner_;
  const DrafterService& service_;
};

}  // namespace tandem::test
