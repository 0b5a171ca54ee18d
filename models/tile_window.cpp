#include "models/tile_window.hpp"

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "models/image_tensor.hpp"

namespace flowstyle::models {

torch::Tensor cut(const torch::Tensor& t, const Box& have, const Box& want) {
  TORCH_CHECK(want.y.lo >= have.y.lo && want.y.hi <= have.y.hi && want.x.lo >= have.x.lo &&
                  want.x.hi <= have.x.hi && want.y.size() > 0 && want.x.size() > 0,
              "tiled network: a tile reads outside what was computed");
  return t.narrow(2, want.y.lo - have.y.lo, want.y.size()).narrow(3, want.x.lo - have.x.lo, want.x.size());
}

torch::Tensor reflectedWindow(const torch::Tensor& t, const Box& have, const Box& need, const Box& frame) {
  const Box in = clipBox(need, frame);
  const torch::Tensor v = cut(t, have, in);
  const std::int64_t top = in.y.lo - need.y.lo, bottom = need.y.hi - in.y.hi;
  const std::int64_t left = in.x.lo - need.x.lo, right = need.x.hi - in.x.hi;
  return top || bottom || left || right ? reflectPad2d(v, left, right, top, bottom) : v;
}

void releaseFreedHeap() {
#if defined(__GLIBC__)
  malloc_trim(0);
#endif
}

}  // namespace flowstyle::models
