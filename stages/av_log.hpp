#pragma once
// How much libav (FFmpeg) prints on stderr. libav's default is "info", which makes
// encoders such as libx264 print statistics; a CLI will usually want Errors or Quiet.
// Process-wide (libav's log level is global); no libav types here.
namespace flowstyle::stages {

enum class LibavLog { Quiet, Errors, Warnings, Info, Verbose };

void setLibavLogLevel(LibavLog level);

}  // namespace flowstyle::stages
