// Picks the kernels' instruction set (kernels/kernel_isa.h).
#include "kernels/kernel_isa.h"

#include <atomic>
#include <cstdlib>
#include <stdexcept>
#include <string>
#if defined(__x86_64__)
#include <cpuid.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace tandem {
namespace {

#if defined(__x86_64__)
// F16C from CPUID (clang's __builtin_cpu_supports does not know it).
bool has_f16c() {
  unsigned a = 0, b = 0, c = 0, d = 0;
  return __get_cpuid(1, &a, &b, &c, &d) && (c & bit_F16C);
}
#endif

bool supports(KernelIsa isa) {
#if defined(__x86_64__)
  __builtin_cpu_init();
  switch (isa) {
    case KernelIsa::Scalar: return true;
    case KernelIsa::Avx2: return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && has_f16c();
    case KernelIsa::Avx512Vnni:
      return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni");
  }
  return false;
#else
  return isa == KernelIsa::Scalar;
#endif
}

KernelIsa isa_named(const std::string& name) {
  if (name == "scalar") return KernelIsa::Scalar;
  if (name == "avx2") return KernelIsa::Avx2;
  if (name == "avx512" || name == "avx512-vnni") return KernelIsa::Avx512Vnni;
  throw std::invalid_argument("TANDEM_KERNEL_ISA must be scalar, avx2 or avx512, got '" + name + "'");
}

KernelIsa initial_isa() {
  const char* forced = std::getenv("TANDEM_KERNEL_ISA");
  if (!forced || !*forced) return best_kernel_isa();
  KernelIsa isa = isa_named(forced);
  if (!supports(isa))
    throw std::invalid_argument(std::string("TANDEM_KERNEL_ISA=") + forced + ": this processor lacks it");
  return isa;
}

std::atomic<KernelIsa>& current_isa() {
  static std::atomic<KernelIsa> isa{initial_isa()};
  return isa;
}

bool amx_permitted() {
#if defined(__x86_64__) && defined(SYS_arch_prctl)
  unsigned a = 0, b = 0, c = 0, d = 0;
  const bool tile_and_int8 = __get_cpuid_count(7, 0, &a, &b, &c, &d) && (d & (1u << 24)) && (d & (1u << 25));
  constexpr long kRequestPermission = 0x1023, kTileData = 18;  // ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA
  return tile_and_int8 && syscall(SYS_arch_prctl, kRequestPermission, kTileData) == 0;
#else
  return false;
#endif
}

// Off unless asked for: on this project's Sapphire Rapids VM the AMX kernels are slower than
// the VNNI ones (docs/engine.md, "AMX tiles").
std::atomic<bool>& amx_wanted() {
  static std::atomic<bool> wanted{[] {
    const char* env = std::getenv("TANDEM_AMX");
    return env && std::string(env) == "1";
  }()};
  return wanted;
}

}  // namespace

bool amx_available() {
  static const bool available = amx_permitted();
  return available;
}

bool amx_in_use() {
  return amx_wanted().load(std::memory_order_relaxed) && kernel_isa() == KernelIsa::Avx512Vnni && amx_available();
}

void set_amx(bool on) {
  if (on && !amx_available()) throw std::invalid_argument("this processor or kernel offers no AMX tiles");
  amx_wanted().store(on, std::memory_order_relaxed);
}

KernelIsa best_kernel_isa() {
  if (supports(KernelIsa::Avx512Vnni)) return KernelIsa::Avx512Vnni;
  if (supports(KernelIsa::Avx2)) return KernelIsa::Avx2;
  return KernelIsa::Scalar;
}

KernelIsa kernel_isa() { return current_isa().load(std::memory_order_relaxed); }

void set_kernel_isa(KernelIsa isa) {
  if (!supports(isa)) throw std::invalid_argument(std::string("this processor lacks ") + kernel_isa_name(isa));
  current_isa().store(isa, std::memory_order_relaxed);
}

const char* kernel_isa_name(KernelIsa isa) {
  switch (isa) {
    case KernelIsa::Scalar: return "scalar";
    case KernelIsa::Avx2: return "avx2";
    case KernelIsa::Avx512Vnni: return "avx512-vnni";
  }
  return "?";
}

}  // namespace tandem
