#include "stages/side_streams.hpp"

#include <algorithm>
#include <cstdlib>
#include <stdexcept>
#include <utility>

extern "C" {
#include <libavutil/channel_layout.h>
}

namespace flowstyle::stages {
namespace {

// Time of a source packet (pts, else dts) in its stream time base, or NOPTS.
std::int64_t packetTime(const AVPacket* p) { return p->pts != AV_NOPTS_VALUE ? p->pts : p->dts; }

}  // namespace

SideStreams::SideStreams(const std::string& sourcePath, AVFormatContext* out, const std::string& outputPath,
                         Plan plan, Warn warn)
    : sourcePath_(sourcePath), outputPath_(outputPath), out_(out), warn_(std::move(warn)) {
  if (sourcePath_.empty() || sourcePath_.find('%') != std::string::npos) return;
  AVFormatContext* raw = nullptr;
  if (avformat_open_input(&raw, sourcePath_.c_str(), nullptr, nullptr) < 0) {
    warn_("cannot reopen " + sourcePath_ + " for its audio; writing video only");
    return;
  }
  input_.reset(raw);
  if (avformat_find_stream_info(input_.get(), nullptr) < 0) {
    warn_("cannot read the streams of " + sourcePath_ + "; writing video only");
    input_.reset();
    return;
  }
  const AVOutputFormat* ofmt = out_->oformat;
  const bool webm = std::string(ofmt->name) == "webm";
  const bool mp4like = std::string(ofmt->name) == "mp4" || std::string(ofmt->name) == "mov" ||
                       std::string(ofmt->name) == "ipod";
  std::string dropped;
  for (unsigned i = 0; i < input_->nb_streams; ++i) {
    AVStream* in = input_->streams[i];
    const AVCodecParameters* par = in->codecpar;
    in->discard = AVDISCARD_ALL;
    const bool audio = par->codec_type == AVMEDIA_TYPE_AUDIO;
    const bool subtitle = par->codec_type == AVMEDIA_TYPE_SUBTITLE;
    if (!audio && !subtitle) continue;
    const int q = avformat_query_codec(ofmt, par->codec_id, FF_COMPLIANCE_NORMAL);
    bool copy = q != 0;
    // Known to be refused at header time (experimental in MP4).
    if (mp4like && (par->codec_id == AV_CODEC_ID_VORBIS)) copy = false;
    if (plan == Plan::TranscodeAll) copy = false;
    Stream s;
    s.srcIndex = static_cast<int>(i);
    s.srcTb = in->time_base;
    if (copy) {
      s.out = avformat_new_stream(out_, nullptr);
      if (s.out == nullptr || avcodec_parameters_copy(s.out->codecpar, par) < 0) {
        dropped += std::string(dropped.empty() ? "" : ", ") + "stream " + std::to_string(i);
        continue;
      }
      s.out->codecpar->codec_tag = 0;
      s.out->time_base = in->time_base;
      s.out->disposition = in->disposition;
      av_dict_copy(&s.out->metadata, in->metadata, 0);
    } else if (audio) {
      try {
        setupTranscode(s, in, webm);
      } catch (const std::exception& e) {
        warn_(std::string("cannot transcode audio stream ") + std::to_string(i) + ": " + e.what() +
              "; dropping it");
        continue;
      }
      warn_(std::string("the container cannot take ") + avcodec_get_name(par->codec_id) +
            " audio; transcoding to " + s.aenc->codec->name);
    } else {
      dropped += std::string(dropped.empty() ? "" : ", ") + avcodec_get_name(par->codec_id) + " subtitles";
      continue;
    }
    in->discard = AVDISCARD_DEFAULT;
    streamOf_[s.srcIndex] = streams_.size();
    streams_.push_back(std::move(s));
  }
  if (!dropped.empty()) warn_("not copied (the container cannot hold them): " + dropped);
  if (streams_.empty()) {
    input_.reset();
    return;
  }
  eof_ = false;
}

void SideStreams::setupTranscode(Stream& s, AVStream* in, bool webm) {
  const AVCodecParameters* par = in->codecpar;
  s.transcode = true;
  const AVCodec* dcodec = avcodec_find_decoder(par->codec_id);
  if (dcodec == nullptr) throw std::runtime_error("no decoder");
  s.dec = av::allocCodecContext(dcodec);
  av::check(avcodec_parameters_to_context(s.dec.get(), par), "avcodec_parameters_to_context", sourcePath_);
  s.dec->pkt_timebase = in->time_base;
  av::check(avcodec_open2(s.dec.get(), dcodec, nullptr), "avcodec_open2 (audio decoder)", sourcePath_);

  const AVCodec* ecodec = webm ? avcodec_find_encoder_by_name("libopus") : avcodec_find_encoder_by_name("aac");
  if (ecodec == nullptr) throw std::runtime_error(webm ? "no libopus encoder" : "no aac encoder");
  s.aenc = av::allocCodecContext(ecodec);
  int rate = s.dec->sample_rate > 0 ? s.dec->sample_rate : 48000;
  if (ecodec->supported_samplerates != nullptr) {
    int best = 0;
    for (const int* r = ecodec->supported_samplerates; *r != 0; ++r) {
      if (*r == rate) {
        best = rate;
        break;
      }
      if (best == 0 || std::abs(*r - rate) < std::abs(best - rate)) best = *r;
    }
    rate = best;
  }
  s.aenc->sample_rate = rate;
  s.aenc->sample_fmt = ecodec->sample_fmts != nullptr ? ecodec->sample_fmts[0] : AV_SAMPLE_FMT_FLTP;
  AVChannelLayout layout;
  if (s.dec->ch_layout.nb_channels > 0) {
    av_channel_layout_default(&layout, std::min(s.dec->ch_layout.nb_channels, 2));
  } else {
    av_channel_layout_default(&layout, 2);
  }
  av::check(av_channel_layout_copy(&s.aenc->ch_layout, &layout), "av_channel_layout_copy", outputPath_);
  s.aenc->bit_rate = 64000LL * layout.nb_channels;
  s.aenc->time_base = AVRational{1, rate};
  if (out_->oformat->flags & AVFMT_GLOBALHEADER) s.aenc->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
  av::check(avcodec_open2(s.aenc.get(), ecodec, nullptr), "avcodec_open2 (audio encoder)", outputPath_);

  SwrContext* swr = nullptr;
  av::check(swr_alloc_set_opts2(&swr, &s.aenc->ch_layout, s.aenc->sample_fmt, rate, &s.dec->ch_layout,
                                s.dec->sample_fmt, s.dec->sample_rate, 0, nullptr),
            "swr_alloc_set_opts2", outputPath_);
  s.swr.reset(swr);
  av::check(swr_init(s.swr.get()), "swr_init", outputPath_);
  s.fifo.reset(av_audio_fifo_alloc(s.aenc->sample_fmt, layout.nb_channels, 4096));
  if (!s.fifo) throw std::runtime_error("av_audio_fifo_alloc failed");
  s.decFrame = av::allocFrame();
  s.encFrame = av::allocFrame();

  s.out = avformat_new_stream(out_, nullptr);
  if (s.out == nullptr) throw std::runtime_error("avformat_new_stream failed");
  av::check(avcodec_parameters_from_context(s.out->codecpar, s.aenc.get()), "avcodec_parameters_from_context",
            outputPath_);
  s.out->time_base = s.aenc->time_base;
  s.out->disposition = in->disposition;
  av_dict_copy(&s.out->metadata, in->metadata, 0);
}

void SideStreams::pump(std::int64_t limit, const VideoSpan& video) { read(limit, video, false); }

void SideStreams::finish(const VideoSpan& video) {
  read(0, video, true);
  flushTranscoders(video);
}

// Writes the packets whose time is <= limit (in video.tb); with final, all that are left.
void SideStreams::read(std::int64_t limit, const VideoSpan& video, bool final) {
  if (input_ == nullptr || video.first == AV_NOPTS_VALUE) return;
  while (!eof_) {
    if (!pending_) {
      int ret = av_read_frame(input_.get(), readPkt_.get());
      if (ret == AVERROR(EAGAIN)) continue;
      if (ret < 0) {
        eof_ = true;
        break;
      }
      if (streamOf_.find(readPkt_->stream_index) == streamOf_.end()) {
        av_packet_unref(readPkt_.get());
        continue;
      }
      pending_ = true;
    }
    const std::int64_t t = packetTime(readPkt_.get());
    const Stream& s = streams_[streamOf_[readPkt_->stream_index]];
    if (!final && t != AV_NOPTS_VALUE && av_compare_ts(t, s.srcTb, limit, video.tb) > 0) break;
    pending_ = false;
    handlePacket(readPkt_.get(), video);
    av_packet_unref(readPkt_.get());
  }
}

void SideStreams::handlePacket(AVPacket* p, const VideoSpan& video) {
  Stream& s = streams_[streamOf_[p->stream_index]];
  if (s.broken) return;
  // Keep packets overlapping [first, end) of the video (end known at finish).
  const std::int64_t t = packetTime(p);
  if (t != AV_NOPTS_VALUE) {
    const std::int64_t end = t + std::max<std::int64_t>(0, p->duration);
    if (av_compare_ts(end, s.srcTb, video.first, video.tb) < 0) return;
    if (video.end != AV_NOPTS_VALUE && av_compare_ts(t, s.srcTb, video.end, video.tb) >= 0) return;
  }
  try {
    if (s.transcode) {
      transcodePacket(s, p, video);
    } else {
      p->stream_index = s.out->index;
      av_packet_rescale_ts(p, s.srcTb, s.out->time_base);
      p->pos = -1;
      int ret = av_interleaved_write_frame(out_, p);
      if (ret < 0) throw std::runtime_error("writing a packet failed: " + av::errorText(ret));
    }
  } catch (const std::exception& e) {
    s.broken = true;
    warn_(std::string("stream ") + std::to_string(s.srcIndex) + " of " + sourcePath_ + " stopped: " + e.what() +
          " (the video is unaffected)");
  }
}

void SideStreams::transcodePacket(Stream& s, const AVPacket* p, const VideoSpan& video) {
  int ret = avcodec_send_packet(s.dec.get(), p);
  if (ret < 0 && ret != AVERROR(EAGAIN) && ret != AVERROR_EOF) {
    if (ret == AVERROR_INVALIDDATA) return;  // skip a damaged packet
    throw std::runtime_error("audio decoding failed: " + av::errorText(ret));
  }
  drainDecoder(s, video);
}

void SideStreams::drainDecoder(Stream& s, const VideoSpan& video) {
  for (;;) {
    int ret = avcodec_receive_frame(s.dec.get(), s.decFrame.get());
    if (ret == AVERROR(EAGAIN) || ret == AVERROR_EOF) return;
    if (ret == AVERROR_INVALIDDATA) continue;
    av::check(ret, "avcodec_receive_frame (audio)", sourcePath_);
    if (s.nextPts == AV_NOPTS_VALUE) {
      std::int64_t t = s.decFrame->best_effort_timestamp;
      if (t == AV_NOPTS_VALUE) t = av_rescale_q(video.first, video.tb, s.srcTb);
      s.nextPts = av_rescale_q(t, s.srcTb, s.aenc->time_base);
    }
    convertAndQueue(s, s.decFrame.get());
    av_frame_unref(s.decFrame.get());
    encodeFifo(s, false);
  }
}

void SideStreams::convertAndQueue(Stream& s, const AVFrame* in) {
  const int maxOut = swr_get_out_samples(s.swr.get(), in != nullptr ? in->nb_samples : 0);
  if (maxOut <= 0) return;
  uint8_t** buf = nullptr;
  int linesize = 0;
  av::check(av_samples_alloc_array_and_samples(&buf, &linesize, s.aenc->ch_layout.nb_channels, maxOut,
                                               s.aenc->sample_fmt, 0),
            "av_samples_alloc", outputPath_);
  int got = swr_convert(s.swr.get(), buf, maxOut,
                        in != nullptr ? const_cast<const uint8_t**>(in->extended_data) : nullptr,
                        in != nullptr ? in->nb_samples : 0);
  if (got > 0) av_audio_fifo_write(s.fifo.get(), reinterpret_cast<void**>(buf), got);
  av_freep(&buf[0]);
  av_freep(&buf);
  if (got < 0) throw std::runtime_error("audio resampling failed: " + av::errorText(got));
}

void SideStreams::encodeFifo(Stream& s, bool flush) {
  const int frameSize = s.aenc->frame_size > 0 ? s.aenc->frame_size : 1024;
  while (av_audio_fifo_size(s.fifo.get()) >= frameSize || (flush && av_audio_fifo_size(s.fifo.get()) > 0)) {
    const int n = std::min(frameSize, av_audio_fifo_size(s.fifo.get()));
    AVFrame* f = s.encFrame.get();
    av_frame_unref(f);
    f->nb_samples = (n < frameSize && !(s.aenc->codec->capabilities & AV_CODEC_CAP_VARIABLE_FRAME_SIZE) &&
                     !(s.aenc->codec->capabilities & AV_CODEC_CAP_SMALL_LAST_FRAME))
                        ? frameSize
                        : n;
    f->format = s.aenc->sample_fmt;
    f->sample_rate = s.aenc->sample_rate;
    av::check(av_channel_layout_copy(&f->ch_layout, &s.aenc->ch_layout), "av_channel_layout_copy", outputPath_);
    av::check(av_frame_get_buffer(f, 0), "av_frame_get_buffer (audio)", outputPath_);
    av_samples_set_silence(f->extended_data, 0, f->nb_samples, s.aenc->ch_layout.nb_channels, s.aenc->sample_fmt);
    av_audio_fifo_read(s.fifo.get(), reinterpret_cast<void**>(f->extended_data), n);
    f->pts = s.nextPts;
    s.nextPts += f->nb_samples;
    av::check(avcodec_send_frame(s.aenc.get(), f), "avcodec_send_frame (audio)", outputPath_);
    drainEncoder(s);
  }
}

void SideStreams::drainEncoder(Stream& s) {
  for (;;) {
    int ret = avcodec_receive_packet(s.aenc.get(), audioPkt_.get());
    if (ret == AVERROR(EAGAIN) || ret == AVERROR_EOF) return;
    av::check(ret, "avcodec_receive_packet (audio)", outputPath_);
    audioPkt_->stream_index = s.out->index;
    av_packet_rescale_ts(audioPkt_.get(), s.aenc->time_base, s.out->time_base);
    ret = av_interleaved_write_frame(out_, audioPkt_.get());
    av_packet_unref(audioPkt_.get());
    if (ret < 0) throw std::runtime_error("writing audio failed: " + av::errorText(ret));
  }
}

void SideStreams::flushTranscoders(const VideoSpan& video) {
  for (Stream& s : streams_) {
    if (!s.aenc || s.broken) continue;
    try {
      avcodec_send_packet(s.dec.get(), nullptr);
      drainDecoder(s, video);
      if (s.nextPts != AV_NOPTS_VALUE) {
        convertAndQueue(s, nullptr);
        encodeFifo(s, true);
      }
      avcodec_send_frame(s.aenc.get(), nullptr);
      drainEncoder(s);
    } catch (const std::exception& e) {
      s.broken = true;
      warn_(std::string("finishing the transcoded audio failed: ") + e.what());
    }
  }
}

}  // namespace flowstyle::stages
