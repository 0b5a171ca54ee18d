#pragma once
// SHA-256 (FIPS 180-4) of a file, for the checksums the model store records of the files
// a model was imported from (flowstyle.source_sha256).
#include <string>

namespace flowstyle::models {

// Lower-case hex digest of the bytes given.
std::string sha256Hex(const std::string& bytes);
// Of a file's contents, read in blocks. Throws std::runtime_error "PATH: cannot read".
std::string sha256File(const std::string& path);

}  // namespace flowstyle::models
