#pragma once
// SHA-256 (FIPS 180-4) of a file, for the checksums the model store records of the files a
// model was imported from.
#include <string>

namespace flowstyle::models {

// Lower-case hex digest of the file's bytes. Throws std::runtime_error "PATH: cannot read".
std::string sha256File(const std::string& path);
// Lower-case hex digest of `bytes`.
std::string sha256Hex(const std::string& bytes);

}  // namespace flowstyle::models
