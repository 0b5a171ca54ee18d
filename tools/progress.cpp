#include "tools/progress.hpp"

#include <cmath>
#include <unistd.h>

#include "tools/json_output.hpp"

namespace flowstyle::tools {

std::string formatDuration(double seconds) {
  if (!(seconds >= 0) || !std::isfinite(seconds)) return "--:--";
  const long s = std::lround(seconds);
  char buf[32];
  if (s >= 3600) {
    std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", s / 3600, (s / 60) % 60, s % 60);
  } else {
    std::snprintf(buf, sizeof buf, "%ld:%02ld", s / 60, s % 60);
  }
  return buf;
}

ProgressPrinter::ProgressPrinter(pipeline::ProgressMode mode) : mode_(mode) {
  if (mode_ == pipeline::ProgressMode::Auto) {
    mode_ = ::isatty(STDERR_FILENO) ? pipeline::ProgressMode::Bar : pipeline::ProgressMode::None;
  }
}

void ProgressPrinter::frame(const pipeline::Progress& p) {
  lastFrame_ = p.frame;
  total_ = p.total;
  if (mode_ == pipeline::ProgressMode::Json) {
    const Json line = {{"frame", p.frame},
                       {"total", p.total},
                       {"fps", printedAs("%.4f", p.fps)},
                       {"eta", printedAs("%.1f", p.etaSeconds)},
                       {"elapsed", printedAs("%.1f", p.elapsedSeconds)}};
    std::printf("%s\n", jsonLine(line).c_str());
    std::fflush(stdout);
    return;
  }
  if (mode_ != pipeline::ProgressMode::Bar) return;
  constexpr int kWidth = 28;
  std::string bar;
  if (p.total > 0) {
    const int filled = static_cast<int>(kWidth * std::min<double>(1.0, double(p.frame) / p.total));
    bar = "[" + std::string(filled, '#') + std::string(kWidth - filled, '-') + "] ";
  }
  char buf[160];
  std::snprintf(buf, sizeof buf, "%lld%s%s frames  %.2f fps  ETA %s", static_cast<long long>(p.frame),
                p.total > 0 ? "/" : "", p.total > 0 ? std::to_string(p.total).c_str() : "", p.fps,
                formatDuration(p.etaSeconds).c_str());
  frameText_ = bar + buf;
  std::fprintf(stderr, "\r\033[K%s", frameText_.c_str());
  std::fflush(stderr);
  dirty_ = true;
}

void ProgressPrinter::iteration(const models::OptimizeProgress& p, std::int64_t frame) {
  if (mode_ != pipeline::ProgressMode::Bar) return;
  std::fprintf(stderr, "\r\033[K%s%sframe %lld  iter %d/%d  loss %.4g (content %.3g style %.3g tv %.3g temporal %.3g)",
               frameText_.c_str(), frameText_.empty() ? "" : "  |  ",
               static_cast<long long>(frame), p.iteration, p.iterations, p.loss.total,
               p.loss.content, p.loss.style, p.loss.tv, p.loss.temporal);
  std::fflush(stderr);
  dirty_ = true;
}

void ProgressPrinter::finish() {
  if (dirty_) std::fprintf(stderr, "\n");
  dirty_ = false;
}

}  // namespace flowstyle::tools
