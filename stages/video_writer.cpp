#include "stages/video_writer.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>
#include <numeric>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

#include <opencv2/core.hpp>

#include "stages/av_ptr.hpp"
#include "stages/sequence_pattern.hpp"
#include "stages/side_streams.hpp"
#include "stages/temp_files.hpp"

extern "C" {
#include <libavutil/display.h>
#include <libavutil/log.h>
#include <libavutil/opt.h>
#include <libavutil/pixdesc.h>
}

namespace flowstyle::stages {
namespace fs = std::filesystem;

namespace {

constexpr const char* kCodecHint = "try libx264, libx265, ffv1, libvpx-vp9, mpeg4, png";

AVRational toAv(Rational r) { return AVRational{r.num, r.den}; }
bool validTb(AVRational r) { return r.num > 0 && r.den > 0; }

bool isYuv(AVPixelFormat fmt) {
  const AVPixFmtDescriptor* d = av_pix_fmt_desc_get(fmt);
  return d != nullptr && !(d->flags & AV_PIX_FMT_FLAG_RGB) && d->nb_components >= 3;
}

bool codecSupports(const AVCodec* codec, AVPixelFormat fmt) {
  if (codec->pix_fmts == nullptr) return true;  // unknown: let avcodec_open2 decide
  for (const AVPixelFormat* p = codec->pix_fmts; *p != AV_PIX_FMT_NONE; ++p)
    if (*p == fmt) return true;
  return false;
}

std::string pixFmtList(const AVCodec* codec) {
  std::string s;
  if (codec->pix_fmts == nullptr) return s;
  int n = 0;
  for (const AVPixelFormat* p = codec->pix_fmts; *p != AV_PIX_FMT_NONE && n < 12; ++p, ++n) {
    if (!s.empty()) s += ", ";
    s += av_get_pix_fmt_name(*p);
  }
  return s;
}

// The pixel format used when none is asked for: 4:2:0 for the lossy video codecs
// (what players expect), an exactly invertible RGB format for the lossless ones.
AVPixelFormat defaultPixFmt(const AVCodec* codec) {
  const std::string name = codec->name;
  if (name == "ffv1") return AV_PIX_FMT_BGR0;  // FFV1 has no 8-bit gbrp; bgr0 is exact
  if (name == "png" || name == "libx264rgb") {
    if (codecSupports(codec, AV_PIX_FMT_RGB24)) return AV_PIX_FMT_RGB24;
  }
  if (name == "mjpeg" && codecSupports(codec, AV_PIX_FMT_YUVJ420P)) return AV_PIX_FMT_YUVJ420P;
  const bool lossy = !(codec->capabilities & AV_CODEC_CAP_LOSSLESS) &&
                     (name == "libx264" || name == "libx265" || name == "libvpx-vp9" ||
                      name == "libvpx" || name == "mpeg4" || name == "libaom-av1" ||
                      name == "libsvtav1" || name == "librav1e" || name == "libxvid" ||
                      name == "mpeg2video" || name == "h264_nvenc" || name == "hevc_nvenc");
  if (lossy && codecSupports(codec, AV_PIX_FMT_YUV420P)) return AV_PIX_FMT_YUV420P;
  if (codec->pix_fmts == nullptr) return AV_PIX_FMT_YUV420P;
  if (codecSupports(codec, AV_PIX_FMT_RGB24)) return AV_PIX_FMT_RGB24;
  return avcodec_find_best_pix_fmt_of_list(codec->pix_fmts, AV_PIX_FMT_RGB24, 0, nullptr);
}

}  // namespace

struct VideoWriter::Impl {
  WriterConfig cfg;
  VideoInfo src;
  WriterNotes notes;
  std::string finalPath;
  std::string folder;
  bool sequence = false;
  std::string tmpPath;     // temp file, or temp folder for sequences
  TemporaryLock tmpLock;   // held while this writer lives (stale-temporary detection)
  std::string muxTarget;   // what the muxer opens (temp file or pattern in temp folder)
  const AVOutputFormat* ofmt = nullptr;
  const AVCodec* codec = nullptr;
  AVPixelFormat pixFmt = AV_PIX_FMT_NONE;

  av::OutputFormatPtr oc;
  av::CodecContextPtr enc;
  AVStream* vst = nullptr;
  av::SwsPtr sws;
  av::FramePtr encFrame;
  av::PacketPtr pkt = av::allocPacket();
  AVRational encTb{0, 1};
  int width = 0, height = 0;        // frame size
  int encWidth = 0, encHeight = 0;  // padded to what the pixel format needs
  std::int64_t written = 0;
  std::int64_t lastPts = AV_NOPTS_VALUE;
  std::int64_t lastEnd = AV_NOPTS_VALUE;  // last pts + duration, in encTb
  std::int64_t firstPts = AV_NOPTS_VALUE;
  std::map<std::int64_t, std::int64_t> durations;  // pts -> duration, for encoder packets
  bool opened = false;
  bool finished = false;

  // Non-video streams copied (or transcoded) from the source; null: none.
  std::unique_ptr<SideStreams> sides;

  // ------------------------------------------------------------------ construction

  void note(const std::string& text) const {
    if (notes) notes(text);
  }
  void warn(const std::string& what) const { note("warning: " + finalPath + ": " + what); }

  void setup() {
    finalPath = cfg.path;
    if (finalPath.empty()) throw std::runtime_error("video writer: no output path given");
    sequence = finalPath.find('%') != std::string::npos;
    if (sequence) {
      const std::string problem = sequencePatternProblem(finalPath);
      if (!problem.empty()) throw std::runtime_error(finalPath + ": " + problem);
    }
    fs::path p(finalPath);
    folder = p.parent_path().empty() ? std::string(".") : p.parent_path().string();
    std::error_code ec;
    if (!fs::exists(folder, ec))
      throw std::runtime_error(finalPath + ": output folder '" + folder +
                               "' does not exist (create it first)");
    if (!fs::is_directory(folder, ec))
      throw std::runtime_error(finalPath + ": '" + folder + "' is not a folder");
    if (!sequence && fs::is_directory(p, ec))
      throw std::runtime_error(finalPath + ": is a directory; give a file name such as " +
                               (p / "out.mp4").string());

    // Container.
    if (sequence) {
      ofmt = av_guess_format("image2", nullptr, nullptr);
    } else {
      ofmt = av_guess_format(nullptr, finalPath.c_str(), nullptr);
      if (ofmt == nullptr)
        throw std::runtime_error(finalPath + ": unknown container for extension '" +
                                 p.extension().string() +
                                 "' (use .mp4, .mkv, .mov, .webm, .avi, or an image-sequence "
                                 "pattern such as frames/%05d.png)");
    }

    // Codec.
    std::string name = cfg.codec;
    if (name.empty()) {
      if (sequence) {
        const AVCodecID id = av_guess_codec(ofmt, nullptr, finalPath.c_str(), nullptr,
                                            AVMEDIA_TYPE_VIDEO);
        const AVCodec* c = avcodec_find_encoder(id);
        name = c != nullptr ? c->name : "png";
      } else if (std::string(ofmt->name) == "webm") {
        name = "libvpx-vp9";
      } else {
        name = "libx264";
      }
    }
    codec = avcodec_find_encoder_by_name(name.c_str());
    if (codec == nullptr) {
      const AVCodec* d = avcodec_find_decoder_by_name(name.c_str());
      throw std::runtime_error(finalPath + ": unknown codec '" + name + "'" +
                               (d != nullptr ? " (a decoder only)" : "") + " (" + kCodecHint +
                               ")");
    }
    if (codec->type != AVMEDIA_TYPE_VIDEO)
      throw std::runtime_error(finalPath + ": codec '" + name + "' is not a video codec (" +
                               kCodecHint + ")");
    if (avformat_query_codec(ofmt, codec->id, FF_COMPLIANCE_NORMAL) == 0)
      throw std::runtime_error(finalPath + ": container '" + ofmt->name +
                               "' cannot hold codec '" + name + "' (choose another codec or "
                               "file extension; .mkv takes almost anything)");

    // Pixel format.
    if (!cfg.pixFmt.empty()) {
      pixFmt = av_get_pix_fmt(cfg.pixFmt.c_str());
      if (pixFmt == AV_PIX_FMT_NONE)
        throw std::runtime_error(finalPath + ": unknown pixel format '" + cfg.pixFmt + "'");
      if (!codecSupports(codec, pixFmt))
        throw std::runtime_error(finalPath + ": codec '" + name + "' does not take pixel format '" +
                                 cfg.pixFmt + "' (it takes " + pixFmtList(codec) + ")");
    } else {
      pixFmt = defaultPixFmt(codec);
    }

    // Pass-through options: every key must name an option of the codec.
    {
      av::CodecContextPtr probe = av::allocCodecContext(codec);
      for (const auto& [key, value] : cfg.codecOptions) {
        if (av_opt_find(probe.get(), key.c_str(), nullptr, 0, AV_OPT_SEARCH_CHILDREN) == nullptr)
          throw std::runtime_error(finalPath + ": codec option '" + key +
                                   "' is not an option of encoder '" + name + "'");
      }
    }

    // What killed runs left here (their pid is gone): removed, with a note.
    for (const std::string& note : removeStaleTemporaries(folder)) this->note("note: " + note);
    // Temporary output in the destination folder (also proves it is writable).
    if (sequence) {
      tmpPath = (fs::path(folder) / temporaryName(p.filename().string(), "", true)).string();
      // Pattern names may contain '%': keep a folder name without it.
      std::string safe = tmpPath;
      std::replace(safe.begin(), safe.end(), '%', '_');
      tmpPath = safe;
      if (!fs::create_directory(tmpPath, ec) || ec)
        throw std::runtime_error(finalPath + ": output folder '" + folder +
                                 "' is not writable (" + ec.message() + ")");
      muxTarget = (fs::path(tmpPath) / p.filename()).string();
      tmpLock = TemporaryLock(tmpPath);
    } else {
      tmpPath = (fs::path(folder) / temporaryName(p.filename().string(), p.extension().string(), true)).string();
      const int fd = ::open(tmpPath.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0644);
      if (fd < 0)
        throw std::runtime_error(finalPath + ": output folder '" + folder +
                                 "' is not writable (" + std::strerror(errno) + ")");
      ::close(fd);
      tmpLock = TemporaryLock(tmpPath);
      muxTarget = tmpPath;
    }
  }

  void removeTemp() noexcept {
    std::error_code ec;
    if (tmpPath.empty()) return;
    if (sequence)
      fs::remove_all(tmpPath, ec);
    else
      fs::remove(tmpPath, ec);
  }

  // ------------------------------------------------------------------ video encoder

  void openEncoder(const Frame& f) {
    width = f.rgb.cols;
    height = f.rgb.rows;
    const AVPixFmtDescriptor* d = av_pix_fmt_desc_get(pixFmt);
    const int padW = (d != nullptr && d->log2_chroma_w > 0) ? (width & 1) : 0;
    const int padH = (d != nullptr && d->log2_chroma_h > 0) ? (height & 1) : 0;
    encWidth = width + padW;
    encHeight = height + padH;

    encTb = toAv(f.timeBase);
    if (!validTb(encTb)) encTb = toAv(src.timeBase);
    if (!validTb(encTb)) encTb = AVRational{1, 25};

    enc = av::allocCodecContext(codec);
    enc->width = encWidth;
    enc->height = encHeight;
    enc->pix_fmt = pixFmt;
    enc->time_base = encTb;
    if (src.avgFrameRate.valid() && src.avgFrameRate.num > 0)
      enc->framerate = toAv(src.avgFrameRate);
    if (src.sampleAspect.valid() && src.sampleAspect.num > 0)
      enc->sample_aspect_ratio = toAv(src.sampleAspect);
    if (isYuv(pixFmt)) {
      enc->color_range = static_cast<AVColorRange>(src.color.range);
      if (pixFmt == AV_PIX_FMT_YUVJ420P || pixFmt == AV_PIX_FMT_YUVJ422P ||
          pixFmt == AV_PIX_FMT_YUVJ444P)
        enc->color_range = AVCOL_RANGE_JPEG;
      enc->colorspace = static_cast<AVColorSpace>(src.color.space);
    } else {
      enc->colorspace = AVCOL_SPC_RGB;
    }
    enc->color_primaries = static_cast<AVColorPrimaries>(src.color.primaries);
    enc->color_trc = static_cast<AVColorTransferCharacteristic>(src.color.transfer);
    enc->thread_count = 0;
    if (ofmt->flags & AVFMT_GLOBALHEADER) enc->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;

    // Quality settings the codec understands.
    void* priv = enc->priv_data;
    const std::string name = codec->name;
    if (priv != nullptr && av_opt_find(priv, "crf", nullptr, 0, 0) != nullptr) {
      av_opt_set_int(priv, "crf", cfg.crf, 0);
      if (name == "libvpx-vp9" || name == "libvpx") enc->bit_rate = 0;  // constant quality
    } else if (name == "mpeg4" || name == "mpeg2video" || name == "mjpeg" || name == "libxvid") {
      enc->flags |= AV_CODEC_FLAG_QSCALE;
      enc->global_quality = FF_QP2LAMBDA * std::clamp(cfg.crf / 6, 2, 31);
    }
    if (priv != nullptr && !cfg.preset.empty() &&
        av_opt_find(priv, "preset", nullptr, 0, 0) != nullptr && (name == "libx264" ||
                                                                   name == "libx265" ||
                                                                   name == "libx264rgb")) {
      av::check(av_opt_set(priv, "preset", cfg.preset.c_str(), 0), "setting the encoder preset",
                finalPath);
    }
    if ((name == "libvpx-vp9" || name == "libvpx") && priv != nullptr) {
      const bool fast = cfg.preset == "ultrafast" || cfg.preset == "superfast" ||
                        cfg.preset == "veryfast";
      av_opt_set_int(priv, "cpu-used", fast ? 8 : 4, 0);
      av_opt_set(priv, "deadline", fast ? "realtime" : "good", 0);
      if (name == "libvpx-vp9") av_opt_set_int(priv, "row-mt", 1, 0);
    }

    av::Dict opts;
    // x265 logs on its own; follow libav's log level unless the caller sets x265-params.
    if (name == "libx265" && av_log_get_level() < AV_LOG_INFO &&
        cfg.codecOptions.count("x265-params") == 0)
      opts.set("x265-params", "log-level=error");
    for (const auto& [key, value] : cfg.codecOptions) opts.set(key, value);
    av::check(avcodec_open2(enc.get(), codec, opts.slot()), "avcodec_open2 (video encoder)",
              finalPath);
    if (opts.count() > 0) {
      const AVDictionaryEntry* e = av_dict_get(opts.get(), "", nullptr, AV_DICT_IGNORE_SUFFIX);
      throw std::runtime_error(finalPath + ": codec option '" + std::string(e->key) +
                               "' was not used by encoder '" + name + "'");
    }

    encFrame = av::allocFrame();
    encFrame->format = pixFmt;
    encFrame->width = encWidth;
    encFrame->height = encHeight;
    av::check(av_frame_get_buffer(encFrame.get(), 0), "av_frame_get_buffer", finalPath);

    sws.reset(sws_getContext(encWidth, encHeight, AV_PIX_FMT_RGB24, encWidth, encHeight, pixFmt,
                             SWS_BICUBIC | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INP, nullptr,
                             nullptr, nullptr));
    if (!sws)
      throw std::runtime_error(finalPath + ": cannot convert RGB to pixel format '" +
                               av_get_pix_fmt_name(pixFmt) + "'");
    if (isYuv(pixFmt)) {
      const int dstFull = enc->color_range == AVCOL_RANGE_JPEG ? 1 : 0;
      sws_setColorspaceDetails(sws.get(), sws_getCoefficients(SWS_CS_DEFAULT), 1,
                               sws_getCoefficients(enc->colorspace), dstFull, 0, 1 << 16,
                               1 << 16);
    }

    openOutput();
    opened = true;
  }

  // ------------------------------------------------------------------ muxer

  // Builds the output context with the given plan for the source's other streams.
  // Returns false when the header could not be written (caller retries a simpler plan).
  // plan empty: video only.
  bool tryOpenOutput(std::optional<SideStreams::Plan> plan, std::string* error) {
    oc.reset();
    sides.reset();

    AVFormatContext* raw = nullptr;
    av::check(avformat_alloc_output_context2(&raw, ofmt, nullptr, muxTarget.c_str()),
              "avformat_alloc_output_context2", finalPath);
    oc.reset(raw);

    vst = avformat_new_stream(oc.get(), nullptr);
    if (vst == nullptr) throw std::runtime_error(finalPath + ": avformat_new_stream failed");
    av::check(avcodec_parameters_from_context(vst->codecpar, enc.get()),
              "avcodec_parameters_from_context", finalPath);
    vst->time_base = encTb;
    if (std::string(ofmt->name) == "avi" && src.avgFrameRate.valid() &&
        src.avgFrameRate.num > 0)
      vst->time_base = AVRational{src.avgFrameRate.den, src.avgFrameRate.num};
    if (enc->framerate.num > 0) vst->avg_frame_rate = enc->framerate;
    vst->sample_aspect_ratio = enc->sample_aspect_ratio;
    if (src.rotationDegrees != 0) {
      uint8_t* m = av_stream_new_side_data(vst, AV_PKT_DATA_DISPLAYMATRIX, 9 * sizeof(int32_t));
      // av_display_rotation_set takes the angle clockwise, av_display_rotation_get returns
      // it counter-clockwise (libav 5.x): negate so a reader gets rotationDegrees back.
      if (m != nullptr)
        av_display_rotation_set(reinterpret_cast<int32_t*>(m), -src.rotationDegrees);
    }

    if (plan && cfg.copyAudio && !sequence) {
      auto added = std::make_unique<SideStreams>(src.path, oc.get(), finalPath, *plan,
                                                 [this](const std::string& what) { warn(what); });
      if (!added->empty()) sides = std::move(added);
    }

    if (!(ofmt->flags & AVFMT_NOFILE)) {
      av::check(avio_open(&oc->pb, muxTarget.c_str(), AVIO_FLAG_WRITE), "avio_open", finalPath);
    }
    for (const auto& [key, value] : cfg.tags) av_dict_set(&oc->metadata, key.c_str(), value.c_str(), 0);
    av::Dict muxOpts;
    setMovieTimescale(muxOpts);
    int ret = avformat_write_header(oc.get(), muxOpts.slot());
    if (ret < 0) {
      *error = av::errorText(ret);
      return false;
    }
    return true;
  }

  // MP4/MOV store edit lists (the start offset of each track) in the movie time scale,
  // 1/1000 s by default: a track starting between two milliseconds would come back
  // shifted by a tick. A movie time scale that every track's time scale divides keeps
  // every start exact.
  void setMovieTimescale(av::Dict& opts) const {
    // Only where an offset can occur (a late video start, other tracks), so that plain
    // files keep libav's defaults; a large scale can make the muxer use 64-bit boxes.
    if (!videoStartsLate && oc->nb_streams < 2) return;
    if (oc->priv_data == nullptr ||
        av_opt_find(oc->priv_data, "movie_timescale", nullptr, 0, 0) == nullptr)
      return;
    std::int64_t scale = 1000;
    for (unsigned i = 0; i < oc->nb_streams; ++i) {
      const AVStream* st = oc->streams[i];
      std::int64_t track = st->time_base.den;
      if (st->codecpar->codec_type == AVMEDIA_TYPE_VIDEO) {
        while (track > 0 && track < 10000) track *= 2;  // what movenc does
      } else if (st->codecpar->codec_type == AVMEDIA_TYPE_AUDIO &&
                 st->codecpar->sample_rate > 0) {
        track = st->codecpar->sample_rate;
      }
      if (track <= 0) return;
      scale = std::lcm(scale, track);
      if (scale > INT32_MAX) return;  // keep libav's default
    }
    opts.set("movie_timescale", std::to_string(scale));
  }

  void openOutput() {
    std::string error;
    if (tryOpenOutput(SideStreams::Plan::CopyOrTranscode, &error)) return;
    if (sides != nullptr) {
      warn("the container refused the copied audio/subtitle streams (" + error +
                          "); transcoding the audio instead");
      if (tryOpenOutput(SideStreams::Plan::TranscodeAll, &error)) return;
      warn("writing the audio failed too (" + error + "); writing video only");
      if (tryOpenOutput(std::nullopt, &error)) return;
    }
    throw std::runtime_error(finalPath + ": avformat_write_header failed: " + error);
  }

  // The written video so far, for the side streams; its end once finishing.
  VideoSpan videoSpan() const { return {encTb, firstPts, finishing ? lastEnd : AV_NOPTS_VALUE}; }

  bool finishing = false;
  bool videoStartsLate = false;  // first frame pts > 0

  // ------------------------------------------------------------------ video path

  void write(const Frame& f) {
    if (finished) throw std::runtime_error(finalPath + ": write() after finish()");
    if (f.rgb.empty() || f.rgb.type() != CV_8UC3)
      throw std::runtime_error(finalPath + ": frame " + std::to_string(written) +
                               " is not an 8-bit 3-channel RGB image");
    if (!opened) {
      videoStartsLate = f.pts > 0;
      openEncoder(f);
    }
    if (f.rgb.cols != width || f.rgb.rows != height)
      throw std::runtime_error(finalPath + ": frame " + std::to_string(written) + " is " +
                               std::to_string(f.rgb.cols) + "x" + std::to_string(f.rgb.rows) +
                               ", the video is " + std::to_string(width) + "x" +
                               std::to_string(height));

    AVRational ftb = toAv(f.timeBase);
    std::int64_t pts = validTb(ftb) ? av_rescale_q(f.pts, ftb, encTb) : f.pts;
    std::int64_t dur = f.duration > 0 ? (validTb(ftb) ? av_rescale_q(f.duration, ftb, encTb)
                                                      : f.duration)
                                      : 0;
    if (lastPts != AV_NOPTS_VALUE && pts <= lastPts)
      throw std::runtime_error(finalPath + ": frame " + std::to_string(written) + " has pts " +
                               std::to_string(f.pts) + ", not after the previous frame's");
    if (dur <= 0 && enc->framerate.num > 0)
      dur = std::max<std::int64_t>(1, av_rescale_q(1, av_inv_q(enc->framerate), encTb));
    if (firstPts == AV_NOPTS_VALUE) firstPts = pts;
    lastPts = pts;
    lastEnd = pts + dur;
    durations[pts] = dur;

    // RGB -> encoder format, padding odd sizes by edge replication.
    cv::Mat rgb = f.rgb;
    if (encWidth != width || encHeight != height)
      cv::copyMakeBorder(f.rgb, rgb, 0, encHeight - height, 0, encWidth - width,
                         cv::BORDER_REPLICATE);
    av::check(av_frame_make_writable(encFrame.get()), "av_frame_make_writable", finalPath);
    const uint8_t* srcData[4] = {rgb.data, nullptr, nullptr, nullptr};
    const int srcStride[4] = {static_cast<int>(rgb.step[0]), 0, 0, 0};
    sws_scale(sws.get(), srcData, srcStride, 0, encHeight, encFrame->data, encFrame->linesize);
    encFrame->pts = pts;
    encFrame->pkt_duration = dur;
    av::check(avcodec_send_frame(enc.get(), encFrame.get()), "avcodec_send_frame", finalPath);
    ++written;
    drainEncoder();
  }

  void drainEncoder() {
    for (;;) {
      int ret = avcodec_receive_packet(enc.get(), pkt.get());
      if (ret == AVERROR(EAGAIN) || ret == AVERROR_EOF) return;
      av::check(ret, "avcodec_receive_packet", finalPath);
      if (pkt->duration <= 0) {
        auto it = durations.find(pkt->pts);
        if (it != durations.end()) pkt->duration = it->second;
      }
      durations.erase(pkt->pts);
      // Audio up to this packet's time first, so the file is interleaved.
      const std::int64_t t = pkt->dts != AV_NOPTS_VALUE ? pkt->dts : pkt->pts;
      if (t != AV_NOPTS_VALUE && sides != nullptr) sides->pump(t, videoSpan());
      pkt->stream_index = vst->index;
      av_packet_rescale_ts(pkt.get(), encTb, vst->time_base);
      ret = av_interleaved_write_frame(oc.get(), pkt.get());
      av_packet_unref(pkt.get());
      av::check(ret, "writing a video packet", finalPath);
    }
  }

  void finish() {
    if (finished) return;
    if (!opened)
      throw std::runtime_error(finalPath + ": no frames were written; nothing to finish");
    finishing = true;
    av::check(avcodec_send_frame(enc.get(), nullptr), "flushing the video encoder", finalPath);
    drainEncoder();
    if (sides != nullptr) sides->finish(videoSpan());
    av::check(av_write_trailer(oc.get()), "av_write_trailer", finalPath);
    if (!(ofmt->flags & AVFMT_NOFILE)) av::check(avio_closep(&oc->pb), "avio_closep", finalPath);
    std::error_code ec;
    if (sequence) {
      for (const auto& entry : fs::directory_iterator(tmpPath, ec)) {
        fs::path dst = fs::path(folder) / entry.path().filename();
        fs::rename(entry.path(), dst, ec);
        if (ec)
          throw std::runtime_error(finalPath + ": cannot move " + entry.path().string() + " to " +
                                   dst.string() + ": " + ec.message());
      }
      fs::remove_all(tmpPath, ec);
    } else {
      fs::rename(tmpPath, finalPath, ec);
      if (ec)
        throw std::runtime_error(finalPath + ": cannot rename the finished file " + tmpPath +
                                 ": " + ec.message());
    }
    tmpPath.clear();
    finished = true;
  }
};

VideoWriter::VideoWriter(const WriterConfig& config, const VideoInfo& source, WriterNotes notes)
    : impl_(std::make_unique<Impl>()) {
  impl_->cfg = config;
  impl_->src = source;
  impl_->notes = std::move(notes);
  impl_->setup();
}

VideoWriter::~VideoWriter() {
  if (!impl_) return;
  impl_->oc.reset();  // closes the temp file before it is removed
  impl_->sides.reset();
  impl_->removeTemp();
}

void VideoWriter::write(const Frame& frame) { impl_->write(frame); }

void VideoWriter::finish() { impl_->finish(); }

std::int64_t VideoWriter::framesWritten() const { return impl_->written; }

}  // namespace flowstyle::stages
