#include "transport/nccl_library.h"

#include <dlfcn.h>

#include <cstdlib>

namespace tandem {
namespace {

template <typename F>
void find(void* handle, const char* name, F& function, std::string& missing) {
  function = reinterpret_cast<F>(dlsym(handle, name));
  if (!function && missing.empty()) missing = std::string("libnccl lacks ") + name;
}

NcclLibrary load() {
  NcclLibrary lib;
  const char* named = std::getenv("TANDEM_NCCL_LIBRARY");
#if defined(TANDEM_DEFAULT_NCCL_LIBRARY)
  const char* fallback = TANDEM_DEFAULT_NCCL_LIBRARY;  // the emulated build's host transport
#else
  const char* fallback = "libnccl.so.2";
#endif
  const std::string path = named && *named ? named : fallback;
  void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle) {
    const char* why = dlerror();
    lib.missing = "cannot open " + path + (why ? std::string(": ") + why : std::string()) +
                  " (install NCCL, or set TANDEM_NCCL_LIBRARY to a libnccl.so.2)";
    return lib;
  }
  std::string& missing = lib.missing;
  find(handle, "ncclGetVersion", lib.get_version, missing);
  find(handle, "ncclGetUniqueId", lib.get_unique_id, missing);
  find(handle, "ncclCommInitRankConfig", lib.comm_init_rank_config, missing);
  find(handle, "ncclCommGetAsyncError", lib.comm_get_async_error, missing);
  find(handle, "ncclCommAbort", lib.comm_abort, missing);
  find(handle, "ncclSend", lib.send, missing);
  find(handle, "ncclRecv", lib.recv, missing);
  find(handle, "ncclGroupStart", lib.group_start, missing);
  find(handle, "ncclGroupEnd", lib.group_end, missing);
  find(handle, "ncclGetErrorString", lib.get_error_string, missing);
  if (missing.empty() && lib.get_version(&lib.version) != ncclSuccess) missing = "ncclGetVersion failed";
  // Non-blocking communicators (what lets a stuck peer be aborted) came with NCCL 2.14.
  if (missing.empty() && lib.version < NCCL_VERSION(2, 14, 0))
    missing = "libnccl " + nccl_version_text(lib.version) + " is older than 2.14";
  return lib;  // the handle stays open for the process's life
}

}  // namespace

const NcclLibrary& nccl_library() {
  static const NcclLibrary lib = load();
  return lib;
}

std::string nccl_version_text(int code) {
  return std::to_string(code / 10000) + "." + std::to_string(code % 10000 / 100) + "." + std::to_string(code % 100);
}

}  // namespace tandem
