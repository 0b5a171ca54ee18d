#pragma once
// Image-sequence patterns (frames/%05d.png) as flowstyle accepts them, checked before
// FFmpeg sees them: FFmpeg's image2 demuxer takes other printf conversions too and, for
// some of them (e.g. "%5s.g"), leaks its I/O context (found by fuzz_sequence_pattern).
#include <string>

namespace flowstyle::stages {

// Empty when `pattern` has exactly one frame-number conversion (%d, %Nd or %0Nd) and
// otherwise only literal "%%"; else what is wrong, e.g. "'%5s' is not a frame number
// (use %d or %05d; %% for a literal %)".
std::string sequencePatternProblem(const std::string& pattern);

}  // namespace flowstyle::stages
