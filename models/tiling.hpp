#pragma once
// How the fast network's frame splits into tiles (FastNetworkOptions::tile): the geometry
// alone, shared by the network and the memory estimate. Torch-free.
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

struct TileGrid {
  int tile = 0;             // the side asked for (px)
  int cols = 1, rows = 1;
  std::vector<int> xs, ys;  // core boundaries, cols + 1 and rows + 1 values, multiples of 4
  bool tiled() const { return cols * rows > 1; }
  int coreWidth(int c) const { return xs[c + 1] - xs[c]; }
  int coreHeight(int r) const { return ys[r + 1] - ys[r]; }
  // "4x3 tiles of 1024 px, halo 16"
  std::string describe() const;
};

// Cores of at most `tile` px (rounded down to a multiple of 4, at least 4) covering a
// w x h network input (w, h multiples of 4), spread evenly.
TileGrid fastTileGrid(int w, int h, int tile);

// The network's input for a frame of w x h with a border pad of `pad` px (already resolved
// by borderPadFor): the padded size, rounded up to multiples of 4.
void fastNetworkInputSize(int w, int h, int pad, int& outW, int& outH);

}  // namespace flowstyle::models
