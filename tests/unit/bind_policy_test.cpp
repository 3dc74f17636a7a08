#include "apps/bind_policy.h"

#include <gtest/gtest.h>

#include "apps/flags.h"

namespace tandem {
namespace {

TEST(BindPolicy, OnlyLoopbackAndLocalTransportsAreLocal) {
  for (const char* local :
       {"tcp://127.0.0.1:5555", "127.0.0.1:8000", "127.8.9.10:1", "tcp://localhost:5555", "localhost:0",
        "tcp://[::1]:5555", "[::1]:80", "tcp://lo:5555", "ipc:///tmp/x", "inproc://a"})
    EXPECT_TRUE(is_local_address(local)) << local;
  for (const char* exposed : {"tcp://0.0.0.0:5555", "0.0.0.0:8000", "tcp://*:5555", "10.0.0.5:80", "tcp://[::]:1",
                              "tcp://eth0:5555", "127.evil.example:80", "tcp://128.0.0.1:1", "[::2]:1", ":8000"})
    EXPECT_FALSE(is_local_address(exposed)) << exposed;
}

TEST(BindPolicy, AnExposedListenerNeedsKeysOrInsecure) {
  Flags flags("test", "");
  add_insecure_flag(flags);
  ASSERT_TRUE(flags.parse({}));
  EXPECT_NO_THROW(check_exposure(flags, "clients", "tcp://127.0.0.1:1", false, "keys"));
  EXPECT_NO_THROW(check_exposure(flags, "clients", "", false, "keys"));  // not listening at all
  EXPECT_NO_THROW(check_exposure(flags, "clients", "tcp://0.0.0.0:1", true, "keys"));
  try {
    check_exposure(flags, "HTTP clients", "0.0.0.0:8000", false, "--api-keys");
    FAIL() << "an exposed listener without keys was allowed";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("refusing to listen for HTTP clients on 0.0.0.0:8000"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("without --api-keys"), std::string::npos);
  }
  Flags insecure("test", "");
  add_insecure_flag(insecure);
  ASSERT_TRUE(insecure.parse({"--insecure"}));
  EXPECT_NO_THROW(check_exposure(insecure, "the control plane", "0.0.0.0:5700", false, ""));
}

}  // namespace
}  // namespace tandem
