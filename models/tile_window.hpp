#pragma once
// Tensor windows of a tiled network's layers (models/tiling.hpp gives the boxes): what a
// tile's step cuts out of the previous step's values, reflected where it leaves the frame
// as the whole-frame reflection padding does. Shared by the tiled networks.
#include <cstddef>
#include <utility>
#include <vector>

#include <torch/torch.h>

#include "models/tiling.hpp"

namespace flowstyle::models {

// The whole grid of t ([N,C,H,W]).
inline Box frameOf(const torch::Tensor& t) { return {{0, t.size(2)}, {0, t.size(3)}}; }

// t holds the values of `have` (in one layer's grid); returns those of `want` (a view),
// which must lie inside it and be non-empty.
torch::Tensor cut(const torch::Tensor& t, const Box& have, const Box& want);

// Copies `part` into `whole` ([N,C,H,W]) over the box `b` of whole's grid: a tile's output
// put in place.
inline void placeBox(torch::Tensor& whole, const Box& b, const torch::Tensor& part) {
  whole.narrow(2, b.y.lo, b.y.size()).narrow(3, b.x.lo, b.x.size()).copy_(part);
}

// The values over `need`, reflected where `need` leaves `frame`: the window then starts or
// ends at the frame's edge, so reflecting the window is reflecting the frame.
torch::Tensor reflectedWindow(const torch::Tensor& t, const Box& have, const Box& need, const Box& frame);

// The boxes the first `count` steps of a tiled chain compute for the output box `core` (in
// the grid of step count-1's output), the chain's input grid being `frame`: [0] what the
// chain reads of its input, [i + 1] what step i computes (exactly what step i + 1 reads),
// each clipped to its grid. Step is the network's own kind, with these found beside it:
//   Span needSpan(const Step&, const Span& out)   the input rows (or columns) `out` reads,
//                                                 before clipping to the frame
//   Box outFrame(const Step&, const Box& in)      the step's output grid from its input's
//   torch::Tensor runStep(const Step&, const torch::Tensor& x, const Box& have,
//                         const Box& out, const Box& frame)
//                                                 its output over `out` from x (the values
//                                                 of `have` in the grid `frame`)
template <class Step>
std::vector<Box> tileChainBoxes(const std::vector<Step>& steps, std::size_t count, const Box& frame,
                                const Box& core, std::vector<Box>* frames = nullptr) {
  auto need = [](const Step& s, const Box& out) { return Box{needSpan(s, out.y), needSpan(s, out.x)}; };
  std::vector<Box> grids{frame};
  for (std::size_t i = 0; i < count; ++i) grids.push_back(outFrame(steps[i], grids.back()));
  std::vector<Box> want(count + 1);
  want.back() = clipBox(core, grids.back());
  for (std::size_t i = count; i-- > 0;) want[i] = clipBox(need(steps[i], want[i + 1]), grids[i]);
  if (frames) *frames = std::move(grids);
  return want;
}

// The same chain run on x, the values of `have` (which holds what the chain reads for `core`,
// tileChainBoxes(...)[0]) in the input grid `frame`: its output over `core`.
template <class Step>
torch::Tensor runTileChain(const std::vector<Step>& steps, std::size_t count, const torch::Tensor& x,
                           const Box& have, const Box& frame, const Box& core) {
  std::vector<Box> frames;
  const std::vector<Box> want = tileChainBoxes(steps, count, frame, core, &frames);
  torch::Tensor t = cut(x, have, want[0]);
  for (std::size_t i = 0; i < count; ++i) t = runStep(steps[i], t, want[i], want[i + 1], frames[i]);
  return t;
}

// The first `count` steps of a tiled chain on the whole input `whole`, for the output box
// `core`: each step computes exactly what the next one reads.
template <class Step>
torch::Tensor runTileChain(const std::vector<Step>& steps, std::size_t count, const torch::Tensor& whole,
                           const Box& core) {
  return runTileChain(steps, count, whole, frameOf(whole), frameOf(whole), core);
}

// Gives the C heap's free pages back to the system (glibc's malloc_trim; elsewhere nothing).
// WCT-16x calls it after every tile: glibc raises its mmap threshold to the largest
// block freed so far (up to 32 MiB), so a tile's activations come from the heap afterwards
// and what one tile freed stays resident while the next one allocates other sizes.
void releaseFreedHeap();

// How far a chain reads beyond `core` (in its output grid) on its input grid, before and
// after, frame edges ignored: the rows [lo, hi) it reads.
template <class Step>
std::pair<std::int64_t, std::int64_t> readBeyond(const std::vector<Step>& steps, Span core) {
  Span in = core;
  for (std::size_t i = steps.size(); i-- > 0;) in = needSpan(steps[i], in);
  return {in.lo, in.hi};
}

}  // namespace flowstyle::models
