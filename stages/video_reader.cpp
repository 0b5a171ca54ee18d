#include "stages/video_reader.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>
#include <stdexcept>
#include <string>
#include <system_error>

#include "stages/av_ptr.hpp"
#include "stages/sequence_pattern.hpp"

extern "C" {
#include <libavutil/display.h>
#include <libavutil/pixdesc.h>
}

namespace flowstyle::stages {
namespace fs = std::filesystem;

namespace {

Rational toRational(AVRational r) { return Rational{r.num, r.den}; }

// Counter-clockwise display rotation of a stream, normalized to 0/90/180/270.
double streamRotation(const AVStream* st) {
  size_t size = 0;
  const uint8_t* data = av_stream_get_side_data(st, AV_PKT_DATA_DISPLAYMATRIX, &size);
  if (data == nullptr || size < 9 * sizeof(int32_t)) return 0;
  const double angle = av_display_rotation_get(reinterpret_cast<const int32_t*>(data));
  if (std::isnan(angle)) return 0;
  long quarter = std::lround(angle / 90.0) % 4;
  if (quarter < 0) quarter += 4;
  return static_cast<double>(quarter * 90);
}

bool isYuv(AVPixelFormat fmt) {
  const AVPixFmtDescriptor* d = av_pix_fmt_desc_get(fmt);
  return d != nullptr && !(d->flags & AV_PIX_FMT_FLAG_RGB) && d->nb_components >= 3;
}

// Checks what can be checked on the file system, with a precise message.
void checkInputPath(const std::string& path) {
  std::error_code ec;
  if (path.empty()) throw std::runtime_error("video reader: no input path given");
  if (path.find('%') != std::string::npos) {
    const std::string problem = sequencePatternProblem(path);
    if (!problem.empty()) throw std::runtime_error(path + ": " + problem);
    fs::path parent = fs::path(path).parent_path();
    if (!parent.empty() && !fs::is_directory(parent, ec))
      throw std::runtime_error(path + ": folder '" + parent.string() +
                               "' of the image-sequence pattern does not exist");
    return;
  }
  if (!fs::exists(path, ec)) throw std::runtime_error(path + ": file does not exist");
  if (fs::is_directory(path, ec))
    throw std::runtime_error(path +
                             ": is a directory, not a video file (for an image sequence "
                             "give a pattern such as " +
                             (fs::path(path) / "%05d.png").string() + ")");
  if (fs::is_regular_file(path, ec) && fs::file_size(path, ec) == 0 && !ec)
    throw std::runtime_error(path + ": empty file (0 bytes)");
}

}  // namespace

struct VideoReader::Impl {
  ReaderConfig cfg;
  VideoInfo info;
  av::InputFormatPtr fmt;
  av::CodecContextPtr dec;
  av::FramePtr frame = av::allocFrame();
  av::PacketPtr pkt = av::allocPacket();
  av::SwsPtr sws;
  int swsW = 0, swsH = 0, swsFmt = -1;
  int streamIndex = -1;
  AVRational tb{1, 1};

  // Selection, in decode-order indices and stream time-base units.
  bool hasStart = false, hasEnd = false;
  std::int64_t startTs = 0, endTs = 0;  // deliver startTs <= pts < endTs
  std::int64_t first = 0, last = -1;

  std::int64_t decodedCount = 0;    // frames out of the decoder (after a seek: unknown base)
  std::int64_t deliveredCount = 0;
  std::int64_t lastPts = AV_NOPTS_VALUE;
  std::int64_t lastDuration = 0;
  std::int64_t decodeErrors = 0;
  std::string lastError;
  bool flushing = false;  // sent the null packet
  bool done = false;
  bool seeked = false;

  std::int64_t defaultFrameDuration() const {
    if (info.avgFrameRate.valid() && info.avgFrameRate.num > 0)
      return std::max<std::int64_t>(
          1, av_rescale_q(1, AVRational{info.avgFrameRate.den, info.avgFrameRate.num}, tb));
    return 1;
  }

  void open() {
    const std::string& path = cfg.path;
    checkInputPath(path);

    const AVInputFormat* forced = nullptr;
    if (path.find('%') != std::string::npos) forced = av_find_input_format("image2");
    AVFormatContext* raw = nullptr;
    int ret = avformat_open_input(&raw, path.c_str(), forced, nullptr);
    if (ret < 0) {
      if (forced != nullptr && ret == AVERROR(ENOENT))
        throw std::runtime_error(path + ": no image files match the pattern");
      throw std::runtime_error(path + ": not a media file FFmpeg can read, or damaged (" +
                               av::errorText(ret) + ")");
    }
    fmt.reset(raw);
    ret = avformat_find_stream_info(fmt.get(), nullptr);
    if (ret < 0)
      throw std::runtime_error(path + ": cannot read stream information (" +
                               av::errorText(ret) + "); not a media file, or damaged");

    // The best video stream that is not cover art.
    const AVCodec* codec = nullptr;
    streamIndex = av_find_best_stream(fmt.get(), AVMEDIA_TYPE_VIDEO, -1, -1, &codec, 0);
    if (streamIndex >= 0 &&
        (fmt->streams[streamIndex]->disposition & AV_DISPOSITION_ATTACHED_PIC)) {
      streamIndex = -1;
      for (unsigned i = 0; i < fmt->nb_streams; ++i) {
        const AVStream* s = fmt->streams[i];
        if (s->codecpar->codec_type == AVMEDIA_TYPE_VIDEO &&
            !(s->disposition & AV_DISPOSITION_ATTACHED_PIC)) {
          streamIndex = static_cast<int>(i);
          codec = avcodec_find_decoder(s->codecpar->codec_id);
          break;
        }
      }
    }
    if (streamIndex == AVERROR_DECODER_NOT_FOUND)
      throw std::runtime_error(path + ": no decoder for the video stream in this FFmpeg build");
    if (streamIndex < 0) throw std::runtime_error(path + ": no video stream");
    AVStream* st = fmt->streams[streamIndex];
    if (codec == nullptr)
      throw std::runtime_error(path + ": no decoder for video codec '" +
                               avcodec_get_name(st->codecpar->codec_id) + "'");
    for (unsigned i = 0; i < fmt->nb_streams; ++i)
      if (static_cast<int>(i) != streamIndex) fmt->streams[i]->discard = AVDISCARD_ALL;

    tb = st->time_base;
    if (tb.num <= 0 || tb.den <= 0) tb = AVRational{1, AV_TIME_BASE};

    dec = av::allocCodecContext(codec);
    av::check(avcodec_parameters_to_context(dec.get(), st->codecpar),
              "avcodec_parameters_to_context", path);
    dec->pkt_timebase = tb;
    dec->thread_count = 0;  // libav picks
    av::check(avcodec_open2(dec.get(), codec, nullptr), "avcodec_open2 (video decoder)", path);

    const AVCodecParameters* par = st->codecpar;
    if ((par->width > 0 && par->width < 2) || (par->height > 0 && par->height < 2))
      throw std::runtime_error(path + ": video too small: " + std::to_string(par->width) + "x" +
                               std::to_string(par->height) + " (need at least 2x2)");

    info.path = path;
    info.width = par->width;
    info.height = par->height;
    info.timeBase = toRational(tb);
    AVRational fr = st->avg_frame_rate;
    if (fr.num <= 0 || fr.den <= 0) fr = av_guess_frame_rate(fmt.get(), st, nullptr);
    if (fr.num > 0 && fr.den > 0) info.avgFrameRate = toRational(fr);
    AVRational sar = av_guess_sample_aspect_ratio(fmt.get(), st, nullptr);
    info.sampleAspect = (sar.num > 0 && sar.den > 0) ? toRational(sar) : Rational{0, 1};
    info.rotationDegrees = streamRotation(st);
    info.color.range = par->color_range;
    info.color.primaries = par->color_primaries;
    info.color.transfer = par->color_trc;
    info.color.space = par->color_space;
    info.codecName = avcodec_get_name(par->codec_id);
    info.startPts = st->start_time != AV_NOPTS_VALUE ? st->start_time : 0;
    if (st->duration != AV_NOPTS_VALUE && st->duration > 0) {
      info.durationPts = st->duration;
    } else if (fmt->duration != AV_NOPTS_VALUE && fmt->duration > 0) {
      info.durationPts = av_rescale_q(fmt->duration, AV_TIME_BASE_Q, tb);
    }
    if (st->nb_frames > 0) {
      info.frameCountEstimate = st->nb_frames;
    } else if (info.durationPts > 0 && fr.num > 0 && fr.den > 0) {
      // duration * fps, rounded: duration in tb units times fr = frames.
      info.frameCountEstimate = av_rescale_q(info.durationPts, tb, AVRational{fr.den, fr.num});
    }
    for (unsigned i = 0; i < fmt->nb_streams; ++i)
      if (fmt->streams[i]->codecpar->codec_type == AVMEDIA_TYPE_AUDIO) info.hasAudio = true;
    for (const AVDictionaryEntry* e = nullptr;
         (e = av_dict_get(fmt->metadata, "", e, AV_DICT_IGNORE_SUFFIX)) != nullptr;)
      info.tags[e->key] = e->value;

    setupSelection();
  }

  void setupSelection() {
    const FrameSelection& s = cfg.selection;
    first = std::max<std::int64_t>(0, s.first);
    last = s.last;
    if (last >= 0 && last < first)
      throw std::runtime_error(cfg.path + ": empty frame range " + std::to_string(s.first) + "-" +
                               std::to_string(s.last));
    auto seconds = [&](double v, const char* what) {
      if (!std::isfinite(v) || v < 0)
        throw std::runtime_error(cfg.path + ": " + what + " must be a finite number >= 0");
      return av_rescale_q(std::llround(v * 1e6), AV_TIME_BASE_Q, tb);
    };
    if (s.startSeconds) {
      hasStart = true;
      startTs = info.startPts + seconds(*s.startSeconds, "start time");
    }
    if (s.durationSeconds) {
      hasEnd = true;
      const std::int64_t from = hasStart ? startTs : info.startPts;
      endTs = from + seconds(*s.durationSeconds, "duration");
    }
    // Seek only when frame numbers need not be counted from the beginning.
    if (hasStart && first == 0 && last < 0 && startTs > info.startPts) {
      if (av_seek_frame(fmt.get(), streamIndex, startTs, AVSEEK_FLAG_BACKWARD) >= 0) {
        avcodec_flush_buffers(dec.get());
        seeked = true;
      }
    }
  }

  std::int64_t expectedFrames() const {
    const std::int64_t total = info.frameCountEstimate;
    std::int64_t n = -1;
    // Index range.
    if (total >= 0) {
      const std::int64_t lastIdx = last >= 0 ? std::min(last, total - 1) : total - 1;
      n = std::max<std::int64_t>(0, lastIdx - first + 1);
    } else if (last >= 0) {
      n = last - first + 1;
    }
    if (!hasStart && !hasEnd) return n;
    // Time window, estimated with the average frame rate.
    if (!info.avgFrameRate.valid() || info.avgFrameRate.num <= 0) return n;
    const AVRational frameDur{info.avgFrameRate.den, info.avgFrameRate.num};
    const std::int64_t from = hasStart ? startTs : info.startPts;
    // First frame index in the window: ceil((from - startPts) / frameDur).
    std::int64_t firstIdx = av_rescale_q_rnd(from - info.startPts, tb, frameDur,
                                             static_cast<AVRounding>(AV_ROUND_UP));
    std::int64_t endIdx = std::numeric_limits<std::int64_t>::max();  // exclusive
    if (hasEnd)
      endIdx = av_rescale_q_rnd(endTs - info.startPts, tb, frameDur,
                                static_cast<AVRounding>(AV_ROUND_UP));
    if (total >= 0) endIdx = std::min(endIdx, total);
    if (last >= 0) endIdx = std::min(endIdx, last + 1);
    firstIdx = std::max(firstIdx, first);
    if (endIdx == std::numeric_limits<std::int64_t>::max()) return -1;
    return std::max<std::int64_t>(0, endIdx - firstIdx);
  }

  cv::Mat toRgb(const AVFrame* f) {
    if (f->width < 2 || f->height < 2)
      throw std::runtime_error(cfg.path + ": video too small: " + std::to_string(f->width) + "x" +
                               std::to_string(f->height) + " (need at least 2x2)");
    if (!sws || f->width != swsW || f->height != swsH || f->format != swsFmt) {
      const auto src = static_cast<AVPixelFormat>(f->format);
      sws.reset(sws_getContext(f->width, f->height, src, f->width, f->height, AV_PIX_FMT_RGB24,
                               SWS_BICUBIC | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INT, nullptr,
                               nullptr, nullptr));
      if (!sws)
        throw std::runtime_error(cfg.path + ": cannot convert pixel format '" +
                                 (av_get_pix_fmt_name(src) ? av_get_pix_fmt_name(src) : "?") +
                                 "' to RGB");
      if (isYuv(src)) {
        const int space = f->colorspace != AVCOL_SPC_UNSPECIFIED ? f->colorspace
                                                                 : dec->colorspace;
        const int srcFull = (f->color_range == AVCOL_RANGE_JPEG ||
                             src == AV_PIX_FMT_YUVJ420P || src == AV_PIX_FMT_YUVJ422P ||
                             src == AV_PIX_FMT_YUVJ444P)
                                ? 1
                                : 0;
        const int* coeffs = sws_getCoefficients(space);
        sws_setColorspaceDetails(sws.get(), coeffs, srcFull, sws_getCoefficients(SWS_CS_DEFAULT),
                                 1, 0, 1 << 16, 1 << 16);
      }
      swsW = f->width;
      swsH = f->height;
      swsFmt = f->format;
    }
    cv::Mat rgb(f->height, f->width, CV_8UC3);
    uint8_t* dst[4] = {rgb.data, nullptr, nullptr, nullptr};
    int dstStride[4] = {static_cast<int>(rgb.step[0]), 0, 0, 0};
    sws_scale(sws.get(), f->data, f->linesize, 0, f->height, dst, dstStride);
    return rgb;
  }

  // Handles one decoded frame; returns a Frame when it is selected.
  std::optional<Frame> take(AVFrame* f) {
    const std::int64_t n = decodedCount++;
    std::int64_t pts = f->best_effort_timestamp;
    if (pts == AV_NOPTS_VALUE) pts = f->pts;
    if (pts == AV_NOPTS_VALUE) {
      pts = lastPts == AV_NOPTS_VALUE ? info.startPts
                                      : lastPts + (lastDuration > 0 ? lastDuration
                                                                    : defaultFrameDuration());
    } else if (lastPts != AV_NOPTS_VALUE && pts <= lastPts) {
      pts = lastPts + 1;  // keep pts strictly increasing (muxers require it)
    }
    std::int64_t duration = f->pkt_duration > 0 ? f->pkt_duration : 0;
    lastPts = pts;
    lastDuration = duration;

    if (!seeked && n < first) return std::nullopt;
    if (!seeked && last >= 0 && n > last) {
      done = true;
      return std::nullopt;
    }
    if (hasStart && pts < startTs) return std::nullopt;
    if (hasEnd && pts >= endTs) {
      done = true;
      return std::nullopt;
    }
    Frame out;
    out.rgb = toRgb(f);
    out.index = deliveredCount++;
    out.pts = pts;
    out.duration = duration;
    out.timeBase = info.timeBase;
    if (!seeked && last >= 0 && n == last) done = true;
    return out;
  }

  std::optional<Frame> next() {
    int idleErrors = 0;
    while (!done) {
      int ret = avcodec_receive_frame(dec.get(), frame.get());
      if (ret >= 0) {
        idleErrors = 0;
        std::optional<Frame> out = take(frame.get());
        av_frame_unref(frame.get());
        if (out) return out;
        continue;
      }
      if (ret == AVERROR_EOF) {
        done = true;
        break;
      }
      if (ret != AVERROR(EAGAIN)) {
        if (ret == AVERROR_INVALIDDATA || ret == AVERROR_PATCHWELCOME || ret == AVERROR(EIO)) {
          ++decodeErrors;
          lastError = av::errorText(ret);
          if (++idleErrors > 10000) done = true;  // never spin on garbage
          continue;
        }
        throw std::runtime_error(cfg.path + ": decoding failed after frame " +
                                 std::to_string(decodedCount) + ": " + av::errorText(ret));
      }
      if (flushing) {  // EAGAIN while draining should not happen; stop rather than spin
        done = true;
        break;
      }
      feed();
    }
    if (deliveredCount == 0 && decodedCount == 0) {
      std::string why = cfg.path + ": no decodable video frames (truncated or damaged file?";
      why += lastError.empty() ? ")" : " last error: " + lastError + ")";
      throw std::runtime_error(why);
    }
    return std::nullopt;
  }

  // Sends the next video packet (or the flush packet at the end) to the decoder.
  void feed() {
    for (int tries = 0;; ++tries) {
      int ret = av_read_frame(fmt.get(), pkt.get());
      if (ret == AVERROR(EAGAIN) && tries < 1000) continue;
      if (ret < 0) {
        // EOF, or a truncated / damaged file: decode what we have.
        if (ret != AVERROR_EOF) lastError = av::errorText(ret);
        avcodec_send_packet(dec.get(), nullptr);
        flushing = true;
        return;
      }
      if (pkt->stream_index != streamIndex) {
        av_packet_unref(pkt.get());
        continue;
      }
      ret = avcodec_send_packet(dec.get(), pkt.get());
      av_packet_unref(pkt.get());
      if (ret >= 0 || ret == AVERROR(EAGAIN)) return;
      if (ret == AVERROR_EOF) {
        flushing = true;
        return;
      }
      if (ret == AVERROR_INVALIDDATA || ret == AVERROR_PATCHWELCOME) {
        ++decodeErrors;  // skip the damaged packet
        lastError = av::errorText(ret);
        if (tries > 100000) {
          avcodec_send_packet(dec.get(), nullptr);
          flushing = true;
          return;
        }
        continue;
      }
      throw std::runtime_error(cfg.path + ": decoding failed after frame " +
                               std::to_string(decodedCount) + ": " + av::errorText(ret));
    }
  }
};

VideoReader::VideoReader(const ReaderConfig& config) : impl_(std::make_unique<Impl>()) {
  impl_->cfg = config;
  impl_->open();
}

VideoReader::~VideoReader() = default;

const VideoInfo& VideoReader::info() const { return impl_->info; }

std::int64_t VideoReader::expectedFrames() const { return impl_->expectedFrames(); }

std::optional<Frame> VideoReader::next() { return impl_->next(); }

}  // namespace flowstyle::stages
