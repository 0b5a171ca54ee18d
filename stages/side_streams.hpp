#pragma once
// The source's audio and subtitle streams in a VideoWriter's output (stages-internal: it
// pulls in libav through av_ptr.hpp; include only from stages/*.cpp).
//
// The source is opened a second time and its audio and subtitle streams are added to the
// output before its header is written: copied packet for packet where the container takes
// the codec, else (audio only) transcoded to AAC (Opus for WebM); subtitles the container
// cannot take are dropped. Packets are kept where they overlap the written video and are
// written interleaved with it: pump() before each video packet, finish() at the end.
// A stream that fails while writing stops (a warning) and the video goes on.
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "stages/av_ptr.hpp"

namespace flowstyle::stages {

// The written video, in its encoder's time base.
struct VideoSpan {
  AVRational tb{0, 1};
  std::int64_t first = AV_NOPTS_VALUE;  // the first frame's pts; NOPTS: no frame yet
  std::int64_t end = AV_NOPTS_VALUE;    // the last frame's pts + duration once the writer
                                        // finishes; NOPTS: still open
};

class SideStreams {
 public:
  enum class Plan { CopyOrTranscode, TranscodeAll };
  // One line each: what could not be kept, and why.
  using Warn = std::function<void(const std::string&)>;

  // Adds the streams of `sourcePath` to `out` (header not yet written). `outputPath` names
  // the output in errors. A source that cannot be read again: a warning, no streams.
  SideStreams(const std::string& sourcePath, AVFormatContext* out, const std::string& outputPath, Plan plan,
              Warn warn);
  SideStreams(const SideStreams&) = delete;
  SideStreams& operator=(const SideStreams&) = delete;

  bool empty() const { return streams_.empty(); }

  // Writes the packets whose time is at most `limit` (in video.tb); nothing before the first frame.
  void pump(std::int64_t limit, const VideoSpan& video);
  // Writes what is left up to video.end and flushes the transcoders (before the trailer).
  void finish(const VideoSpan& video);

 private:
  struct Stream {
    int srcIndex = -1;
    AVStream* out = nullptr;
    AVRational srcTb{1, 1};
    bool transcode = false;
    bool broken = false;
    // transcoding
    av::CodecContextPtr dec, aenc;
    av::SwrPtr swr;
    av::AudioFifoPtr fifo;
    av::FramePtr decFrame, encFrame;
    std::int64_t nextPts = AV_NOPTS_VALUE;  // in aenc->time_base
  };

  void read(std::int64_t limit, const VideoSpan& video, bool final);
  void setupTranscode(Stream& s, AVStream* in, bool webm);
  void handlePacket(AVPacket* p, const VideoSpan& video);
  void transcodePacket(Stream& s, const AVPacket* p, const VideoSpan& video);
  void drainDecoder(Stream& s, const VideoSpan& video);
  void convertAndQueue(Stream& s, const AVFrame* in);
  void encodeFifo(Stream& s, bool flush);
  void drainEncoder(Stream& s);
  void flushTranscoders(const VideoSpan& video);

  std::string sourcePath_, outputPath_;
  AVFormatContext* out_ = nullptr;  // the writer's output (not owned)
  Warn warn_;
  av::InputFormatPtr input_;        // second demuxer on the source
  std::vector<Stream> streams_;
  std::map<int, std::size_t> streamOf_;  // source stream index -> streams_[]
  av::PacketPtr readPkt_ = av::allocPacket();   // read from the source
  av::PacketPtr audioPkt_ = av::allocPacket();  // out of an audio encoder
  bool pending_ = false;  // readPkt_ holds a packet not yet written
  bool eof_ = true;
};

}  // namespace flowstyle::stages
