#include "stages/fingerprint.hpp"

#include <filesystem>
#include <stdexcept>
#include <system_error>

#include "stages/av_ptr.hpp"
#include "stages/hash.hpp"

namespace flowstyle::stages {
namespace {

constexpr int kHashedPackets = 16;

struct OpenInput {
  av::InputFormatPtr fmt;
  int stream = -1;
};

OpenInput openVideo(const std::string& path) {
  std::error_code ec;
  const bool pattern = path.find('%') != std::string::npos;
  if (!pattern && !std::filesystem::is_regular_file(path, ec))
    throw std::runtime_error(path + ": file does not exist or is not a regular file");
  const AVInputFormat* forced = pattern ? av_find_input_format("image2") : nullptr;
  AVFormatContext* raw = nullptr;
  int ret = avformat_open_input(&raw, path.c_str(), forced, nullptr);
  if (ret < 0) throw std::runtime_error(path + ": not a media file FFmpeg can read (" + av::errorText(ret) + ")");
  OpenInput in;
  in.fmt.reset(raw);
  ret = avformat_find_stream_info(in.fmt.get(), nullptr);
  if (ret < 0) throw std::runtime_error(path + ": cannot read stream information (" + av::errorText(ret) + ")");
  for (unsigned i = 0; i < in.fmt->nb_streams; ++i) {
    const AVStream* s = in.fmt->streams[i];
    if (s->codecpar->codec_type == AVMEDIA_TYPE_VIDEO && !(s->disposition & AV_DISPOSITION_ATTACHED_PIC)) {
      in.stream = static_cast<int>(i);
      break;
    }
  }
  if (in.stream < 0) throw std::runtime_error(path + ": no video stream");
  return in;
}

}  // namespace

SourceFingerprint fingerprintSource(const std::string& path) {
  OpenInput in = openVideo(path);
  SourceFingerprint fp;
  fp.path = path;
  std::error_code ec;
  const std::string sizeOf = path.find('%') != std::string::npos ? std::string(in.fmt->url) : path;
  const auto size = std::filesystem::file_size(sizeOf, ec);
  if (!ec) fp.bytes = static_cast<std::int64_t>(size);
  const AVStream* st = in.fmt->streams[in.stream];
  fp.frames = st->nb_frames > 0 ? st->nb_frames : -1;
  Fnv64 h;
  const AVCodecParameters* par = st->codecpar;
  fp.width = par->width;
  fp.height = par->height;
  h.update(std::to_string(par->codec_id) + "/" + std::to_string(par->width) + "x" + std::to_string(par->height) +
           "/" + std::to_string(st->time_base.num) + ":" + std::to_string(st->time_base.den));
  if (par->extradata_size > 0) h.update(par->extradata, static_cast<std::size_t>(par->extradata_size));
  av::PacketPtr pkt = av::allocPacket();
  for (int n = 0; n < kHashedPackets;) {
    if (av_read_frame(in.fmt.get(), pkt.get()) < 0) break;
    if (pkt->stream_index == in.stream) {
      h.update(pkt->data, static_cast<std::size_t>(pkt->size));
      h.update(std::to_string(pkt->pts));
      ++n;
    }
    av_packet_unref(pkt.get());
  }
  fp.hash = h.hex();
  return fp;
}

std::int64_t countVideoPackets(const std::string& path) {
  OpenInput in = openVideo(path);
  av::PacketPtr pkt = av::allocPacket();
  std::int64_t n = 0;
  for (;;) {
    const int ret = av_read_frame(in.fmt.get(), pkt.get());
    if (ret == AVERROR_EOF) break;
    if (ret < 0) throw std::runtime_error(path + ": damaged or truncated (" + av::errorText(ret) + ")");
    if (pkt->stream_index == in.stream && pkt->size > 0) ++n;
    av_packet_unref(pkt.get());
  }
  return n;
}

}  // namespace flowstyle::stages
