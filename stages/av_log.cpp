#include "stages/av_log.hpp"

extern "C" {
#include <libavutil/log.h>
}

namespace flowstyle::stages {

void setLibavLogLevel(LibavLog level) {
  switch (level) {
    case LibavLog::Quiet: av_log_set_level(AV_LOG_QUIET); break;
    case LibavLog::Errors: av_log_set_level(AV_LOG_ERROR); break;
    case LibavLog::Warnings: av_log_set_level(AV_LOG_WARNING); break;
    case LibavLog::Info: av_log_set_level(AV_LOG_INFO); break;
    case LibavLog::Verbose: av_log_set_level(AV_LOG_VERBOSE); break;
  }
}

}  // namespace flowstyle::stages
