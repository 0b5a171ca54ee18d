#pragma once
// What the user sees when a command fails: one line. Exceptions from the libraries
// (LibTorch's c10::Error, OpenCV's cv::Exception, std::bad_alloc) lose their stack
// traces, "[enforce fail at ...]" and "OpenCV(4.6.0) file:line" prefixes and get the
// file the command was working on in front; --verbose adds the library's full text.
#include <exception>
#include <string>

namespace flowstyle::tools {

// `context`: the file the command was working on (its input), named in front of a
// library message that names nothing itself. Never empty, never more than one line.
std::string errorLine(const std::exception_ptr& error, const std::string& context);

// The library's original text (stack trace included) for --verbose; empty when the
// error is flowstyle's own (its line already says everything).
std::string errorDetails(const std::exception_ptr& error);

// Any message made one line: the first line, stack-frame lines and library prefixes removed.
std::string oneLine(const std::string& text);

}  // namespace flowstyle::tools
