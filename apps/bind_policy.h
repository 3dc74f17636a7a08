#pragma once
// Who may be reached from the network: a listener on a non-loopback address must be
// protected by keys (CURVE on the client port, API keys on HTTP, the cluster's
// certificates on the control plane, and for drafter and shard data channels CURVE keys
// handed out over that TLS control plane) unless the operator says --insecure.
#include <string>

namespace tandem {

class Flags;

/// Adds --insecure.
void add_insecure_flag(Flags& flags);

/// Whether `address` (tcp://HOST:PORT, HOST:PORT, ipc://..., inproc://...) can only be
/// reached from this machine: 127.0.0.0/8, ::1, localhost, the interface lo, ipc and inproc.
bool is_local_address(const std::string& address);

/// Throws UsageError when `address` is reachable from other machines, `protected_by_keys`
/// is false and --insecure was not given. `what` names the listener, `keys` the flags
/// that would protect it ('' when none can yet).
void check_exposure(const Flags& flags, const std::string& what, const std::string& address, bool protected_by_keys,
                    const std::string& keys);

}  // namespace tandem
