// VideoReader / VideoWriter on real files: synthetic clips written by the writer itself
// or by the ffmpeg CLI, and the shared sample clips.
#include <gtest/gtest.h>

#include "tests/test_support.hpp"

#include <array>
#include <cmath>
#include <functional>
#include <map>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <unistd.h>

#include <opencv2/core.hpp>

#include "stages/av_log.hpp"
#include "stages/video_reader.hpp"
#include "stages/video_writer.hpp"

namespace fs = std::filesystem;
using namespace flowstyle::stages;

namespace {

const bool kQuietLibav = (setLibavLogLevel(LibavLog::Quiet), true);

const std::string kClips = std::string(FLOWSTYLE_SHARED_DIR) + "/media/clips/";

std::string scratch(const std::string& name) {
  fs::path dir = fs::path(FLOWSTYLE_TEST_TMP) / ("io_" + name);
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir.string();
}

// Output of a shell command (stdout), for ffprobe.
std::string run(const std::string& cmd) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return out;
  std::array<char, 4096> buf{};
  size_t n = 0;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
  pclose(p);
  return out;
}

std::vector<std::string> lines(const std::string& s) {
  std::vector<std::string> v;
  std::istringstream in(s);
  for (std::string l; std::getline(in, l);)
    if (!l.empty()) v.push_back(l);
  return v;
}

// "size,pts" of every audio packet.
std::vector<std::string> audioPackets(const std::string& path) {
  return lines(run("ffprobe -v error -select_streams a -show_entries packet=size,pts -of csv=p=0 '" +
                   path + "'"));
}

std::string probeStream(const std::string& path, const std::string& sel, const std::string& entry) {
  std::string s = run("ffprobe -v error -select_streams " + sel + " -show_entries " + entry +
                      " -of default=nw=1:nk=1 '" + path + "'");
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  return s;
}

// A moving texture: frame i is a smooth pattern shifted by i pixels (lossy codecs do
// well on it, and a wrong colour matrix or range shows as a large error).
cv::Mat texture(int i, int w, int h) {
  cv::Mat m(h, w, CV_8UC3);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      const double u = x + 2.0 * i;
      m.at<cv::Vec3b>(y, x) =
          cv::Vec3b(cv::saturate_cast<uint8_t>(128 + 100 * std::sin(u / 6.0)),
                    cv::saturate_cast<uint8_t>(128 + 90 * std::cos(y / 5.0 + u / 11.0)),
                    cv::saturate_cast<uint8_t>(128 + 80 * std::sin((u + y) / 9.0)));
    }
  return m;
}

// Same pattern with per-pixel noise: exact only if the round trip is lossless.
cv::Mat noisyTexture(int i, int w, int h) {
  cv::Mat m = texture(i, w, h);
  std::mt19937 rng(static_cast<unsigned>(1234 + i));
  for (auto it = m.begin<cv::Vec3b>(); it != m.end<cv::Vec3b>(); ++it)
    for (int c = 0; c < 3; ++c) (*it)[c] = static_cast<uint8_t>((*it)[c] ^ (rng() & 7));
  return m;
}

VideoInfo syntheticInfo(int w, int h, Rational tb, Rational fps) {
  VideoInfo info;
  info.width = w;
  info.height = h;
  info.timeBase = tb;
  info.avgFrameRate = fps;
  return info;  // path empty: no audio to copy
}

std::vector<Frame> writeClip(const std::string& path, const std::string& codec,
                             const std::vector<std::int64_t>& pts, int w, int h, Rational tb,
                             bool noisy = false, std::int64_t frameDur = 0) {
  WriterConfig cfg;
  cfg.path = path;
  cfg.codec = codec;
  cfg.preset = "ultrafast";
  VideoWriter writer(cfg, syntheticInfo(w, h, tb, Rational{25, 1}));
  std::vector<Frame> frames;
  for (size_t i = 0; i < pts.size(); ++i) {
    Frame f;
    f.rgb = noisy ? noisyTexture(static_cast<int>(i), w, h) : texture(static_cast<int>(i), w, h);
    f.index = static_cast<std::int64_t>(i);
    f.pts = pts[i];
    f.duration = frameDur;
    f.timeBase = tb;
    writer.write(f);
    frames.push_back(f);
  }
  writer.finish();
  EXPECT_EQ(writer.framesWritten(), static_cast<std::int64_t>(pts.size()));
  return frames;
}

std::vector<Frame> readAll(const std::string& path, FrameSelection sel = {}) {
  ReaderConfig cfg;
  cfg.path = path;
  cfg.selection = sel;
  VideoReader reader(cfg);
  std::vector<Frame> out;
  while (auto f = reader.next()) out.push_back(std::move(*f));
  return out;
}

// Reads the selection; checks the reader's estimate and that the frames are all[offset...]
// renumbered from 0 with the same pts and pixels.
void expectSelectionIsSlice(const std::string& path, const FrameSelection& sel,
                            const std::vector<Frame>& all, std::size_t offset, std::size_t count) {
  ReaderConfig rc;
  rc.path = path;
  rc.selection = sel;
  VideoReader reader(rc);
  EXPECT_EQ(reader.expectedFrames(), static_cast<std::int64_t>(count));
  std::vector<Frame> part;
  while (auto f = reader.next()) part.push_back(*f);
  ASSERT_EQ(part.size(), count);
  for (size_t i = 0; i < part.size(); ++i) {
    EXPECT_EQ(part[i].index, static_cast<std::int64_t>(i));
    EXPECT_EQ(part[i].pts, all[offset + i].pts);
    EXPECT_EQ(cv::norm(part[i].rgb, all[offset + i].rgb, cv::NORM_INF), 0) << "frame " << i;
  }
}

std::vector<std::int64_t> ptsOf(const std::vector<Frame>& frames) {
  std::vector<std::int64_t> v;
  for (const auto& f : frames) v.push_back(f.pts);
  return v;
}

// pts in time base a, rescaled exactly to time base b (fails the test if not exact).
std::vector<std::int64_t> rescaleExact(const std::vector<std::int64_t>& pts, Rational a,
                                       Rational b) {
  std::vector<std::int64_t> out;
  for (std::int64_t p : pts) {
    const std::int64_t num = p * a.num * b.den;
    const std::int64_t den = static_cast<std::int64_t>(a.den) * b.num;
    EXPECT_EQ(num % den, 0) << "pts " << p << " is not exact in the new time base";
    out.push_back(num / den);
  }
  return out;
}

double psnr(const cv::Mat& a, const cv::Mat& b) {
  const double mse = cv::norm(a, b, cv::NORM_L2SQR) / static_cast<double>(a.total() * 3);
  return mse == 0 ? 99.0 : 10.0 * std::log10(255.0 * 255.0 / mse);
}

std::vector<std::int64_t> regularPts(int n, std::int64_t step) {
  std::vector<std::int64_t> v;
  for (int i = 0; i < n; ++i) v.push_back(i * step);
  return v;
}

using flowstyle::test::errorOf;

// Reads `src`, copies every frame to `dst` with the given codec, returns the frames read.
std::vector<Frame> copyClip(const std::string& src, const std::string& dst,
                            const std::string& codec = "", FrameSelection sel = {}) {
  ReaderConfig rc;
  rc.path = src;
  rc.selection = sel;
  VideoReader reader(rc);
  WriterConfig wc;
  wc.path = dst;
  wc.codec = codec;
  wc.preset = "ultrafast";
  VideoWriter writer(wc, reader.info());
  std::vector<Frame> frames;
  while (auto f = reader.next()) {
    writer.write(*f);
    f->rgb.release();  // keep memory small; pixels are not compared here
    frames.push_back(*f);
  }
  writer.finish();
  return frames;
}

}  // namespace

// ---------------------------------------------------------------- round trips

TEST(Stages_VideoWriter, Ffv1RoundTripIsBitExact) {
  const std::string dir = scratch("ffv1");
  // Irregular pts (variable frame rate) in a millisecond time base (Matroska's own).
  std::vector<std::int64_t> pts;
  for (int i = 0; i < 24; ++i) pts.push_back(i * 40 + (i % 3) * 7);
  for (auto [w, h] : {std::pair{64, 48}, std::pair{63, 47}}) {
    const std::string path = dir + "/clip" + std::to_string(w) + ".mkv";
    auto written = writeClip(path, "ffv1", pts, w, h, Rational{1, 1000}, /*noisy=*/true);
    auto read = readAll(path);
    ASSERT_EQ(read.size(), written.size());
    for (size_t i = 0; i < read.size(); ++i) {
      ASSERT_EQ(read[i].rgb.size(), written[i].rgb.size()) << "frame " << i;
      EXPECT_EQ(cv::norm(read[i].rgb, written[i].rgb, cv::NORM_INF), 0) << "frame " << i;
      EXPECT_EQ(read[i].index, static_cast<std::int64_t>(i));
    }
    EXPECT_EQ(ptsOf(read), pts);
    EXPECT_EQ(read[0].timeBase.num, 1);
    EXPECT_EQ(read[0].timeBase.den, 1000);
  }
}

TEST(Stages_VideoWriter, H264RoundTripKeepsCountAndEveryPts) {
  const std::string dir = scratch("h264");
  const std::string path = dir + "/clip.mp4";
  const auto pts = regularPts(24, 512);
  auto written = writeClip(path, "", pts, 64, 48, Rational{1, 12800});
  ReaderConfig rc;
  rc.path = path;
  VideoReader reader(rc);
  EXPECT_EQ(reader.info().codecName, "h264");
  EXPECT_EQ(reader.info().frameCountEstimate, 24);
  EXPECT_EQ(reader.expectedFrames(), 24);
  std::vector<Frame> read;
  while (auto f = reader.next()) read.push_back(*f);
  ASSERT_EQ(read.size(), 24u);
  auto readPts = rescaleExact(ptsOf(read), read[0].timeBase, Rational{1, 12800});
  EXPECT_EQ(readPts, pts);
  for (size_t i = 0; i < read.size(); ++i)
    EXPECT_GT(psnr(read[i].rgb, written[i].rgb), 30.0) << "frame " << i;
  EXPECT_EQ(probeStream(path, "v", "stream=pix_fmt"), "yuv420p");
}

TEST(Stages_VideoWriter, VariableFrameRatePtsPreserved) {
  const std::string dir = scratch("vfr");
  const std::string path = dir + "/vfr.mp4";
  // Gaps of 1, 2, 5 frames and a half frame: any resampling to a constant rate shows.
  const std::vector<std::int64_t> pts = {0, 512, 1536, 1792, 4352, 4864, 5376, 8000, 8512, 9024};
  writeClip(path, "libx264", pts, 64, 48, Rational{1, 12800});
  auto read = readAll(path);
  ASSERT_EQ(read.size(), pts.size());
  EXPECT_EQ(rescaleExact(ptsOf(read), read[0].timeBase, Rational{1, 12800}), pts);
  // The file itself (not only our reader) has those times.
  auto probed = lines(run("ffprobe -v error -select_streams v -show_entries frame=pts_time -of "
                          "csv=p=0 '" + path + "'"));
  ASSERT_EQ(probed.size(), pts.size());
  EXPECT_NEAR(std::stod(probed[4]), 4352 / 12800.0, 1e-4);
  EXPECT_NEAR(std::stod(probed[7]), 8000 / 12800.0, 1e-4);
}

TEST(Stages_VideoReader, VfrInputFromFfmpegKeepsItsTimestamps) {
  const std::string dir = scratch("vfr_ffmpeg");
  const std::string path = dir + "/vfr.mkv";
  // Frames at 0, 0.1, 0.2 ... then every other frame dropped: times are not uniform.
  ASSERT_EQ(std::system(("ffmpeg -v error -y -f lavfi -i testsrc=size=64x48:rate=10 -t 2 "
                         "-vf \"select='lt(n,5)+eq(mod(n,3),0)'\" -fps_mode vfr -c:v ffv1 '" +
                         path + "'")
                            .c_str()),
            0);
  auto expected = lines(run("ffprobe -v error -select_streams v -show_entries frame=pts -of "
                            "csv=p=0 '" + path + "'"));
  auto read = readAll(path);
  ASSERT_EQ(read.size(), expected.size());
  ASSERT_GE(read.size(), 8u);
  for (size_t i = 0; i < read.size(); ++i) EXPECT_EQ(std::to_string(read[i].pts), expected[i]);
  EXPECT_NE(read[5].pts - read[4].pts, read[1].pts - read[0].pts);  // really variable
}

TEST(Stages_VideoWriter, OddSizeIsPaddedByOneFor420AndKeptForRgb) {
  const std::string dir = scratch("odd");
  const auto pts = regularPts(6, 1);
  auto written = writeClip(dir + "/odd.mp4", "libx264", pts, 63, 47, Rational{1, 25});
  auto read = readAll(dir + "/odd.mp4");
  ASSERT_EQ(read.size(), 6u);
  EXPECT_EQ(read[0].rgb.cols, 64);  // padded by one (edge replicate)
  EXPECT_EQ(read[0].rgb.rows, 48);
  for (size_t i = 0; i < read.size(); ++i) {
    cv::Mat inner = read[i].rgb(cv::Rect(0, 0, 63, 47));
    EXPECT_GT(psnr(inner, written[i].rgb), 30.0);
    // The padding column repeats the last column.
    cv::Mat lastCol = read[i].rgb.col(63), prevCol = read[i].rgb.col(62);
    EXPECT_LT(cv::norm(lastCol, prevCol, cv::NORM_L1) / 48.0, 12.0);
  }
  auto rgbWritten = writeClip(dir + "/odd.mkv", "ffv1", pts, 63, 47, Rational{1, 25});
  auto rgb = readAll(dir + "/odd.mkv");
  ASSERT_EQ(rgb.size(), 6u);
  EXPECT_EQ(rgb[0].rgb.cols, 63);  // RGB formats: size kept
  EXPECT_EQ(rgb[0].rgb.rows, 47);
  EXPECT_EQ(cv::norm(rgb[5].rgb, rgbWritten[5].rgb, cv::NORM_INF), 0);
}

TEST(Stages_VideoWriter, ImageSequenceRoundTrip) {
  const std::string dir = scratch("sequence");
  const std::string pattern = dir + "/%05d.png";
  auto written = writeClip(pattern, "", regularPts(5, 1), 33, 21, Rational{1, 25}, true);
  for (int i = 1; i <= 5; ++i) {
    char name[32];
    std::snprintf(name, sizeof name, "/%05d.png", i);
    EXPECT_TRUE(fs::exists(dir + name)) << name;
  }
  EXPECT_FALSE(fs::exists(dir + "/00006.png"));
  int entries = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir)) ++entries;
  EXPECT_EQ(entries, 5);  // the temporary folder is gone
  auto read = readAll(pattern);
  ASSERT_EQ(read.size(), 5u);
  for (size_t i = 0; i < 5; ++i) EXPECT_EQ(cv::norm(read[i].rgb, written[i].rgb, cv::NORM_INF), 0);
}

// ---------------------------------------------------------------- metadata

TEST(Stages_VideoReader, RotationMetadataIsReadAndWritten) {
  const std::string dir = scratch("rotation");
  auto makeRotated = [&](const std::string& path, double degrees) {
    WriterConfig cfg;
    cfg.path = path;
    cfg.preset = "ultrafast";
    VideoInfo src = syntheticInfo(64, 48, Rational{1, 25}, Rational{25, 1});
    src.rotationDegrees = degrees;
    VideoWriter writer(cfg, src);
    for (int i = 0; i < 5; ++i) {
      Frame f;
      f.rgb = texture(i, 64, 48);
      f.pts = i;
      f.timeBase = Rational{1, 25};
      writer.write(f);
    }
    writer.finish();
  };
  auto rotationOf = [](const std::string& path) {
    ReaderConfig rc;
    rc.path = path;
    return VideoReader(rc).info().rotationDegrees;
  };
  for (double degrees : {90.0, 270.0}) {
    const std::string tag = std::to_string(static_cast<int>(degrees));
    const std::string made = dir + "/made" + tag + ".mp4";
    makeRotated(made, degrees);
    // ffprobe reads the display matrix we wrote (it prints the angle in -180..180).
    EXPECT_EQ(probeStream(made, "v", "stream_side_data=rotation"), degrees == 90 ? "90" : "-90");
    // The ffmpeg CLI copies it into another file, which our reader reads back.
    const std::string in = dir + "/cli" + tag + ".mp4";
    ASSERT_EQ(std::system(("ffmpeg -v error -y -i '" + made + "' -c copy '" + in + "'").c_str()),
              0);
    ReaderConfig rc;
    rc.path = in;
    VideoReader reader(rc);
    EXPECT_EQ(reader.info().rotationDegrees, degrees);
    EXPECT_EQ(reader.info().width, 64);  // coded size, not rotated
    EXPECT_EQ(reader.info().height, 48);
    // A read/write copy keeps it.
    copyClip(in, dir + "/copy" + tag + ".mp4");
    EXPECT_EQ(rotationOf(dir + "/copy" + tag + ".mp4"), degrees);
  }
  EXPECT_EQ(rotationOf(kClips + "chaplin.mp4"), 0);
}

TEST(Stages_VideoReader, SmpteMetadataAndShortCopyWithAudio) {
  const std::string src = kClips + "smpte-2997.mp4";
  ReaderConfig rc;
  rc.path = src;
  rc.selection.first = 0;
  rc.selection.last = 30;
  VideoReader reader(rc);
  const VideoInfo& info = reader.info();
  EXPECT_EQ(info.width, 1920);
  EXPECT_EQ(info.height, 1080);
  EXPECT_EQ(info.timeBase.num, 1);
  EXPECT_EQ(info.timeBase.den, 12800);
  EXPECT_EQ(info.avgFrameRate.num / info.avgFrameRate.den, 25);
  EXPECT_EQ(info.frameCountEstimate, 251);
  EXPECT_EQ(info.color.range, 1);  // AVCOL_RANGE_MPEG ("tv")
  EXPECT_EQ(info.sampleAspect.num, 1);
  EXPECT_EQ(info.sampleAspect.den, 1);
  EXPECT_EQ(info.rotationDegrees, 0);
  EXPECT_TRUE(info.hasAudio);
  EXPECT_EQ(info.codecName, "h264");
  EXPECT_EQ(info.durationPts, 128512);  // 10.04 s
  EXPECT_EQ(reader.expectedFrames(), 31);

  const std::string dir = scratch("smpte");
  const std::string out = dir + "/short.mp4";
  WriterConfig wc;
  wc.path = out;
  wc.preset = "ultrafast";
  VideoWriter writer(wc, info);
  std::vector<std::int64_t> pts;
  while (auto f = reader.next()) {
    writer.write(*f);
    pts.push_back(f->pts);
  }
  writer.finish();
  ASSERT_EQ(pts.size(), 31u);
  auto read = readAll(out);
  ASSERT_EQ(read.size(), 31u);
  EXPECT_EQ(rescaleExact(ptsOf(read), read[0].timeBase, info.timeBase), pts);
  EXPECT_EQ(probeStream(out, "v", "stream=color_range"), "tv");
  // AAC copied, restricted to the video's span [0, 31 * 512 / 12800 s = 1.24 s).
  auto srcAudio = audioPackets(src);
  auto outAudio = audioPackets(out);
  std::vector<std::string> expected;
  for (const auto& l : srcAudio) {
    const std::int64_t p = std::stoll(l.substr(0, l.find(',')));
    if (p + 1024 >= 0 && p * 12800 < 15872LL * 48000) expected.push_back(l);
  }
  EXPECT_GT(expected.size(), 50u);
  EXPECT_EQ(outAudio, expected);
}

// ---------------------------------------------------------------- real clips, copied

struct ClipCase {
  const char* file;
  const char* outExt;
  bool audioCopied;
};

class Stages_VideoCopy : public ::testing::TestWithParam<ClipCase> {};

TEST_P(Stages_VideoCopy, KeepsFramesPtsDurationAndAudio) {
  const ClipCase c = GetParam();
  const std::string src = kClips + c.file;
  const std::string dir = scratch(std::string("copy_") + c.outExt + "_" + c.file);
  const std::string out = dir + "/out" + c.outExt;
  ReaderConfig rc;
  rc.path = src;
  VideoReader srcReader(rc);
  const VideoInfo srcInfo = srcReader.info();

  auto in = copyClip(src, out);
  ASSERT_FALSE(in.empty());
  ReaderConfig oc;
  oc.path = out;
  VideoReader outReader(oc);
  const VideoInfo outInfo = outReader.info();
  std::vector<Frame> outFrames;
  while (auto f = outReader.next()) {
    f->rgb.release();
    outFrames.push_back(*f);
  }
  ASSERT_EQ(outFrames.size(), in.size());
  EXPECT_EQ(rescaleExact(ptsOf(outFrames), outInfo.timeBase, srcInfo.timeBase), ptsOf(in));
  // Same size, or padded by one for odd sizes in 4:2:0.
  EXPECT_EQ(outInfo.width, srcInfo.width + (srcInfo.width & 1));
  EXPECT_EQ(outInfo.height, srcInfo.height + (srcInfo.height & 1));
  // Duration within one frame.
  const double frame = srcInfo.avgFrameRate.den / static_cast<double>(srcInfo.avgFrameRate.num);
  const double srcDur = srcInfo.durationPts * srcInfo.timeBase.toDouble();
  const double outDur = outInfo.durationPts * outInfo.timeBase.toDouble();
  EXPECT_NEAR(outDur, srcDur, frame + 1e-6);
  EXPECT_EQ(outInfo.hasAudio, srcInfo.hasAudio);
  if (c.audioCopied) {
    auto a = audioPackets(src), b = audioPackets(out);
    EXPECT_GT(a.size(), 10u);
    EXPECT_EQ(a, b);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Clips, Stages_VideoCopy,
    ::testing::Values(ClipCase{"chaplin.mp4", ".mp4", true},               // H.264 + MP3 copy
                      ClipCase{"big_buck_bunny_432_433.webm", ".mkv", true},  // VP8 + Vorbis
                      ClipCase{"pigs_in_a_polka.gif", ".mp4", false},     // odd 314x273
                      ClipCase{"example.mp4", ".mov", false}),
    [](const auto& info) {
      std::string n = info.param.file;
      return n.substr(0, n.find('.'));
    });

TEST(Stages_VideoWriter, VorbisIntoMp4IsTranscodedToAac) {
  const std::string dir = scratch("vorbis_mp4");
  const std::string out = dir + "/bunny.mp4";
  FrameSelection sel;
  sel.last = 11;
  auto frames = copyClip(kClips + "big_buck_bunny_432_433.webm", out, "", sel);
  ASSERT_EQ(frames.size(), 12u);
  EXPECT_EQ(probeStream(out, "a", "stream=codec_name"), "aac");
  EXPECT_EQ(probeStream(out, "v", "stream=nb_frames"), "12");
  // Audio covers about the span of the 12 frames (0.5 s), not the whole second.
  const double audioDur = std::stod(probeStream(out, "a", "stream=duration"));
  EXPECT_NEAR(audioDur, 0.5, 0.1);
}

TEST(Stages_VideoWriter, GifToFfv1IsBitExactWithOddSize) {
  const std::string dir = scratch("gif_ffv1");
  const std::string out = dir + "/pigs.mkv";
  FrameSelection sel;
  sel.last = 9;
  ReaderConfig rc;
  rc.path = kClips + "pigs_in_a_polka.gif";
  rc.selection = sel;
  VideoReader reader(rc);
  WriterConfig wc;
  wc.path = out;
  wc.codec = "ffv1";
  VideoWriter writer(wc, reader.info());
  std::vector<Frame> src;
  while (auto f = reader.next()) {
    writer.write(*f);
    src.push_back(*f);
  }
  writer.finish();
  auto read = readAll(out);
  ASSERT_EQ(read.size(), 10u);
  EXPECT_EQ(read[0].rgb.cols, 314);
  EXPECT_EQ(read[0].rgb.rows, 273);
  for (size_t i = 0; i < read.size(); ++i)
    EXPECT_EQ(cv::norm(read[i].rgb, src[i].rgb, cv::NORM_INF), 0) << "frame " << i;
  EXPECT_EQ(rescaleExact(ptsOf(read), read[0].timeBase, src[0].timeBase), ptsOf(src));
}

TEST(Stages_VideoWriter, OtherContainersAndCodecs) {
  const std::string dir = scratch("containers");
  const auto pts = regularPts(10, 1);
  struct Case {
    const char* file;
    const char* codec;
    const char* expectCodec;
  };
  for (const Case& c : {Case{"vp9.webm", "", "vp9"}, Case{"mpeg4.avi", "mpeg4", "mpeg4"},
                        Case{"x265.mkv", "libx265", "hevc"}, Case{"x264.mov", "", "h264"},
                        Case{"png.mov", "png", "png"}}) {
    const std::string path = dir + "/" + c.file;
    auto written = writeClip(path, c.codec, pts, 64, 48, Rational{1, 25});
    ReaderConfig rc;
    rc.path = path;
    VideoReader reader(rc);
    EXPECT_EQ(reader.info().codecName, c.expectCodec) << c.file;
    std::vector<Frame> read;
    while (auto f = reader.next()) read.push_back(*f);
    ASSERT_EQ(read.size(), pts.size()) << c.file;
    EXPECT_EQ(rescaleExact(ptsOf(read), read[0].timeBase, Rational{1, 25}), pts) << c.file;
    EXPECT_GT(psnr(read[9].rgb, written[9].rgb), 28.0) << c.file;
  }
}

TEST(Stages_VideoWriter, MidClipSelectionKeepsPtsAndCutsAudioToTheSpan) {
  const std::string dir = scratch("mid_clip");
  const std::string src = kClips + "chaplin.mp4";
  FrameSelection sel;
  sel.startSeconds = 3.0;
  sel.durationSeconds = 1.0;
  const std::string out = dir + "/mid.mp4";
  auto in = copyClip(src, out, "", sel);
  ASSERT_EQ(in.size(), 25u);
  EXPECT_EQ(in.front().pts, 38400);
  auto read = readAll(out);
  ASSERT_EQ(read.size(), 25u);
  EXPECT_EQ(rescaleExact(ptsOf(read), read[0].timeBase, in[0].timeBase), ptsOf(in));
  // MP3 packets (1152 samples at 44.1 kHz) overlapping [3 s, 4 s), copied unchanged.
  std::vector<std::string> expected;
  for (const auto& l : audioPackets(src)) {
    const std::int64_t p = std::stoll(l.substr(0, l.find(',')));
    if (p + 1152 >= 3 * 44100 && p < 4 * 44100) expected.push_back(l);
  }
  EXPECT_GE(expected.size(), 38u);
  EXPECT_EQ(audioPackets(out), expected);
}

TEST(Stages_VideoWriter, Mp3IntoWebmIsTranscodedToOpus) {
  const std::string dir = scratch("mp3_webm");
  const std::string out = dir + "/chaplin.webm";
  FrameSelection sel;
  sel.last = 9;
  auto frames = copyClip(kClips + "chaplin.mp4", out, "", sel);
  ASSERT_EQ(frames.size(), 10u);
  EXPECT_EQ(probeStream(out, "v", "stream=codec_name"), "vp9");
  EXPECT_EQ(probeStream(out, "a", "stream=codec_name"), "opus");
  EXPECT_EQ(readAll(out).size(), 10u);
}

// ---------------------------------------------------------------- selection

TEST(Stages_VideoReader, SelectionByFrameNumbers) {
  const std::string path = kClips + "example.mp4";
  auto all = readAll(path);
  ASSERT_EQ(all.size(), 50u);
  FrameSelection sel;
  sel.first = 10;
  sel.last = 19;
  expectSelectionIsSlice(path, sel, all, 10, 10);
  // Clamped to the clip.
  sel.first = 45;
  sel.last = 1000;
  ReaderConfig rc;
  rc.path = path;
  rc.selection = sel;
  VideoReader tail(rc);
  EXPECT_EQ(tail.expectedFrames(), 5);
  EXPECT_EQ(readAll(path, sel).size(), 5u);
  sel.first = 48;
  sel.last = -1;
  EXPECT_EQ(readAll(path, sel).size(), 2u);
}

TEST(Stages_VideoReader, SelectionByStartAndDurationSeeks) {
  const std::string path = kClips + "chaplin.mp4";
  FrameSelection head;
  head.last = 120;
  auto all = readAll(path, head);
  ASSERT_EQ(all.size(), 121u);
  FrameSelection sel;
  sel.startSeconds = 3.0;     // pts 38400 = frame 75
  sel.durationSeconds = 0.4;  // up to (excluding) 3.4 s = frame 85
  // Seeking to a keyframe and decoding forward gives the very same pixels.
  expectSelectionIsSlice(path, sel, all, 75, 10);
  // A start between frames begins at the next frame.
  sel.startSeconds = 3.01;
  sel.durationSeconds.reset();
  sel.last = -1;
  FrameSelection both = sel;
  both.last = 100;  // frame numbers and time together: no seek, both apply
  auto b = readAll(path, both);
  ASSERT_EQ(b.size(), 25u);  // frames 76..100
  EXPECT_EQ(b.front().pts, all[76].pts);
}

// ---------------------------------------------------------------- bad inputs

TEST(Stages_VideoReader, BadInputsNameThePathAndTheFault) {
  const std::string dir = scratch("bad");
  auto openErr = [](const std::string& path) {
    return errorOf([&] { readAll(path); });
  };
  auto expectError = [&](const std::string& path, const std::string& fault) {
    const std::string e = openErr(path);
    EXPECT_NE(e.find(path), std::string::npos) << e;
    EXPECT_NE(e.find(fault), std::string::npos) << "expected '" << fault << "' in: " << e;
  };
  expectError(dir + "/missing.mp4", "does not exist");
  expectError(dir, "is a directory");
  { std::ofstream(dir + "/empty.mp4"); }
  expectError(dir + "/empty.mp4", "empty file (0 bytes)");
  {
    std::ofstream f(dir + "/random.mp4", std::ios::binary);
    std::mt19937 rng(7);
    for (int i = 0; i < 65536; ++i) f.put(static_cast<char>(rng() & 0xff));
  }
  {
    const std::string e = openErr(dir + "/random.mp4");
    EXPECT_NE(e.find(dir + "/random.mp4"), std::string::npos) << e;
    EXPECT_TRUE(e.find("not a media file") != std::string::npos ||
                e.find("no video stream") != std::string::npos ||
                e.find("no decodable video frames") != std::string::npos)
        << e;
  }
  ASSERT_EQ(std::system(("ffmpeg -v error -y -f lavfi -i sine=frequency=440:duration=0.5 '" + dir +
                         "/sine.m4a'")
                            .c_str()),
            0);
  expectError(dir + "/sine.m4a", "no video stream");
  {
    std::ofstream f(dir + "/tiny.ppm", std::ios::binary);
    f << "P6\n1 1\n255\n" << '\x10' << '\x20' << '\x30';
  }
  expectError(dir + "/tiny.ppm", "too small: 1x1");
  expectError(dir + "/nothing/%05d.png", "does not exist");
  expectError(dir + "/%05d.png", "no image files match");

  // Truncated files. chaplin keeps its index at the end: cut, it is not readable at all.
  auto truncate = [&](const std::string& from, const std::string& to, std::uintmax_t bytes) {
    std::ifstream in(from, std::ios::binary);
    std::string data(bytes, '\0');
    in.read(data.data(), static_cast<std::streamsize>(bytes));
    std::ofstream(to, std::ios::binary).write(data.data(), static_cast<std::streamsize>(bytes));
  };
  truncate(kClips + "chaplin.mp4", dir + "/chaplin_cut.mp4", 300000);
  expectError(dir + "/chaplin_cut.mp4", "not a media file");
  // smpte has its index first: cut in the middle, what remains decodes.
  truncate(kClips + "smpte-2997.mp4", dir + "/smpte_cut.mp4", 60000);
  std::vector<Frame> part;
  EXPECT_NO_THROW(part = readAll(dir + "/smpte_cut.mp4"));
  EXPECT_GT(part.size(), 0u);
  EXPECT_LT(part.size(), 251u);
  // Cut right after the index: nothing decodes.
  truncate(kClips + "smpte-2997.mp4", dir + "/smpte_head.mp4", 9100);
  expectError(dir + "/smpte_head.mp4", "no decodable video frames");
}

// ---------------------------------------------------------------- writer failures

TEST(Stages_VideoWriter, FailsAtConstructionOnBadDestinationOrCodec) {
  const std::string dir = scratch("writer_errors");
  const VideoInfo info = syntheticInfo(64, 48, Rational{1, 25}, Rational{25, 1});
  auto make = [&](const std::string& path, const std::string& codec,
                  std::map<std::string, std::string> opts = {}) {
    return errorOf([&] {
      WriterConfig cfg;
      cfg.path = path;
      cfg.codec = codec;
      cfg.codecOptions = std::move(opts);
      VideoWriter w(cfg, info);
    });
  };
  std::string e = make(dir + "/missing/out.mp4", "");
  EXPECT_NE(e.find(dir + "/missing/out.mp4"), std::string::npos) << e;
  EXPECT_NE(e.find("does not exist"), std::string::npos) << e;
  e = make("/proc/flowstyle_out.mp4", "");  // not writable, even for root
  EXPECT_NE(e.find("not writable"), std::string::npos) << e;
  if (geteuid() != 0) {  // permissions do not stop root
    fs::create_directory(dir + "/ro");
    fs::permissions(dir + "/ro", fs::perms::owner_read | fs::perms::owner_exec);
    e = make(dir + "/ro/out.mp4", "");
    EXPECT_NE(e.find("not writable"), std::string::npos) << e;
    fs::permissions(dir + "/ro", fs::perms::owner_all);
    fs::remove(dir + "/ro");
  }
  e = make(dir + "/out.mp4", "foo");
  EXPECT_NE(e.find("unknown codec 'foo'"), std::string::npos) << e;
  EXPECT_NE(e.find("libx264"), std::string::npos) << e;
  e = make(dir + "/out.xyz", "");
  EXPECT_NE(e.find("unknown container"), std::string::npos) << e;
  e = make(dir + "/out.mp4", "libx264", {{"no_such_option", "1"}});
  EXPECT_NE(e.find("no_such_option"), std::string::npos) << e;
  // A real option passes.
  WriterConfig ok;
  ok.path = dir + "/out.mp4";
  ok.codec = "libx264";
  ok.codecOptions = {{"tune", "film"}};
  EXPECT_NO_THROW(VideoWriter(ok, info));
  int entries = 0;
  for ([[maybe_unused]] const auto& x : fs::directory_iterator(dir)) ++entries;
  EXPECT_EQ(entries, 0);  // no temporary files left behind
}

TEST(Stages_VideoWriter, MissingOrBrokenAudioSourceNeverStopsTheVideo) {
  const std::string dir = scratch("broken_audio");
  // A source whose file is gone, and one that is not a media file at all.
  { std::ofstream(dir + "/garbage.mp4") << "not a video"; }
  for (const std::string& source : {dir + "/gone.mp4", dir + "/garbage.mp4"}) {
    VideoInfo info = syntheticInfo(64, 48, Rational{1, 25}, Rational{25, 1});
    info.path = source;
    info.hasAudio = true;
    WriterConfig cfg;
    cfg.path = dir + "/out.mp4";
    cfg.preset = "ultrafast";
    VideoWriter writer(cfg, info);
    for (int i = 0; i < 4; ++i) {
      Frame f;
      f.rgb = texture(i, 64, 48);
      f.pts = i;
      f.timeBase = Rational{1, 25};
      writer.write(f);
    }
    EXPECT_NO_THROW(writer.finish());
    EXPECT_EQ(readAll(cfg.path).size(), 4u);
    EXPECT_TRUE(audioPackets(cfg.path).empty());
  }
}

TEST(Stages_VideoWriter, DestroyedWithoutFinishLeavesNoFile) {
  const std::string dir = scratch("no_finish");
  const std::string path = dir + "/out.mp4";
  {
    WriterConfig cfg;
    cfg.path = path;
    cfg.preset = "ultrafast";
    VideoWriter writer(cfg, syntheticInfo(64, 48, Rational{1, 25}, Rational{25, 1}));
    for (int i = 0; i < 3; ++i) {
      Frame f;
      f.rgb = texture(i, 64, 48);
      f.pts = i;
      f.timeBase = Rational{1, 25};
      writer.write(f);
    }
    int entries = 0;
    for ([[maybe_unused]] const auto& x : fs::directory_iterator(dir)) ++entries;
    EXPECT_EQ(entries, 1);  // the temporary file
    EXPECT_FALSE(fs::exists(path));
  }
  EXPECT_FALSE(fs::exists(path));
  EXPECT_TRUE(fs::is_empty(dir));
}
