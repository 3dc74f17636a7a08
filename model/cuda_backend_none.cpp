// Build without CUDA: asking for a CUDA device is a clear error.
#include <stdexcept>

#include "model/backend.h"

namespace tandem {

std::unique_ptr<Backend> make_cuda_backend(const Model&, int index) {
  throw std::runtime_error("device cuda:" + std::to_string(index) +
                           " asked for, but this build of tandem has no CUDA (configure with nvcc on the PATH)");
}

}  // namespace tandem
