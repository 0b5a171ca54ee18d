#include "tools/errors.hpp"

#include <cstdio>
#include <new>
#include <regex>
#include <stdexcept>

#include <c10/util/Exception.h>
#include <opencv2/core.hpp>

namespace flowstyle::tools {
namespace {

std::string gigabytes(double bytes) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.2f GiB", bytes / (1024.0 * 1024.0 * 1024.0));
  return buf;
}

const char* kOutOfMemoryHint =
    "lower --max-side (or --size), use --loss-net squeezenet, or check the estimate: run without --force";

// LibTorch's CPU allocator: "... can't allocate memory: you tried to allocate 6912000000 bytes. ..."
std::string allocationLine(const std::string& text, const std::string& context) {
  static const std::regex kTried(R"(tried to allocate ([0-9]+) bytes)");
  static const std::regex kCuda(R"(Tried to allocate ([0-9.]+ [KMGT]?i?B))");
  std::smatch m;
  std::string what = "out of memory";
  if (std::regex_search(text, m, kTried)) what += ": cannot allocate " + gigabytes(std::stod(m[1].str()));
  else if (std::regex_search(text, m, kCuda)) what = "out of GPU memory: cannot allocate " + m[1].str();
  return context + ": " + what + " (" + kOutOfMemoryHint + ")";
}

bool isAllocationFailure(const std::string& text) {
  return text.find("can't allocate memory") != std::string::npos ||
         text.find("out of memory") != std::string::npos || text.find("Cannot allocate memory") != std::string::npos;
}

bool hasLibraryText(const std::string& text) {
  for (const char* marker : {"[enforce fail", "Exception raised from", "\nframe #", "OpenCV("}) {
    if (text.find(marker) != std::string::npos) return true;
  }
  return false;
}

}  // namespace

std::string oneLine(const std::string& text) {
  std::string s = text;
  // LibTorch: "[enforce fail at alloc_cpu.cpp:75] data. " and "Exception raised from ..." tails.
  static const std::regex kEnforce(R"(\[enforce fail at [^\]]*\]\s*(\S+\.\s+)?)");
  s = std::regex_replace(s, kEnforce, "");
  // OpenCV: "OpenCV(4.6.0) /path/file.cpp:123: error: (-215:Assertion failed) cond in function 'f'".
  static const std::regex kOpenCv(R"(OpenCV\([^)]*\)\s+\S+:[0-9]+:\s+error:\s+\(-?[0-9]+:([^)]*)\)\s*)");
  s = std::regex_replace(s, kOpenCv, "OpenCV $1: ");
  for (const char* tail : {"\nException raised from", "\nframe #", " (most recent call first)"}) {
    const auto at = s.find(tail);
    if (at != std::string::npos) s.erase(at);
  }
  // What remains on later lines is folded into the first.
  std::string out;
  bool pendingBreak = false;
  for (char ch : s) {
    if (ch == '\n' || ch == '\r' || ch == '\t') {
      pendingBreak = !out.empty();
      continue;
    }
    if (pendingBreak) {
      if (ch == ' ') continue;
      out += "; ";
      pendingBreak = false;
    }
    out += ch;
  }
  while (!out.empty() && (out.back() == ' ' || out.back() == ';')) out.pop_back();
  return out.empty() ? "unknown error" : out;
}

std::string errorLine(const std::exception_ptr& error, const std::string& context) {
  const std::string where = context.empty() ? "flowstyle" : context;
  try {
    std::rethrow_exception(error);
  } catch (const c10::Error& e) {
    const std::string text = e.what_without_backtrace();
    if (isAllocationFailure(text)) return allocationLine(text, where);
    return where + ": LibTorch: " + oneLine(e.msg());
  } catch (const cv::Exception& e) {
    if (e.code == cv::Error::StsNoMem || isAllocationFailure(e.err)) return allocationLine(e.err, where);
    return where + ": OpenCV" + (e.func.empty() ? "" : " " + e.func) + ": " + oneLine(e.err);
  } catch (const std::bad_alloc&) {
    return allocationLine("", where);
  } catch (const std::exception& e) {
    const std::string text = e.what();
    // Our own messages name their file and stay as they are; a library's text wrapped
    // in one is cleaned.
    if (text.find("tried to allocate") != std::string::npos) return allocationLine(text, where);
    return hasLibraryText(text) ? oneLine(text) : text;
  } catch (...) {
    return where + ": unknown error";
  }
}

std::string errorDetails(const std::exception_ptr& error) {
  try {
    std::rethrow_exception(error);
  } catch (const c10::Error& e) {
    return e.what();
  } catch (const cv::Exception& e) {
    return e.what();
  } catch (const std::exception& e) {
    const std::string text = e.what();
    return hasLibraryText(text) ? text : "";
  } catch (...) {
    return "";
  }
}

}  // namespace flowstyle::tools
