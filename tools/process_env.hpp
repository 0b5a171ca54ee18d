#pragma once
// LibTorch's CPU kernels run on OpenMP (libgomp in Debian's build). libgomp's default
// wait policy spins between parallel regions; next to the other threads of the pipeline
// (TBB flow tasks, the encoder's threads) that spinning starves them (the cost:
// docs/performance.md).
// libgomp reads the variable only when it is loaded, so the process re-executes itself
// once with it set (unless the user set it), only for commands that run LibTorch (the
// re-execution loads LibTorch a second time).
#include <unistd.h>

#include <cstdlib>

namespace flowstyle::tools {

inline void ensurePassiveOpenMpWait(char** argv) {
  if (std::getenv("OMP_WAIT_POLICY") != nullptr) return;
  ::setenv("OMP_WAIT_POLICY", "PASSIVE", 1);
  ::execv("/proc/self/exe", argv);
  // execv failed (no /proc): go on with the default policy.
}

}  // namespace flowstyle::tools
