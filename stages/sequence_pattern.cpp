#include "stages/sequence_pattern.hpp"

#include <cctype>

namespace flowstyle::stages {

std::string sequencePatternProblem(const std::string& pattern) {
  int numbers = 0;
  for (std::size_t i = 0; i < pattern.size(); ++i) {
    if (pattern[i] != '%') continue;
    if (i + 1 < pattern.size() && pattern[i + 1] == '%') {
      ++i;  // a literal %
      continue;
    }
    std::size_t j = i + 1;
    while (j < pattern.size() && std::isdigit(static_cast<unsigned char>(pattern[j])) && j - i <= 3) ++j;
    if (j >= pattern.size() || pattern[j] != 'd') {
      const std::string conversion = pattern.substr(i, std::min<std::size_t>(j + 1, pattern.size()) - i);
      return "'" + conversion + "' is not a frame number in the image-sequence pattern (use %d or %05d; %% for a "
             "literal %)";
    }
    ++numbers;
    i = j;
  }
  if (numbers != 1) {
    return "an image-sequence pattern needs exactly one frame number (%d or %05d), this one has " +
           std::to_string(numbers);
  }
  return {};
}

}  // namespace flowstyle::stages
