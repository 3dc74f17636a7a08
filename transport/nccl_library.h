#pragma once
// libnccl opened at run time: the functions tandem calls, looked up once. Linking libnccl
// would tie every binary to a 200 MB library that CPU machines do not need and a GPU
// machine may hold elsewhere (a PyTorch wheel's copy, say: TANDEM_NCCL_LIBRARY names it). The
// emulated build (TANDEM_CUDA_EMU) opens its host transport, libtandem_nccl_host.so, instead.
#include <cuda_runtime.h>
#include <nccl.h>

#include <string>

namespace tandem {

struct NcclLibrary {
  ncclResult_t (*get_version)(int*) = nullptr;
  ncclResult_t (*get_unique_id)(ncclUniqueId*) = nullptr;
  ncclResult_t (*comm_init_rank_config)(ncclComm_t*, int, ncclUniqueId, int, ncclConfig_t*) = nullptr;
  ncclResult_t (*comm_get_async_error)(ncclComm_t, ncclResult_t*) = nullptr;
  ncclResult_t (*comm_abort)(ncclComm_t) = nullptr;
  ncclResult_t (*send)(const void*, size_t, ncclDataType_t, int, ncclComm_t, cudaStream_t) = nullptr;
  ncclResult_t (*recv)(void*, size_t, ncclDataType_t, int, ncclComm_t, cudaStream_t) = nullptr;
  ncclResult_t (*group_start)() = nullptr;
  ncclResult_t (*group_end)() = nullptr;
  const char* (*get_error_string)(ncclResult_t) = nullptr;
  int version = 0;      // NCCL_VERSION_CODE of the loaded library
  std::string missing;  // why it could not be loaded ('' : loaded)
};

/// The library, loaded on first use.
const NcclLibrary& nccl_library();

/// "2.28.9" for a version code.
std::string nccl_version_text(int code);

}  // namespace tandem
