#pragma once
// LibTorch's CPU kernels run on OpenMP (libgomp in Debian's build). libgomp's default
// wait policy spins between parallel regions; next to the other threads of the pipeline
// (TBB flow tasks, the encoder's threads) that spinning starves them. Measured on this
// 2-core machine under load: the fast method at 320x180 took 49 s for 20 frames with
// 2 threads and the default policy, 10 s with OMP_WAIT_POLICY=PASSIVE.
// libgomp reads the variable only when it is loaded, so the process re-executes itself
// once with it set (unless the user set it), only for commands that run LibTorch:
// loading LibTorch a second time costs about 1.3 s here.
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
