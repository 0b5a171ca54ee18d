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

}  // namespace flowstyle::models
