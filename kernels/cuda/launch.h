#pragma once
// One way to launch a kernel, for nvcc and for the SIMT emulator (TANDEM_CUDA_EMU):
//   TANDEM_LAUNCH(kernel, grid, block, shared_bytes, stream)(arguments...);
// `kernel` is a name or a pointer without commas (give a template instance a name first:
// auto* k = matmul_blocks<Block, 8>;).
#include <cuda_runtime.h>

#if defined(TANDEM_CUDA_EMU)
#define TANDEM_LAUNCH(kernel, grid, block, shared_bytes, stream) \
  ::tandem::emu::launcher(kernel, grid, block, shared_bytes, stream)
#else
#define TANDEM_LAUNCH(kernel, grid, block, shared_bytes, stream) kernel<<<grid, block, shared_bytes, stream>>>
#endif
