#pragma once
#include <string>

#include <torch/torch.h>

namespace flowstyle::models {

// "auto" (CUDA when available, else CPU), "cpu", "cuda", "cuda:N". Throws on a bad
// spec or when CUDA is asked for and not available, listing what is.
torch::Device resolveDevice(const std::string& spec);
// Sets LibTorch's intra-op threads: n > 0 as given, n == 0: the cores available.
// Returns the number set.
int configureTorchThreads(int n);
// Whether this CPU computes bfloat16 natively (AVX512-BF16 or AMX-BF16, which oneDNN uses
// for bfloat16 convolutions); elsewhere bfloat16 is emulated and no faster than float32.
bool cpuHasNativeBFloat16();

}  // namespace flowstyle::models
