#pragma once
// How a single-pass network's frame splits into tiles (FastNetworkOptions::tile, MicroAST's
// ArbitraryStyleNetwork::setTile): the geometry alone, shared by the networks and the memory
// estimate. Torch-free.
#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

namespace flowstyle::models {

// The most pixels the tiled layers read beyond a tile's core on any side, in the network
// input's pixels: conv1..conv3 read 4 before and 7 after a core, deconv1..conv4 at most 14
// before and 8 after (every core starts on a multiple of 4). The residual blocks between
// them run on the whole quarter-resolution frame.
inline constexpr int kFastTileHalo = 16;
// The smallest and largest --tile: below 64 px the halo recomputed around each core is
// more work than the core itself.
inline constexpr int kMinFastTile = 64;
inline constexpr int kMaxFastTile = 16384;
// MicroAST (models/microast.hpp): the most its tiled parts read beyond a core, in input
// pixels: the content encoder 23 before and 20 after (9x9, two stride-2 3x3 and four 3x3 at
// quarter resolution, all reflection-padded), the decoder 12 (two bilinear x2 upsamplings,
// 3x3 and 9x9). Its AdaIN statistics and modulated residual layers run whole.
inline constexpr int kMicroAstTileHalo = 23;
// Magenta (models/magenta.hpp): the contraction reads 7 before and 4 after a core (9x9 and
// two stride-2 3x3, reflection-padded), the expansion 8 (two nearest x2 upsamplings, two
// 3x3 and a 9x9). Its residual blocks run whole at quarter resolution.
inline constexpr int kMagentaTileHalo = 8;
// WCT-16x (models/wct.hpp): level 5's decoder reads 5 features beyond a core at 1/16
// resolution (conv51, four 3x3 at 1/8, ... after each nearest x2), 80 input pixels; its
// encoder reads 70 (2 + 4 + 16 + 32 + 16 from the 3x3 convs at each resolution). Levels 1..3
// encode again what their decoders read: 2, 8 and 22. Cores start on multiples of 16.
inline constexpr int kWct16xTileHalo = 80;

// multistyle26 (models/multistyle.hpp): the same geometry as Magenta (9x9 and two stride-2
// 3x3 in, two nearest x2 with 3x3 and a 9x9 out, all reflection-padded), 8.
inline constexpr int kMultistyleTileHalo = 8;

// Whether the arbitrary-style network `arch` runs in tiles (ArbitraryStyleNetwork::setTile):
// microast, magenta, wct16x, multistyle26: all of them.
bool arbitraryNetworkTiles(const std::string& arch);

// A half-open range of rows or columns, and a rectangle of them, in one layer's grid.
struct Span {
  std::int64_t lo = 0, hi = 0;
  std::int64_t size() const { return hi - lo; }
};
struct Box {
  Span y, x;
};
inline Box clipBox(const Box& b, const Box& frame) {
  return {{std::max(b.y.lo, frame.y.lo), std::min(b.y.hi, frame.y.hi)},
          {std::max(b.x.lo, frame.x.lo), std::min(b.x.hi, frame.x.hi)}};
}
inline Box grow(const Box& b, std::int64_t by) { return {{b.y.lo - by, b.y.hi + by}, {b.x.lo - by, b.x.hi + by}}; }
inline Box scaled(const Box& b, std::int64_t num, std::int64_t den) {  // exact: callers keep cores aligned
  return {{b.y.lo * num / den, b.y.hi * num / den}, {b.x.lo * num / den, b.x.hi * num / den}};
}

// v / 2 rounded down (also for v < 0: the rows a window reads before the frame).
inline std::int64_t floorHalf(std::int64_t v) { return v >= 0 ? v / 2 : -((1 - v) / 2); }

struct TileGrid {
  int tile = 0;             // the side asked for (px)
  int halo = kFastTileHalo;  // the most a core's computation reads beyond it (px), for describe()
  int cols = 1, rows = 1;
  std::vector<int> xs, ys;  // core boundaries, cols + 1 and rows + 1 values, multiples of `align`
  bool tiled() const { return cols * rows > 1; }
  int coreWidth(int c) const { return xs[c + 1] - xs[c]; }
  int coreHeight(int r) const { return ys[r + 1] - ys[r]; }
  // "4x3 tiles of 1024 px, halo 16"
  std::string describe() const;
  // The core of column c, row r, in input pixels.
  Box core(int c, int r) const { return {{ys[r], ys[r + 1]}, {xs[c], xs[c + 1]}}; }
};

// Cores of at most `tile` px (rounded down to a multiple of `align`, at least `align`)
// covering a w x h network input (w, h multiples of `align`), spread evenly; `halo` as the
// network reads. align: 4 (two stride-2 layers) or 16 (WCT-16x's four max pools).
TileGrid fastTileGrid(int w, int h, int tile, int halo = kFastTileHalo, int align = 4);

// The network's input for a frame of w x h with a border pad of `pad` px (already resolved
// by borderPadFor): the padded size, rounded up to multiples of 4.
void fastNetworkInputSize(int w, int h, int pad, int& outW, int& outH);

}  // namespace flowstyle::models
