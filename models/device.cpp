#include "models/device.hpp"

#include <ATen/detail/CUDAHooksInterface.h>
#include <sched.h>
#include <torch/version.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>

namespace flowstyle::models {
namespace {

std::string available() {
  std::string s = "cpu";
  const int n = torch::cuda::is_available() ? static_cast<int>(torch::cuda::device_count()) : 0;
  for (int i = 0; i < n; ++i) s += ", cuda:" + std::to_string(i);
  return s;
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

// What this build and machine have for CUDA, for errors: "LibTorch 1.13.0 built without CUDA"
// or "LibTorch 2.11.0 with CUDA 13.0, 0 CUDA devices found".
std::string cudaFound() {
  std::string s = "LibTorch " TORCH_VERSION;
  long runtime = -1;
  try {
    runtime = at::detail::getCUDAHooks().versionCUDART();  // throws without libtorch_cuda
  } catch (const std::exception&) {
  }
  if (runtime < 0) return s + " built without CUDA";
  const int n = static_cast<int>(torch::cuda::device_count());
  return s + " with CUDA " + std::to_string(runtime / 1000) + "." +
         std::to_string(runtime % 1000 / 10) + ", " + std::to_string(n) + " CUDA device" +
         (n == 1 ? "" : "s") + " found";
}

int availableCores() {
#ifdef CPU_COUNT
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0) {
    const int n = CPU_COUNT(&set);
    if (n > 0) return n;
  }
#endif
  const unsigned hw = std::thread::hardware_concurrency();
  return hw > 0 ? static_cast<int>(hw) : 1;
}

}  // namespace

torch::Device resolveDevice(const std::string& specIn) {
  const std::string spec = lower(specIn);
  if (spec == "auto" || spec.empty())
    return torch::cuda::is_available() ? torch::Device(torch::kCUDA, 0) : torch::Device(torch::kCPU);
  if (spec == "cpu") return torch::Device(torch::kCPU);
  if (spec == "cuda" || spec.rfind("cuda:", 0) == 0) {
    int index = 0;
    if (spec.size() > 5) {
      const std::string num = spec.substr(5);
      if (num.empty() || num.size() > 4 ||
          !std::all_of(num.begin(), num.end(), [](unsigned char c) { return std::isdigit(c); }))
        throw std::runtime_error("--device " + specIn +
                                 ": bad device index; use auto, cpu, cuda or cuda:N (available: " +
                                 available() + ")");
      index = std::stoi(num);
    } else if (spec.size() == 5) {  // "cuda:"
      throw std::runtime_error("--device " + specIn + ": missing device index after 'cuda:'");
    }
    if (!torch::cuda::is_available())
      throw std::runtime_error("--device " + specIn + ": CUDA is not available (" + cudaFound() +
                               "); use cpu or auto");
    const int count = static_cast<int>(torch::cuda::device_count());
    if (index >= count)
      throw std::runtime_error("--device " + specIn + ": no such CUDA device (available: " +
                               available() + ")");
    return torch::Device(torch::kCUDA, static_cast<torch::DeviceIndex>(index));
  }
  throw std::runtime_error("--device " + specIn +
                           ": unknown device; use auto, cpu, cuda or cuda:N (available: " +
                           available() + ")");
}

bool cpuHasNativeBFloat16() {
  static const bool has = [] {
    std::ifstream in("/proc/cpuinfo");
    std::string line;
    while (std::getline(in, line)) {
      if (line.rfind("flags", 0) != 0) continue;
      std::istringstream words(line.substr(line.find(':') + 1));
      std::string flag;
      while (words >> flag) {
        if (flag == "avx512_bf16" || flag == "amx_bf16") return true;
      }
      return false;  // the first CPU's flags speak for all
    }
    return false;
  }();
  return has;
}

int configureTorchThreads(int n) {
  if (n < 0)
    throw std::runtime_error("--threads " + std::to_string(n) +
                             ": must be >= 0 (0 = all available cores)");
  const int threads = n > 0 ? n : availableCores();
  torch::set_num_threads(threads);
  return threads;
}

}  // namespace flowstyle::models
