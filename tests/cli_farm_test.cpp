// Farm chunks, join and resume, run as a render farm runs them: real clips, real weights,
// real SIGKILLs.
#include <signal.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <opencv2/core.hpp>

#include "stages/video_reader.hpp"
#include "tests/cli_support.hpp"
#include "tests/test_support.hpp"

namespace fs = std::filesystem;
using flowstyle::test::CommandResult;
using flowstyle::test::probeLines;
using flowstyle::test::scratchDir;
using flowstyle::test::sharedPath;
using namespace flowstyle::test::cli;

namespace {

std::vector<cv::Mat> readAll(const fs::path& video) {
  flowstyle::stages::ReaderConfig rc;
  rc.path = video.string();
  flowstyle::stages::VideoReader reader(rc);
  std::vector<cv::Mat> frames;
  while (auto f = reader.next()) frames.push_back(f->rgb);
  return frames;
}

double maxAbsDiff(const cv::Mat& a, const cv::Mat& b) {
  double m = 0;
  cv::minMaxLoc(cv::abs(a - b) | cv::abs(b - a), nullptr, &m);
  return m;
}

std::string tag(const fs::path& file, const std::string& key, const fs::path& dir) {
  const auto lines = probeLines(file.string(), "-show_entries format_tags=" + key, dir);
  return lines.empty() ? "" : lines.front();
}

std::string stateFolder(const fs::path& out) {
  return (out.parent_path() / ("." + out.filename().string() + ".flowstyle-state")).string();
}

int pngsIn(const fs::path& stateDir) {
  int n = 0;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(stateDir / "frames", ec)) n += e.path().extension() == ".png";
  return n;
}

}  // namespace

TEST(Cli_Chunks, PartHoldsOverlapAndPreRollBuildsState) {
  const fs::path dir = scratchDir();
  const fs::path in = smallClip(dir, 2.0);  // 50 frames
  CommandResult r = cli({"video", in.string(), "--method", "copy", "--codec", "ffv1", "-o", (dir / "all.mkv").string()}, dir);
  ASSERT_EQ(r.exitCode, 0) << r.err;
  const fs::path part = dir / "p.mkv";
  r = cli({"video", in.string(), "--method", "copy", "--frames", "20-29", "--preroll", "6", "--overlap", "3", "-o",
           part.string()},
          dir);
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_EQ(probeLines(part.string(), "-select_streams v:0 -show_entries stream=codec_name", dir),
            std::vector<std::string>{"ffv1"});
  EXPECT_EQ(tag(part, "FLOWSTYLE_FIRST_FRAME", dir), "17");
  EXPECT_EQ(tag(part, "FLOWSTYLE_RANGE_FIRST", dir), "20");
  EXPECT_EQ(tag(part, "FLOWSTYLE_PREROLL", dir), "6");
  EXPECT_EQ(tag(part, "FLOWSTYLE_SOURCE_PATH", dir), in.string());
  const auto all = readAll(dir / "all.mkv");
  const auto frames = readAll(part);
  ASSERT_EQ(frames.size(), 13u);  // 17..29
  for (std::size_t i = 0; i < frames.size(); ++i) EXPECT_EQ(maxAbsDiff(frames[i], all[17 + i]), 0) << i;
  // The part carries the source's timestamps for its frames.
  const auto srcPts = probeLines(in.string(), "-select_streams v:0 -show_entries frame=pts_time", dir);
  const auto partPts = probeLines(part.string(), "-select_streams v:0 -show_entries frame=pts_time", dir);
  ASSERT_EQ(partPts.size(), 13u);
  EXPECT_EQ(partPts.front(), srcPts[17]);

  // The end of the range is clamped to the clip; a range past the end is an error.
  r = cli({"video", in.string(), "--method", "copy", "--frames", "40-99", "--preroll", "2", "-o",
           (dir / "tail.mkv").string()},
          dir);
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_EQ(readAll(dir / "tail.mkv").size(), 10u);
  r = cli({"video", in.string(), "--method", "copy", "--frames", "60-79", "--preroll", "20", "-o",
           (dir / "past.mkv").string()},
          dir);
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_NE(r.err.find("60-79"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("past the end"), std::string::npos) << r.err;
  expectNoOutputLeft(dir, "past.mkv");

  r = cli({"video", in.string(), "--method", "copy", "--frames", "20-29", "--preroll", "2", "--overlap", "3", "-o",
           (dir / "x.mkv").string()},
          dir);
  EXPECT_EQ(r.exitCode, 2);
  EXPECT_NE(r.err.find("--overlap"), std::string::npos) << r.err;
  r = cli({"video", in.string(), "--method", "copy", "--preroll", "4", "-o", (dir / "x.mkv").string()}, dir);
  EXPECT_EQ(r.exitCode, 2);
  EXPECT_NE(r.err.find("--frames"), std::string::npos) << r.err;
  r = cli({"video", in.string(), "--method", "copy", "--frames", "30-20", "-o", (dir / "x.mkv").string()}, dir);
  EXPECT_EQ(r.exitCode, 2);
  EXPECT_NE(r.err.find("30-20"), std::string::npos) << r.err;
}

TEST(Cli_Join, CopyPartsJoinToTheSourceWithItsTimingAndAudio) {
  const fs::path dir = scratchDir();
  const fs::path in = smallClip(dir, 2.0);
  CommandResult r = cli({"video", in.string(), "--method", "copy", "-o", (dir / "ref.mp4").string()}, dir);
  ASSERT_EQ(r.exitCode, 0) << r.err;
  const std::vector<std::pair<std::string, std::string>> chunks = {{"0-19", "p0.mkv"}, {"20-34", "p1.mkv"}, {"35-60", "p2.mkv"}};
  for (const auto& [frames, name] : chunks) {
    r = cli({"video", in.string(), "--method", "copy", "--frames", frames, "--preroll", "4", "--overlap", "2", "-o",
             (dir / name).string()},
            dir);
    ASSERT_EQ(r.exitCode, 0) << r.err;
  }
  // Given in any order.
  r = cli({"join", (dir / "p2.mkv").string(), (dir / "p0.mkv").string(), (dir / "p1.mkv").string(), "-o",
           (dir / "joined.mp4").string()},
          dir);
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_NE(r.err.find("50 frames"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("4 blended"), std::string::npos) << r.err;
  EXPECT_EQ(framemd5(dir / "joined.mp4", dir), framemd5(dir / "ref.mp4", dir));
  const std::string pts = "-select_streams v:0 -show_entries packet=pts";
  EXPECT_EQ(probeLines((dir / "joined.mp4").string(), pts, dir), probeLines((dir / "ref.mp4").string(), pts, dir));
  const std::string audio = "-select_streams a:0 -show_entries packet=pts,size";
  const auto joinedAudio = probeLines((dir / "joined.mp4").string(), audio, dir);
  EXPECT_FALSE(joinedAudio.empty());
  EXPECT_EQ(joinedAudio, probeLines((dir / "ref.mp4").string(), audio, dir));
}

TEST(Cli_Join, OverlapFramesAreARampBetweenTheTwoParts) {
  const fs::path dir = scratchDir();
  const fs::path in = smallClip(dir, 1.2);  // 30 frames
  const std::vector<std::string> net = {"--method", "fast", "--model", "wave", "--precision", "float32", "--threads", "2"};
  auto video = [&](const std::string& frames, const std::string& name, const std::string& preroll) {
    std::vector<std::string> a = {"video", in.string(), "--frames", frames, "--preroll", preroll, "--overlap", "4",
                                  "-o", (dir / name).string()};
    a.insert(a.end(), net.begin(), net.end());
    CommandResult r = cli(a, dir);
    ASSERT_EQ(r.exitCode, 0) << r.err;
  };
  video("0-14", "a.mkv", "4");
  video("15-29", "b.mkv", "8");
  CommandResult r = cli({"join", (dir / "a.mkv").string(), (dir / "b.mkv").string(), "-o", (dir / "j.mkv").string(),
                         "--codec", "ffv1", "--blend", "ramp"},
                        dir);
  ASSERT_EQ(r.exitCode, 0) << r.err;
  const auto a = readAll(dir / "a.mkv"), b = readAll(dir / "b.mkv");
  ASSERT_EQ(a.size(), 15u);
  ASSERT_EQ(b.size(), 19u);  // 11..29
  for (int n = 11; n < 15; ++n) {
    EXPECT_GT(maxAbsDiff(a[n], b[n - 11]), 2) << "the parts must differ in the overlap for the test to mean anything";
  }
  // A joined video: a's frames before `firstBlend`, then (1-w)·a + w·b with w = weightOf(n)
  // up to frame 14, then b's own frames.
  auto expectJoin = [&](const fs::path& joined, int firstBlend, const std::function<double(int)>& weightOf) {
    const auto j = readAll(joined);
    ASSERT_EQ(j.size(), 30u);
    for (int n = 0; n < firstBlend; ++n) EXPECT_EQ(maxAbsDiff(j[n], a[n]), 0) << n;
    for (int n = firstBlend; n < 15; ++n) {
      const double w = weightOf(n);
      cv::Mat expected;
      cv::addWeighted(a[n], 1 - w, b[n - 11], w, 0, expected);
      EXPECT_LE(maxAbsDiff(j[n], expected), 1) << n << " w " << w;
    }
    for (int n = 15; n < 30; ++n) EXPECT_EQ(maxAbsDiff(j[n], b[n - 11]), 0) << n;
  };
  expectJoin(dir / "j.mkv", 11, [](int n) { return (n - 11 + 1) / 5.0; });

  // join --overlap 2: only the last two overlap frames are blended (weights 1/3, 2/3); the
  // earlier part's frames run up to them, the later part's first two overlap frames are dropped.
  r = cli({"join", (dir / "b.mkv").string(), (dir / "a.mkv").string(), "-o", (dir / "j2.mkv").string(), "--codec",
           "ffv1", "--overlap", "2", "--blend", "ramp"},
          dir);
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_NE(r.err.find("2 blended"), std::string::npos) << r.err;
  expectJoin(dir / "j2.mkv", 13, [](int n) { return (n - 13 + 1) / 3.0; });

  // --blend fitted: each overlap frame is still a mix (1-w)·a + w·b, w never falling, and the
  // summary reports what was measured at the seam.
  r = cli({"join", (dir / "a.mkv").string(), (dir / "b.mkv").string(), "-o", (dir / "jf.mkv").string(), "--codec",
           "ffv1", "--blend", "fitted"},
          dir);
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_NE(r.err.find("seam at frame 15: the parts differ by"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("fade over 4 frames"), std::string::npos) << r.err;
  const auto jf = readAll(dir / "jf.mkv");
  double prevW = 0;
  expectJoin(dir / "jf.mkv", 11, [&](int n) {
    cv::Mat fa, fb, fj;
    a[n].convertTo(fa, CV_64FC3);
    b[n - 11].convertTo(fb, CV_64FC3);
    jf.at(n).convertTo(fj, CV_64FC3);
    const double w = (fj - fa).dot(fb - fa) / std::max(1e-9, (fb - fa).dot(fb - fa));  // least squares
    EXPECT_GE(w, prevW - 0.01) << n;
    EXPECT_LE(w, 1.0 + 0.01) << n;
    prevW = w;
    return w;
  });
  EXPECT_GT(prevW, 0.3) << "the fade must reach well into the later part";

  // The default, --blend auto, is fitted for fast parts, and says so.
  r = cli({"join", (dir / "a.mkv").string(), (dir / "b.mkv").string(), "-o", (dir / "jd.mkv").string(), "--codec",
           "ffv1"},
          dir);
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_NE(r.err.find("join: --blend auto: fitted (fast parts)"), std::string::npos) << r.err;
  const auto jd = readAll(dir / "jd.mkv");
  ASSERT_EQ(jd.size(), jf.size());
  for (std::size_t n = 0; n < jd.size(); ++n) EXPECT_EQ(maxAbsDiff(jd[n], jf[n]), 0) << n;

  // --overlap 0: a plain cut at the later part's own range; -2 is a usage error.
  r = cli({"join", (dir / "a.mkv").string(), (dir / "b.mkv").string(), "-o", (dir / "j0.mkv").string(), "--codec",
           "ffv1", "--overlap", "0"},
          dir);
  ASSERT_EQ(r.exitCode, 0) << r.err;
  const auto j0 = readAll(dir / "j0.mkv");
  ASSERT_EQ(j0.size(), 30u);
  EXPECT_EQ(maxAbsDiff(j0[14], a[14]), 0);
  EXPECT_EQ(maxAbsDiff(j0[15], b[4]), 0);
  r = cli({"join", (dir / "a.mkv").string(), (dir / "b.mkv").string(), "-o", (dir / "jx.mkv").string(),
           "--overlap=-2"},
          dir);
  EXPECT_EQ(r.exitCode, 2) << r.err;
  EXPECT_NE(r.err.find("--overlap"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir / "jx.mkv"));
}

// --blend restyle: the overlap frames are stylized again, as one chain from the earlier part
// to the later one, with the chunks' own settings (checked against the parts').
TEST(Cli_Join, RestyleStylizesTheOverlapAgainAsOneChain) {
  const fs::path dir = scratchDir();
  const fs::path in = smallClip(dir, 1.2);  // 30 frames, 64x48
  const std::vector<std::string> style = {"--method", "optimize", "--style", sharedPath("media/styles/starry_night.jpg"),
                                          "--loss-net", "squeezenet", "--max-side", "48", "--iterations-first", "8",
                                          "--iterations", "4", "--threads", "2"};
  auto video = [&](const std::string& frames, const std::string& name, const std::string& preroll) {
    std::vector<std::string> a = {"video", in.string(), "--frames", frames, "--preroll", preroll, "--overlap", "4",
                                  "-o", (dir / name).string()};
    a.insert(a.end(), style.begin(), style.end());
    CommandResult r = cli(a, dir);
    ASSERT_EQ(r.exitCode, 0) << r.err;
  };
  video("0-14", "a.mkv", "4");
  video("15-29", "b.mkv", "6");
  auto join = [&](const std::string& out, std::vector<std::string> chunk, std::vector<std::string> options = {}) {
    std::vector<std::string> a = {"join", (dir / "a.mkv").string(), (dir / "b.mkv").string(), "-o",
                                  (dir / out).string(), "--codec", "ffv1", "--blend", "restyle"};
    a.insert(a.end(), options.begin(), options.end());
    if (!chunk.empty()) a.push_back("--");
    a.insert(a.end(), chunk.begin(), chunk.end());
    return cli(a, dir);
  };
  CommandResult r = join("j.mkv", style);
  ASSERT_EQ(r.exitCode, 0) << r.err;
  // Restyled, then polished (--restyle-polish, default 2): two optimizer runs per fade frame.
  EXPECT_NE(r.err.find("restyled frame 14 (4/8)"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("polished frame 14 (8/8)"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("seam at frame 15: "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(" painted again from the joined frame"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("seam at frame 15"), std::string::npos) << r.err;
  const auto a = readAll(dir / "a.mkv"), b = readAll(dir / "b.mkv"), j = readAll(dir / "j.mkv");
  ASSERT_EQ(a.size(), 15u);
  ASSERT_EQ(b.size(), 19u);  // 11..29
  ASSERT_EQ(j.size(), 30u);
  for (int n = 0; n < 11; ++n) EXPECT_EQ(maxAbsDiff(j[n], a[n]), 0) << n;
  for (int n = 15; n < 30; ++n) EXPECT_EQ(maxAbsDiff(j[n], b[n - 11]), 0) << n;
  // The fade starts near the earlier part and ends near the later one, and its frames are
  // new stylizations: none is either part's frame.
  auto dist = [](const cv::Mat& x, const cv::Mat& y) { return cv::norm(x, y, cv::NORM_L2); };
  EXPECT_LT(dist(j[11], a[11]), dist(j[11], b[0]));
  EXPECT_LT(dist(j[14], b[3]), dist(j[14], a[14]));
  for (int n = 11; n < 15; ++n) {
    EXPECT_GT(dist(a[n], b[n - 11]), 0) << "the parts must differ in the overlap for the test to mean anything";
    EXPECT_GT(maxAbsDiff(j[n], a[n]), 0) << n;
    EXPECT_GT(maxAbsDiff(j[n], b[n - 11]), 0) << n;
  }
  // The same command again gives the same frames (the chunks' own seed and thread count).
  r = join("j2.mkv", {"video", in.string(), "--frames", "15-29", "--preroll", "6", "--overlap", "4", "-o",
                      (dir / "b.mkv").string(), "--method", "optimize", "--style",
                      sharedPath("media/styles/starry_night.jpg"), "--loss-net", "squeezenet", "--max-side", "48",
                      "--iterations-first", "8", "--iterations", "4", "--threads", "2"});
  ASSERT_EQ(r.exitCode, 0) << "the whole chunk command after -- is accepted too: " << r.err;
  const auto j2 = readAll(dir / "j2.mkv");
  ASSERT_EQ(j2.size(), 30u);
  for (int n = 11; n < 15; ++n) EXPECT_EQ(maxAbsDiff(j[n], j2[n]), 0) << n;
  // Without the polish: the restyled and handed-off frames as they were; the polish painted
  // its fade frames again, and left everything outside the fade alone.
  r = join("j0.mkv", style, {"--restyle-polish", "0"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_NE(r.err.find("restyled frame 14 (4/4)"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("polished frame"), std::string::npos) << r.err;
  // Another join of the same parts: 30 frames, the same as j outside the fade (11..14).
  auto readSameOutsideFade = [&](const std::string& name) {
    const auto other = readAll(dir / name);
    EXPECT_EQ(other.size(), 30u);
    for (int n = 0; n < 30 && n < static_cast<int>(other.size()); ++n) {
      if (n < 11 || n >= 15) {
        EXPECT_EQ(maxAbsDiff(other[n], j[n]), 0) << name << " frame " << n;
      }
    }
    return other;
  };
  const auto j0 = readSameOutsideFade("j0.mkv");
  ASSERT_EQ(j0.size(), 30u);
  EXPECT_GT(maxAbsDiff(j0[11], j[11]), 0) << "the fade's first frame is painted again";
  // Without the polish's look-ahead the fade's polished frames come out otherwise (the last is
  // no longer held on the later part's frame 15); nothing outside the fade changes.
  r = join("jl.mkv", style, {"--restyle-lookahead", "0"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  const auto jl = readSameOutsideFade("jl.mkv");
  ASSERT_EQ(jl.size(), 30u);
  EXPECT_GT(maxAbsDiff(jl[14], j[14]), 0) << "the fade's last frame is held on the later part's frame 15";
  // A later part whose pre-roll reaches back to frame 0 is the earlier part's chain: the two
  // agree on the overlap, and join takes those frames instead of painting them again.
  video("15-29", "one.mkv", "15");
  const auto one = readAll(dir / "one.mkv");
  ASSERT_EQ(one.size(), 19u);  // 11..29
  for (int n = 11; n < 15; ++n) ASSERT_EQ(maxAbsDiff(a[n], one[n - 11]), 0) << "one chain: frame " << n;
  std::vector<std::string> joinOne = {"join", (dir / "a.mkv").string(), (dir / "one.mkv").string(), "-o",
                                      (dir / "j1.mkv").string(), "--codec", "ffv1", "--blend", "restyle", "--"};
  joinOne.insert(joinOne.end(), style.begin(), style.end());
  r = cli(joinOne, dir);
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_EQ(r.err.find("restyled frame"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("seam at frame 15: the parts agree on all 4 frames of the fade"), std::string::npos) << r.err;
  const auto j1 = readAll(dir / "j1.mkv");
  ASSERT_EQ(j1.size(), 30u);
  for (int n = 0; n < 15; ++n) EXPECT_EQ(maxAbsDiff(j1[n], a[n]), 0) << n;
  for (int n = 15; n < 30; ++n) EXPECT_EQ(maxAbsDiff(j1[n], one[n - 11]), 0) << n;

  // Other settings than the parts': refused, naming the part; nothing written.
  std::vector<std::string> other = style;
  other[other.size() - 3] = "5";  // --iterations 5
  r = join("x.mkv", other);
  EXPECT_EQ(r.exitCode, 1) << r.err;
  EXPECT_NE(r.err.find("a.mkv: made with other settings"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir / "x.mkv"));
  // Without the chunk options (and no seam part): refused, naming the seam; with them but
  // another blend: a usage error.
  r = join("x.mkv", {});
  EXPECT_EQ(r.exitCode, 1) << r.err;
  EXPECT_NE(r.err.find("the seam at frame 15 has no seam part"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("after --"), std::string::npos) << r.err;
  r = cli({"join", (dir / "a.mkv").string(), (dir / "b.mkv").string(), "-o", (dir / "x.mkv").string(), "--", "--method",
           "optimize"},
          dir);
  EXPECT_EQ(r.exitCode, 2) << r.err;
  EXPECT_FALSE(fs::exists(dir / "x.mkv"));
}

// A farm restyles its seams apart: `join A B --seam-part` writes one seam's fade as a seam
// part, and the join given the chunk parts and the seam parts gives the frames a join that
// restyles them itself gives, without the chunk options.
TEST(Cli_Join, SeamPartsRestyleEachSeamAsItsOwnTask) {
  const fs::path dir = scratchDir();
  const fs::path in = smallClip(dir, 1.6);  // 40 frames, 64x48
  const std::vector<std::string> style = {"--method", "optimize", "--style", sharedPath("media/styles/starry_night.jpg"),
                                          "--loss-net", "squeezenet", "--max-side", "48", "--iterations-first", "6",
                                          "--iterations", "3", "--threads", "2"};
  auto video = [&](const std::string& frames, const std::string& name) {
    std::vector<std::string> a = {"video", in.string(), "--frames", frames, "--preroll", "4", "--overlap", "3",
                                  "-o", (dir / name).string()};
    a.insert(a.end(), style.begin(), style.end());
    CommandResult r = cli(a, dir);
    ASSERT_EQ(r.exitCode, 0) << r.err;
  };
  video("0-12", "a.mkv");
  video("13-25", "b.mkv");
  video("26-39", "c.mkv");
  auto run = [&](std::vector<std::string> a, const std::vector<std::string>& chunk) {
    for (std::string& x : a)
      if (x.size() > 4 && x.substr(x.size() - 4) == ".mkv") x = (dir / x).string();
    a.insert(a.begin(), "join");
    if (!chunk.empty()) a.push_back("--");
    a.insert(a.end(), chunk.begin(), chunk.end());
    return cli(a, dir);
  };
  CommandResult r = run({"a.mkv", "b.mkv", "c.mkv", "-o", "whole.mkv", "--codec", "ffv1", "--blend", "restyle"}, style);
  ASSERT_EQ(r.exitCode, 0) << r.err;
  // One task per seam, in any order.
  r = run({"b.mkv", "c.mkv", "--seam-part", "-o", "s2.mkv", "--blend", "restyle"}, style);
  ASSERT_EQ(r.exitCode, 0) << r.err;
  r = run({"a.mkv", "b.mkv", "--seam-part", "-o", "s1.mkv", "--blend", "restyle"}, style);
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_NE(r.err.find("s1.mkv: seam part of the seam at frame 13, 3 restyled frames (10-12)"), std::string::npos)
      << r.err;
  EXPECT_EQ(readAll(dir / "s1.mkv").size(), 3u);  // the fade: frames 10..12
  r = run({"c.mkv", "s2.mkv", "a.mkv", "s1.mkv", "b.mkv", "-o", "joined.mkv", "--codec", "ffv1", "--blend", "restyle"},
          {});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  const auto whole = readAll(dir / "whole.mkv"), joined = readAll(dir / "joined.mkv");
  ASSERT_EQ(whole.size(), 40u);
  ASSERT_EQ(joined.size(), 40u);
  for (int n = 0; n < 40; ++n) EXPECT_EQ(maxAbsDiff(whole[n], joined[n]), 0) << n;
  // One seam part: the other seam is restyled by the join, with the options after --.
  r = run({"a.mkv", "b.mkv", "c.mkv", "s2.mkv", "-o", "half.mkv", "--codec", "ffv1", "--blend", "restyle"}, style);
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_NE(r.err.find("restyled frame 12 (3/6)"), std::string::npos) << "only seam 13 is restyled: " << r.err;
  EXPECT_NE(r.err.find("polished frame 12 (6/6)"), std::string::npos) << "and polished: " << r.err;
  const auto half = readAll(dir / "half.mkv");
  ASSERT_EQ(half.size(), 40u);
  for (int n = 0; n < 40; ++n) EXPECT_EQ(maxAbsDiff(whole[n], half[n]), 0) << n;

  // What cannot be trusted or used: refused, naming the file; nothing written.
  struct Case {
    std::vector<std::string> args;
    std::vector<std::string> chunk;
    int exit;
    std::string expect;
  };
  const std::vector<Case> cases = {
      {{"a.mkv", "b.mkv", "c.mkv", "s1.mkv", "-o", "x.mkv", "--blend", "fitted"}, {}, 1,
       "s1.mkv: a seam part (join --seam-part) serves --blend restyle only"},
      // --blend auto takes seam parts as the restyle's: the seam without one needs the chunks' options.
      {{"a.mkv", "b.mkv", "c.mkv", "s1.mkv", "-o", "x.mkv"}, {}, 1,
       "the seam at frame 26 has no seam part (join --seam-part) and no chunk options were given"},
      {{"a.mkv", "b.mkv", "c.mkv", "s1.mkv", "-o", "x.mkv", "--blend", "restyle", "--overlap", "2"}, {}, 1,
       "s1.mkv: seam part (frames 10-12, restyled from the parts holding 0-12 and 10-25) does not fit the seam at frame 13"},
      {{"a.mkv", "c.mkv", "s1.mkv", "s2.mkv", "-o", "x.mkv", "--blend", "restyle"}, {}, 1, "join: frames missing"},
      {{"a.mkv", "b.mkv", "c.mkv", "s1.mkv", "s1.mkv", "-o", "x.mkv", "--blend", "restyle"}, {}, 1,
       "a second seam part for the seam at frame 13"},
      {{"s1.mkv", "s2.mkv", "-o", "x.mkv", "--blend", "restyle"}, {}, 1, "only seam parts given"},
      {{"a.mkv", "b.mkv", "c.mkv", "s1.mkv", "s2.mkv", "-o", "x.mkv", "--blend", "restyle", "--restyle-hold", "1.5"},
       {}, 1, "s1.mkv: seam part restyled with --restyle-hold 2; this join restyles with 1.5"},
      {{"a.mkv", "b.mkv", "c.mkv", "s1.mkv", "s2.mkv", "-o", "x.mkv", "--blend", "restyle", "--restyle-polish", "1"},
       {}, 1, "s1.mkv: seam part restyled with --restyle-polish 2; this join restyles with 1"},
      {{"a.mkv", "b.mkv", "c.mkv", "s1.mkv", "s2.mkv", "-o", "x.mkv", "--blend", "restyle", "--restyle-lookahead", "0.5"},
       {}, 1, "s1.mkv: seam part restyled with --restyle-lookahead 0.25; this join restyles with 0.5"},
      {{"a.mkv", "b.mkv", "c.mkv", "--seam-part", "-o", "x.mkv", "--blend", "restyle"}, style, 1,
       "give exactly the two chunk parts of one seam (given 3"},
      {{"a.mkv", "b.mkv", "--seam-part", "-o", "x.mkv", "--blend", "restyle"}, {}, 2, "--seam-part: give the chunk command's own options after --"},
      {{"a.mkv", "b.mkv", "--seam-part", "-o", "x.mkv", "--blend", "fitted"}, {}, 2, "--seam-part goes with --blend restyle"},
      {{"a.mkv", "b.mkv", "--seam-part", "-o", "x.mkv", "--blend", "restyle", "--codec", "libx264"}, style, 2,
       "--seam-part writes a lossless seam part (FFV1): leave out --codec libx264"},
  };
  for (const Case& c : cases) {
    r = run(c.args, c.chunk);
    EXPECT_EQ(r.exitCode, c.exit) << c.expect << ": " << r.err;
    EXPECT_NE(r.err.find(c.expect), std::string::npos) << c.expect << " in: " << r.err;
    EXPECT_FALSE(fs::exists(dir / "x.mkv")) << c.expect;
  }
}

TEST(Cli_Join, RefusesPartsItCannotTrustAndNamesThem) {
  const fs::path dir = scratchDir();
  const fs::path in = smallClip(dir, 2.0);
  const fs::path other = dir / "other.mp4";  // another pattern: another source
  flowstyle::test::makeClip(other, "testsrc=size=64x48:rate=25", 2.0, {"-c:v", "libx264", "-pix_fmt", "yuv420p"});
  auto part = [&](const fs::path& src, const std::string& frames, const std::string& name,
                  std::vector<std::string> extra = {}) {
    std::vector<std::string> a = {"video", src.string(), "--method", "copy", "--frames", frames, "--preroll", "2",
                                  "--overlap", "2", "-o", (dir / name).string()};
    a.insert(a.end(), extra.begin(), extra.end());
    CommandResult r = cli(a, dir);
    ASSERT_EQ(r.exitCode, 0) << r.err;
  };
  part(in, "0-19", "a.mkv");
  part(in, "20-34", "b.mkv");
  part(in, "35-49", "c.mkv");
  part(other, "20-34", "foreign.mkv");
  part(in, "20-34", "small.mkv", {"--max-side", "32"});
  part(in, "20-34", "lossy.mkv", {"--codec", "libx264"});
  auto join = [&](std::vector<std::string> parts, const std::string& out) {
    std::vector<std::string> a = {"join"};
    for (const std::string& p : parts) a.push_back((dir / p).string());
    a.insert(a.end(), {"-o", (dir / out).string()});
    return cli(a, dir);
  };
  struct Case {
    std::vector<std::string> parts;
    std::vector<std::string> expect;  // substrings of the one error line
  };
  const std::vector<Case> cases = {
      {{"a.mkv", "c.mkv"}, {"frames missing: 20-32", "a.mkv", "c.mkv"}},
      {{"a.mkv", "b.mkv", "b.mkv", "c.mkv"}, {"b.mkv", "same frames"}},
      {{"a.mkv", "foreign.mkv", "c.mkv"}, {"foreign.mkv", "another source"}},
      {{"a.mkv", "small.mkv", "c.mkv"}, {"small.mkv", "other settings"}},
      {{"a.mkv", "lossy.mkv", "c.mkv"}, {"lossy.mkv", "lossy"}},
      {{"a.mkv", "nothere.mkv"}, {"nothere.mkv", "not found"}},
      {{"a.mkv", "in.mp4"}, {"in.mp4", "not a flowstyle part"}},
  };
  for (const Case& c : cases) {
    CommandResult r = join(c.parts, "out.mp4");
    EXPECT_EQ(r.exitCode, 1) << c.parts[1] << ": " << r.err;
    for (const std::string& e : c.expect) EXPECT_NE(r.err.find(e), std::string::npos) << e << " in: " << r.err;
    expectNoOutputLeft(dir, "out.mp4");
  }
  // A part cut short (a bad copy; a killed chunk never appears under its name).
  fs::copy_file(dir / "b.mkv", dir / "cut.mkv");
  fs::resize_file(dir / "cut.mkv", fs::file_size(dir / "b.mkv") / 2);
  CommandResult r = join({"a.mkv", "cut.mkv", "c.mkv"}, "out.mp4");
  EXPECT_EQ(r.exitCode, 1) << r.err;
  EXPECT_NE(r.err.find("cut.mkv"), std::string::npos) << r.err;
  expectNoOutputLeft(dir, "out.mp4");
  fs::copy_file(dir / "c.mkv", dir / "cut_tail.mkv");
  fs::resize_file(dir / "cut_tail.mkv", fs::file_size(dir / "c.mkv") * 2 / 3);
  r = join({"a.mkv", "b.mkv", "cut_tail.mkv"}, "out.mp4");
  EXPECT_EQ(r.exitCode, 1) << r.err;
  EXPECT_NE(r.err.find("cut_tail.mkv"), std::string::npos) << r.err;
  expectNoOutputLeft(dir, "out.mp4");
  // The source must be the one the parts were made from.
  r = cli({"join", (dir / "a.mkv").string(), (dir / "b.mkv").string(), "--source", other.string(), "-o",
           (dir / "out.mp4").string()},
          dir);
  EXPECT_EQ(r.exitCode, 1) << r.err;
  EXPECT_NE(r.err.find("not the source"), std::string::npos) << r.err;
  r = join({"a.mkv", "b.mkv", "c.mkv"}, "fine.mp4");
  EXPECT_EQ(r.exitCode, 0) << r.err;
}

// Resume: killed with SIGKILL part-way, the same command continues and the output is the
// same, decoded frame for decoded frame, as one uninterrupted run.
struct ResumeCase {
  const char* name;
  std::vector<std::string> args;
  std::vector<std::string> settled;  // choices the state must keep (state.txt keys)
};

class Cli_Resume : public ::testing::TestWithParam<ResumeCase> {};

TEST_P(Cli_Resume, KilledRunContinuesToTheSameOutput) {
  const fs::path dir = scratchDir();
  const fs::path in = smallClip(dir, 1.0);  // 25 frames
  std::vector<std::string> base = {"video", in.string(), "--threads", "2", "--frames", "0-11"};
  base.insert(base.end(), GetParam().args.begin(), GetParam().args.end());
  auto with = [&](const fs::path& out, std::vector<std::string> extra) {
    std::vector<std::string> a = base;
    a.insert(a.end(), {"-o", out.string()});
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  };
  CommandResult r = cli(with(dir / "ref.mp4", {}), dir);
  ASSERT_EQ(r.exitCode, 0) << r.err;

  const fs::path out = dir / "out.mp4";
  const std::vector<std::string> resumable = with(out, {"--resume", "--progress", "json"});
  EXPECT_EQ(interruptAfterFirstFrame(resumable, SIGKILL, "\"frame\":3,"), 128 + SIGKILL);
  EXPECT_FALSE(fs::exists(out));
  ASSERT_TRUE(fs::is_directory(stateFolder(out)));
  const int done = pngsIn(stateFolder(out));
  EXPECT_GE(done, 3);
  // The number formats `auto` settled on at frame 0 are kept: a resumed run starts at
  // another frame, where the same test could decide otherwise.
  std::ifstream stateFile(fs::path(stateFolder(out)) / "state.txt");
  const std::string stateText = "\n" + std::string(std::istreambuf_iterator<char>(stateFile), {});
  for (const std::string& key : GetParam().settled) {
    EXPECT_NE(stateText.find("\n" + key + "="), std::string::npos) << key << " in:\n" << stateText;
  }
  r = cli(resumable, dir);
  ASSERT_EQ(r.exitCode, 0) << r.err;
  if (done < 12) {
    EXPECT_NE(r.err.find("resuming from"), std::string::npos) << r.err;
  }
  EXPECT_FALSE(fs::exists(stateFolder(out))) << "the state is removed once the output is complete";
  EXPECT_EQ(framemd5(out, dir), framemd5(dir / "ref.mp4", dir));
}

INSTANTIATE_TEST_SUITE_P(
    Methods, Cli_Resume,
    ::testing::Values(
        ResumeCase{"copy", {"--method", "copy", "--preset", "veryslow", "--max-side", "48"}, {}},
        ResumeCase{"fast", {"--method", "fast", "--model", "wave"}, {"precision"}},
        ResumeCase{"optimize",
                   {"--method", "optimize", "--style", sharedPath("media/styles/starry_night.jpg"), "--max-side", "48",
                    "--iterations-first", "4", "--iterations", "2"},
                   {"optimizer_precision", "tile"}},
        ResumeCase{"hybrid",
                   {"--method", "hybrid", "--model", "wave", "--style", sharedPath("media/styles/starry_night.jpg"),
                    "--loss-net", "squeezenet", "--max-side", "48", "--iterations-first", "6", "--iterations", "3"},
                   {"precision", "optimizer_precision"}}),
    [](const ::testing::TestParamInfo<ResumeCase>& info) { return std::string(info.param.name); });

TEST(Cli_ResumeState, StaleStateIsReplacedAndForeignStateRefused) {
  const fs::path dir = scratchDir();
  const fs::path in = smallClip(dir, 1.0);
  const fs::path out = dir / "out.mkv";
  const std::vector<std::string> job = {"video", in.string(), "--method", "fast", "--model", "wave", "--threads", "2",
                                        "-o", out.string(), "--progress", "json"};
  std::vector<std::string> resumable = job;
  resumable.push_back("--resume");
  ASSERT_EQ(interruptAfterFirstFrame(resumable, SIGKILL, "\"frame\":2,"), 128 + SIGKILL);
  ASSERT_TRUE(fs::is_directory(stateFolder(out)));

  // Another command's state is refused, named, and left alone.
  std::vector<std::string> other = resumable;
  other.insert(other.end(), {"--max-side", "32"});
  CommandResult r = cli(other, dir);
  EXPECT_EQ(r.exitCode, 1) << r.err;
  EXPECT_NE(r.err.find(stateFolder(out)), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("another command"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(out));
  EXPECT_TRUE(fs::is_directory(stateFolder(out)));

  // Without --resume the stale state is reported and replaced by a fresh run.
  r = cli(job, dir);
  EXPECT_EQ(r.exitCode, 0) << r.err;
  EXPECT_NE(r.err.find("removed the resume state"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(stateFolder(out)));
  EXPECT_EQ(readAll(out).size(), 25u);

  // SIGTERM with --resume keeps the state for the next run.
  fs::remove(out);
  EXPECT_EQ(interruptAfterFirstFrame(resumable, SIGTERM, "\"frame\":2,"), 143);
  EXPECT_FALSE(fs::exists(out));
  EXPECT_GE(pngsIn(stateFolder(out)), 2);
  r = cli(resumable, dir);
  EXPECT_EQ(r.exitCode, 0) << r.err;
  EXPECT_FALSE(fs::exists(stateFolder(out)));
}

TEST(Cli_Batch, ResumeContinuesTheClipInProgress) {
  const fs::path dir = scratchDir();
  const fs::path clips = dir / "clips";
  fs::create_directories(clips);
  smallClip(clips, 0.4, "a.mp4");  // 10 frames
  smallClip(clips, 1.0, "b.mp4");  // 25 frames
  const fs::path out = dir / "styled";
  const std::vector<std::string> args = {"batch", clips.string(), "-o", out.string(), "--method", "fast", "--model",
                                         "wave", "--threads", "2", "--ext", "mkv", "--codec", "ffv1",
                                         "--resume", "--progress", "json"};
  // Killed in clip b (the second time a 6th frame is reported).
  ASSERT_EQ(interruptAfterFirstFrame(args, SIGKILL, "\"frame\":6,", 2), 128 + SIGKILL);
  ASSERT_TRUE(fs::exists(out / "a.mkv"));
  ASSERT_FALSE(fs::exists(out / "b.mkv"));
  ASSERT_GE(pngsIn(stateFolder(out / "b.mkv")), 6);
  CommandResult r = cli(args, dir);
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_NE(r.out.find("\"status\":\"skipped\""), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("resuming from"), std::string::npos) << r.err;
  r = cli({"video", (clips / "b.mp4").string(), "-o", (dir / "b_ref.mkv").string(), "--method", "fast", "--model",
           "wave", "--threads", "2", "--codec", "ffv1"},
          dir);
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_EQ(framemd5(out / "b.mkv", dir), framemd5(dir / "b_ref.mkv", dir));
}
