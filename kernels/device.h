#pragma once
// Which accelerators this process can use, and how a command names one.
#include <string>

namespace tandem {

/// Number of CUDA devices usable now; 0 when tandem was built without CUDA or no GPU/driver is present.
int cuda_device_count();

/// True when this build contains the CUDA kernels.
bool built_with_cuda();
/// True when its CUDA devices are the SIMT emulator on the CPU (a TANDEM_CUDA_EMU build).
bool cuda_emulated();
/// A device's name as banners show it: "cuda:0 (emulated)" on the SIMT emulator, else as is.
inline std::string device_label(const std::string& name) {
  return name.rfind("cuda", 0) == 0 && cuda_emulated() ? name + " (emulated)" : name;
}

/// What CUDA device `index` is, e.g. "NVIDIA H200, 139.8 GiB"; empty when it is not usable.
std::string cuda_device_description(int index);

/// CUDA device `index`'s UUID as 32 hex digits (what tells two processes they hold the same
/// GPU); empty when it is not usable.
std::string cuda_device_uuid(int index);

/// Device-to-device copy bandwidth of CUDA device `index` in bytes per second, bytes read and
/// written both counted (the ceiling of a memory-bound kernel); 0 without a usable device.
double cuda_copy_bandwidth(int index);

/// The devices a forward can run on here, as one line: "cpu, cuda:0 (NVIDIA H200, 139.8 GiB)",
/// with a note when this build has no CUDA.
std::string usable_devices();

/// Where a forward runs: the CPU, or CUDA device `index`.
struct Device {
  enum class Kind { Cpu, Cuda };
  Kind kind = Kind::Cpu;
  int index = 0;

  /// "cpu" or "cuda:N".
  std::string name() const { return kind == Kind::Cpu ? "cpu" : "cuda:" + std::to_string(index); }
};

/// The device `name` says: cpu, cuda (device 0) or cuda:N. Throws std::invalid_argument for
/// anything else; whether the device exists is checked where it is used.
Device device_named(const std::string& name);

}  // namespace tandem
