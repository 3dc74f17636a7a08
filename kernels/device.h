#pragma once
// Which accelerators this process can use.

namespace tandem {

/// Number of CUDA devices usable now; 0 when tandem was built without CUDA or no GPU/driver is present.
int cuda_device_count();

/// True when this build contains the CUDA kernels.
bool built_with_cuda();

}  // namespace tandem
