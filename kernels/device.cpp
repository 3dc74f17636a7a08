#include "kernels/device.h"

#include <stdexcept>

namespace tandem {

Device device_named(const std::string& name) {
  if (name == "cpu") return {};
  if (name == "cuda") return {Device::Kind::Cuda, 0};
  const std::string prefix = "cuda:";
  if (name.starts_with(prefix) && name.size() > prefix.size() && name.size() <= prefix.size() + 3 &&
      name.find_first_not_of("0123456789", prefix.size()) == std::string::npos)
    return {Device::Kind::Cuda, std::stoi(name.substr(prefix.size()))};
  throw std::invalid_argument("unknown device '" + name + "': expected cpu, cuda or cuda:N");
}

std::string usable_devices() {
  std::string line = "cpu";
  for (int i = 0; i < cuda_device_count(); ++i)
    line += ", cuda:" + std::to_string(i) + " (" + cuda_device_description(i) + ")";
  if (!built_with_cuda()) line += " (this build has no CUDA)";
  return line;
}

}  // namespace tandem
