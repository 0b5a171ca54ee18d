#include "models/tiling.hpp"

#include <algorithm>
#include <stdexcept>

namespace flowstyle::models {
namespace {

std::vector<int> boundaries(int size, int core, int align) {
  if (align <= 0 || size <= 0 || size % align != 0) {
    throw std::invalid_argument("fastTileGrid: the network input must be a positive multiple of " +
                                std::to_string(align) + ", got " + std::to_string(size));
  }
  const int units = size / align, per = std::max(1, core / align);
  const int count = (units + per - 1) / per;
  std::vector<int> b(static_cast<std::size_t>(count) + 1);
  for (int i = 0; i <= count; ++i) b[static_cast<std::size_t>(i)] = align * static_cast<int>(1LL * i * units / count);
  return b;
}

}  // namespace

std::string TileGrid::describe() const {
  return std::to_string(cols) + "x" + std::to_string(rows) + " tiles of " + std::to_string(tile) + " px, halo " +
         std::to_string(halo);
}

bool arbitraryNetworkTiles(const std::string& arch) {
  return arch == "microast" || arch == "magenta" || arch == "wct16x" || arch == "multistyle26";
}

TileGrid fastTileGrid(int w, int h, int tile, int halo, int align) {
  TileGrid g;
  g.tile = tile;
  g.halo = halo;
  g.xs = boundaries(w, tile, align);
  g.ys = boundaries(h, tile, align);
  g.cols = static_cast<int>(g.xs.size()) - 1;
  g.rows = static_cast<int>(g.ys.size()) - 1;
  return g;
}

void fastNetworkInputSize(int w, int h, int pad, int& outW, int& outH) {
  outW = (w + 2 * pad + 3) / 4 * 4;
  outH = (h + 2 * pad + 3) / 4 * 4;
}

}  // namespace flowstyle::models
