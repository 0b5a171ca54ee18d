#include "models/image_tensor.hpp"

#include <algorithm>
#include <cstring>
#include <stdexcept>

namespace flowstyle::models {

torch::Tensor rgbFramesToTensor01(const std::vector<cv::Mat>& frames, const std::string& what) {
  if (frames.empty()) throw std::invalid_argument(what + ": no frames");
  const cv::Size size = frames.front().size();
  torch::Tensor batch =
      torch::empty({static_cast<std::int64_t>(frames.size()), 3, size.height, size.width}, torch::kFloat);
  for (std::size_t i = 0; i < frames.size(); ++i) {
    const cv::Mat& f = frames[i];
    if (f.empty() || f.type() != CV_8UC3)
      throw std::invalid_argument(what + ": frame " + std::to_string(i) + " is not CV_8UC3 RGB");
    if (f.size() != size)
      throw std::invalid_argument(what + ": frame " + std::to_string(i) + " is " + std::to_string(f.cols) + "x" +
                                  std::to_string(f.rows) + ", frame 0 is " + std::to_string(size.width) + "x" +
                                  std::to_string(size.height) + " (a batch must be one size)");
    const torch::Tensor view =
        torch::from_blob(const_cast<std::uint8_t*>(f.ptr<std::uint8_t>()), {f.rows, f.cols, 3},
                         {static_cast<std::int64_t>(f.step1()), 3, 1}, torch::kByte);
    batch[static_cast<std::int64_t>(i)].copy_(view.permute({2, 0, 1}));
  }
  return batch.div_(255.0f);
}

std::vector<cv::Mat> tensor01ToRgbFrames(const torch::Tensor& x) {
  if (x.dim() != 4 || x.size(1) != 3)
    throw std::invalid_argument("tensor01ToRgbFrames: expected [N,3,H,W], got " + std::to_string(x.dim()) + " dims");
  const torch::Tensor bytes =
      x.detach().to(torch::kCPU, torch::kFloat).mul(255.0f).round_().clamp_(0, 255).to(torch::kByte)
          .permute({0, 2, 3, 1}).contiguous();
  std::vector<cv::Mat> out;
  for (std::int64_t i = 0; i < bytes.size(0); ++i) {
    cv::Mat m(static_cast<int>(bytes.size(1)), static_cast<int>(bytes.size(2)), CV_8UC3);
    std::memcpy(m.data, bytes[i].data_ptr<std::uint8_t>(), static_cast<std::size_t>(bytes[i].numel()));
    out.push_back(m);
  }
  return out;
}

// Reflection padding by p on every side, in x's memory format: one copy of x into the
// middle, then the border strips (LibTorch 1.13's reflection_pad2d converts channels-last
// tensors to NCHW and back: half of MicroAST's time at 640x360 before this).
torch::Tensor reflectPad2d(const torch::Tensor& x, std::int64_t p) { return reflectPad2d(x, p, p, p, p); }

torch::Tensor reflectPad2d(const torch::Tensor& x, std::int64_t left, std::int64_t right, std::int64_t top,
                           std::int64_t bottom) {
  const std::int64_t h = x.size(2), w = x.size(3);
  TORCH_CHECK(left >= 0 && right >= 0 && top >= 0 && bottom >= 0 && std::max(top, bottom) < h &&
                  std::max(left, right) < w,
              "reflectPad: pads ", left, ",", right, ",", top, ",", bottom, " need a size above them, got ", h, "x", w);
  torch::Tensor out = torch::empty({x.size(0), x.size(1), h + top + bottom, w + left + right}, x.options(),
                                   x.suggest_memory_format());
  torch::Tensor rows = out.narrow(3, left, w);
  rows.narrow(2, top, h).copy_(x);
  for (std::int64_t i = 1; i <= top; ++i) rows.narrow(2, top - i, 1).copy_(x.narrow(2, i, 1));
  for (std::int64_t i = 1; i <= bottom; ++i) rows.narrow(2, top + h - 1 + i, 1).copy_(x.narrow(2, h - 1 - i, 1));
  for (std::int64_t i = 1; i <= left; ++i) out.narrow(3, left - i, 1).copy_(out.narrow(3, left + i, 1));
  for (std::int64_t i = 1; i <= right; ++i) out.narrow(3, left + w - 1 + i, 1).copy_(out.narrow(3, left + w - 1 - i, 1));
  return out;
}

}  // namespace flowstyle::models
