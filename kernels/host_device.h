#pragma once
// TANDEM_HD marks a function nvcc compiles for the host and the device alike; plain C++
// (the CPU build, the SIMT emulator) sees an inline function.
#if defined(__CUDACC__)
#define TANDEM_HD __host__ __device__ inline
#else
#define TANDEM_HD inline
#endif
