#pragma once
// How much libav (FFmpeg) prints on stderr. libav's default is "info", which makes
// encoders such as libx264 print statistics; a CLI will usually want Errors or Quiet.
// Process-wide (libav's log level is global); no libav types here.
#include <string>

namespace flowstyle::stages {

enum class LibavLog { Quiet, Errors, Warnings, Info, Verbose };

// Also installs a log callback that remembers the last error line per thread.
void setLibavLogLevel(LibavLog level);

// The error lines libav logged on this thread since the last take/clear, joined with
// "; " (empty if none), e.g. "libx264: baseline profile doesn't support 4:4:4"; clears them.
std::string takeLibavError();
void clearLibavError();

}  // namespace flowstyle::stages
