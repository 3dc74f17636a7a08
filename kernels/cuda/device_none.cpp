// Build without CUDA: no devices.
#include "kernels/device.h"

namespace tandem {

int cuda_device_count() { return 0; }
bool built_with_cuda() { return false; }
bool cuda_emulated() { return false; }
std::string cuda_device_description(int) { return ""; }
std::string cuda_device_uuid(int) { return ""; }
double cuda_copy_bandwidth(int) { return 0; }

}  // namespace tandem
