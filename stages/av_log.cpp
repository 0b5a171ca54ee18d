#include "stages/av_log.hpp"

#include <cstdarg>
#include <cstdio>

extern "C" {
#include <libavutil/log.h>
}

namespace flowstyle::stages {
namespace {

// The last error libav logged on this thread: folded into the exception of the call
// that failed (av::check), so the user's one line says why ("baseline profile doesn't
// support 4:4:4") without libav's own line being the only place it shows.
thread_local std::string tLastError;

void logCallback(void* avcl, int level, const char* fmt, va_list vl) {
  if (level <= AV_LOG_ERROR) {
    va_list copy;
    va_copy(copy, vl);
    char line[1024];
    int printPrefix = 1;
    av_log_format_line2(avcl, level, fmt, copy, line, sizeof line, &printPrefix);
    va_end(copy);
    std::string text(line);
    while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
    // "[libx264 @ 0x55d028d2a4c0] reason" -> "libx264: reason"
    if (text.size() > 1 && text[0] == '[') {
      const auto at = text.find(" @ 0x");
      const auto close = text.find("] ");
      if (at != std::string::npos && close != std::string::npos && at < close)
        text = text.substr(1, at - 1) + ": " + text.substr(close + 2);
    }
    // Keep the first few errors since the last call (the first is usually the reason).
    if (!text.empty() && tLastError.size() < 400) tLastError += (tLastError.empty() ? "" : "; ") + text;
  }
  av_log_default_callback(avcl, level, fmt, vl);
}

}  // namespace

void setLibavLogLevel(LibavLog level) {
  av_log_set_callback(logCallback);
  switch (level) {
    case LibavLog::Quiet: av_log_set_level(AV_LOG_QUIET); break;
    case LibavLog::Errors: av_log_set_level(AV_LOG_ERROR); break;
    case LibavLog::Warnings: av_log_set_level(AV_LOG_WARNING); break;
    case LibavLog::Info: av_log_set_level(AV_LOG_INFO); break;
    case LibavLog::Verbose: av_log_set_level(AV_LOG_VERBOSE); break;
  }
}

std::string takeLibavError() {
  std::string text;
  text.swap(tLastError);
  return text;
}

void clearLibavError() { tLastError.clear(); }

}  // namespace flowstyle::stages
