#pragma once
// The JSON the commands print (progress lines, batch and eval results, farm status, the
// bench's --json lines), written by nlohmann-json as every JSON the tool reads is read.
// ordered_json keeps members in the order they are added: the order the docs and tests
// show. One object per line, compact.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>

#include <nlohmann/json.hpp>

namespace flowstyle::tools {

using Json = nlohmann::ordered_json;

// `v` rounded as printf's `format` ("%.4f", "%.6g") prints it, as a number again: the line
// shows the digits the format showed, without trailing zeros (nlohmann prints the shortest
// form that reads back the same double). NaN and infinity stay as they are (null in JSON).
inline double printedAs(const char* format, double v) {
  if (!std::isfinite(v)) return v;
  char text[64];
  std::snprintf(text, sizeof text, format, v);
  return std::strtod(text, nullptr);
}

// One line of JSON. Bytes that are not UTF-8 (a path in another encoding) become U+FFFD,
// so the line stays valid JSON.
inline std::string jsonLine(const Json& j) { return j.dump(-1, ' ', false, Json::error_handler_t::replace); }

}  // namespace flowstyle::tools
