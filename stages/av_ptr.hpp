#pragma once
// Ownership of libav handles and libav error codes, in one place.
// Include only from stages/*.cpp: this header pulls in libav.
//
// Every libav handle the stages hold is a std::unique_ptr with a stateless deleter
// declared here; raw av_*_free / *_close calls appear nowhere else.
// avCheck() turns a negative libav return code into std::runtime_error naming the
// file, the call and av_strerror's text. EAGAIN and EOF are states, not errors:
// callers test for them before calling avCheck().
#include <memory>
#include <stdexcept>
#include <string>

#include "stages/av_log.hpp"

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavformat/avio.h>
#include <libavutil/audio_fifo.h>
#include <libavutil/dict.h>
#include <libavutil/error.h>
#include <libavutil/frame.h>
#include <libswresample/swresample.h>
#include <libswscale/swscale.h>
}

namespace flowstyle::stages::av {

// --- deleters -------------------------------------------------------------------------

// An input AVFormatContext (from avformat_open_input).
struct InputFormatDeleter {
  void operator()(AVFormatContext* p) const noexcept { avformat_close_input(&p); }
};
// An output AVFormatContext (from avformat_alloc_output_context2); closes its AVIOContext
// when the format writes to a file.
struct OutputFormatDeleter {
  void operator()(AVFormatContext* p) const noexcept {
    if (p == nullptr) return;
    if (p->oformat != nullptr && !(p->oformat->flags & AVFMT_NOFILE)) avio_closep(&p->pb);
    avformat_free_context(p);
  }
};
struct CodecContextDeleter {
  void operator()(AVCodecContext* p) const noexcept { avcodec_free_context(&p); }
};
struct FrameDeleter {
  void operator()(AVFrame* p) const noexcept { av_frame_free(&p); }
};
struct PacketDeleter {
  void operator()(AVPacket* p) const noexcept { av_packet_free(&p); }
};
struct SwsDeleter {
  void operator()(SwsContext* p) const noexcept { sws_freeContext(p); }
};
struct SwrDeleter {
  void operator()(SwrContext* p) const noexcept { swr_free(&p); }
};
struct AudioFifoDeleter {
  void operator()(AVAudioFifo* p) const noexcept { av_audio_fifo_free(p); }
};

using InputFormatPtr = std::unique_ptr<AVFormatContext, InputFormatDeleter>;
using OutputFormatPtr = std::unique_ptr<AVFormatContext, OutputFormatDeleter>;
using CodecContextPtr = std::unique_ptr<AVCodecContext, CodecContextDeleter>;
using FramePtr = std::unique_ptr<AVFrame, FrameDeleter>;
using PacketPtr = std::unique_ptr<AVPacket, PacketDeleter>;
using SwsPtr = std::unique_ptr<SwsContext, SwsDeleter>;
using SwrPtr = std::unique_ptr<SwrContext, SwrDeleter>;
using AudioFifoPtr = std::unique_ptr<AVAudioFifo, AudioFifoDeleter>;

// An AVDictionary owned by value (libav APIs take AVDictionary**; use .slot()).
class Dict {
 public:
  Dict() = default;
  ~Dict() { av_dict_free(&d_); }
  Dict(const Dict&) = delete;
  Dict& operator=(const Dict&) = delete;
  void set(const std::string& key, const std::string& value) {
    av_dict_set(&d_, key.c_str(), value.c_str(), 0);
  }
  AVDictionary** slot() { return &d_; }
  AVDictionary* get() const { return d_; }
  int count() const { return av_dict_count(d_); }

 private:
  AVDictionary* d_ = nullptr;
};

// --- allocation helpers (never return null) ---------------------------------------------

inline FramePtr allocFrame() {
  FramePtr f(av_frame_alloc());
  if (!f) throw std::runtime_error("av_frame_alloc: out of memory");
  return f;
}
inline PacketPtr allocPacket() {
  PacketPtr p(av_packet_alloc());
  if (!p) throw std::runtime_error("av_packet_alloc: out of memory");
  return p;
}
inline CodecContextPtr allocCodecContext(const AVCodec* codec) {
  CodecContextPtr c(avcodec_alloc_context3(codec));
  if (!c) throw std::runtime_error("avcodec_alloc_context3: out of memory");
  return c;
}

// --- errors ----------------------------------------------------------------------------

// av_strerror's text for a libav return code.
inline std::string errorText(int code) {
  char buf[AV_ERROR_MAX_STRING_SIZE] = {0};
  if (av_strerror(code, buf, sizeof buf) < 0) return "error " + std::to_string(code);
  return buf;
}

// Throws "<path>: <call> failed: <libav text> (<the error libav logged>)" when code < 0;
// returns code otherwise.
inline int check(int code, const char* call, const std::string& path) {
  if (code < 0) {
    const std::string logged = takeLibavError();
    throw std::runtime_error(path + ": " + call + " failed: " + errorText(code) +
                             (logged.empty() ? "" : " (" + logged + ")"));
  }
  clearLibavError();
  return code;
}

}  // namespace flowstyle::stages::av
