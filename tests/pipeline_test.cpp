// The flow graph end to end on synthetic clips with known answers, and the temporal
// behaviour of the stylizers measured with the warping-error code.
#include <atomic>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <mutex>

#include <gtest/gtest.h>
#include <opencv2/imgproc.hpp>

#include "models/loss_network.hpp"
#include "models/style_transfer.hpp"
#include "pipeline/batch.hpp"
#include "pipeline/frame_stylizer.hpp"
#include "pipeline/video_pipeline.hpp"
#include "stages/video_reader.hpp"
#include "stages/video_writer.hpp"
#include "stages/warping_error.hpp"
#include "tests/test_support.hpp"

namespace fs = std::filesystem;
using namespace flowstyle;
using flowstyle::test::scratchDir;
using flowstyle::test::sharedPath;

namespace {

// A smooth random texture, larger than the frames so a window can pan over it.
cv::Mat texture(int w, int h, unsigned seed) {
  cv::Mat noise(h / 4, w / 4, CV_8UC3);
  cv::RNG rng(seed);
  rng.fill(noise, cv::RNG::UNIFORM, 0, 255);
  cv::Mat big;
  cv::resize(noise, big, cv::Size(w, h), 0, 0, cv::INTER_CUBIC);
  cv::GaussianBlur(big, big, cv::Size(0, 0), 1.0);
  return big;
}

// Frames: a window panning right over a texture by `dx` px per frame (dx = 0: static).
std::vector<cv::Mat> panFrames(int n, int w, int h, int dx, unsigned seed = 7) {
  cv::Mat tex = texture(w + n * std::abs(dx) + 8, h + 8, seed);
  std::vector<cv::Mat> frames;
  for (int i = 0; i < n; ++i) frames.push_back(tex(cv::Rect(4 + i * dx, 4, w, h)).clone());
  return frames;
}

// Writes frames to a lossless FFV1 file with pts 0, 1, 2... in 1/25.
fs::path writeClip(const fs::path& path, const std::vector<cv::Mat>& frames) {
  stages::VideoInfo info;
  info.path = path.string();
  info.width = frames.front().cols;
  info.height = frames.front().rows;
  info.timeBase = {1, 25};
  info.avgFrameRate = {25, 1};
  stages::WriterConfig wc;
  wc.path = path.string();
  wc.codec = "ffv1";
  wc.copyAudio = false;
  stages::VideoWriter writer(wc, info);
  for (std::size_t i = 0; i < frames.size(); ++i) {
    stages::Frame f;
    f.rgb = frames[i];
    f.index = static_cast<std::int64_t>(i);
    f.pts = static_cast<std::int64_t>(i);
    f.duration = 1;
    f.timeBase = {1, 25};
    writer.write(f);
  }
  writer.finish();
  return path;
}

std::vector<cv::Mat> readAll(const fs::path& path) {
  stages::ReaderConfig rc;
  rc.path = path.string();
  stages::VideoReader reader(rc);
  std::vector<cv::Mat> frames;
  while (auto f = reader.next()) frames.push_back(f->rgb);
  return frames;
}

pipeline::Config copyConfig(const fs::path& in, const fs::path& out) {
  pipeline::Config c;
  c.method = pipeline::Method::Copy;
  c.reader.path = in.string();
  c.writer.path = out.string();
  c.writer.codec = "ffv1";
  c.run.progress = pipeline::ProgressMode::None;
  return c;
}

// Optimize with real VGG19 up to relu3_1 only, on CPU: small and quick for tests.
pipeline::Config smallOptimizeConfig(const fs::path& in, const fs::path& out, const std::string& style) {
  pipeline::Config c = copyConfig(in, out);
  c.method = pipeline::Method::Optimize;
  c.style.styles = {sharedPath("media/styles/" + style)};
  c.style.lossNet = sharedPath("models/vgg19-caffe-conv1_1-conv5_1.safetensors");
  c.style.optimize.styleLayers = {"relu1_1", "relu2_1", "relu3_1"};
  c.style.optimize.contentLayer = "relu3_1";
  c.style.optimize.device = "cpu";
  return c;
}

// Records what the graph hands to the stylize step; optionally fails or cancels.
class RecordingStylizer : public pipeline::FrameStylizer {
 public:
  std::vector<int> offsets;
  std::vector<std::int64_t> seen;
  std::vector<std::size_t> guideCounts;
  std::int64_t throwAt = -1;
  std::int64_t cancelAt = -1;
  std::atomic<bool>* cancel = nullptr;

  std::vector<int> temporalOffsets() const override { return offsets; }
  pipeline::StylizeOutcome stylize(const pipeline::StylizeRequest& r) override {
    if (r.index == throwAt) throw std::runtime_error("stylizer failed on purpose at frame 5");
    if (r.index == cancelAt && cancel != nullptr) cancel->store(true);
    seen.push_back(r.index);
    guideCounts.push_back(r.guides.size());
    for (const models::TemporalGuide& g : r.guides) {
      EXPECT_EQ(g.warped.size(), r.content.size());
      EXPECT_EQ(g.certainty.type(), CV_32FC1);
    }
    pipeline::StylizeOutcome out;
    r.content.convertTo(out.image, CV_32FC3, 1.0 / 255.0);
    return out;
  }
};

double meanAbsDiff(const cv::Mat& a, const cv::Mat& b) {
  cv::Mat d;
  cv::absdiff(a, b, d);
  return cv::mean(cv::mean(d))[0];
}

}  // namespace

TEST(Pipeline_Graph, CopyIsBitExactAndInOrderWithFlowWindows) {
  const fs::path dir = scratchDir();
  const std::vector<cv::Mat> frames = panFrames(12, 64, 48, 2);
  const fs::path in = writeClip(dir / "in.mkv", frames);
  const fs::path out = dir / "out.mkv";
  RecordingStylizer stylizer;
  stylizer.offsets = {1, 3};
  pipeline::Config c = copyConfig(in, out);
  c.run.maxInFlight = 3;
  std::vector<std::int64_t> progress;
  pipeline::JobStats stats = pipeline::runVideo(
      c, stylizer, [&](const pipeline::Progress& p) { progress.push_back(p.frame); }, nullptr);
  EXPECT_EQ(stats.framesDecoded, 12);
  EXPECT_EQ(stats.framesWritten, 12);
  ASSERT_EQ(stylizer.seen.size(), 12u);
  for (std::int64_t i = 0; i < 12; ++i) {
    EXPECT_EQ(stylizer.seen[static_cast<std::size_t>(i)], i) << "stylize must see frames in order";
    const std::size_t expectGuides = i == 0 ? 0 : (i < 3 ? 1 : 2);
    EXPECT_EQ(stylizer.guideCounts[static_cast<std::size_t>(i)], expectGuides) << "frame " << i;
  }
  ASSERT_EQ(progress.size(), 12u);
  EXPECT_EQ(progress.back(), 12);
  const std::vector<cv::Mat> back = readAll(out);
  ASSERT_EQ(back.size(), frames.size());
  for (std::size_t i = 0; i < frames.size(); ++i) {
    EXPECT_EQ(cv::norm(back[i], frames[i], cv::NORM_INF), 0) << "frame " << i;
  }
}

TEST(Pipeline_Graph, NodeErrorSurfacesOnceAndLeavesNoOutput) {
  const fs::path dir = scratchDir();
  const fs::path in = writeClip(dir / "in.mkv", panFrames(10, 64, 48, 1));
  const fs::path out = dir / "out" / "result.mkv";
  fs::create_directories(out.parent_path());
  RecordingStylizer stylizer;
  stylizer.offsets = {1};
  stylizer.throwAt = 5;
  try {
    pipeline::runVideo(copyConfig(in, out), stylizer, {}, nullptr);
    FAIL() << "expected the stylizer's error";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("failed on purpose"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(flowstyle::test::listDir(out.parent_path()).empty()) << "no output, no temporary file";
}

TEST(Pipeline_Graph, CancelStopsWithoutOutput) {
  const fs::path dir = scratchDir();
  const fs::path in = writeClip(dir / "in.mkv", panFrames(20, 64, 48, 1));
  const fs::path out = dir / "out" / "result.mkv";
  fs::create_directories(out.parent_path());
  std::atomic<bool> cancel{false};
  RecordingStylizer stylizer;
  stylizer.cancelAt = 3;
  stylizer.cancel = &cancel;
  EXPECT_THROW(pipeline::runVideo(copyConfig(in, out), stylizer, {}, &cancel), pipeline::Cancelled);
  EXPECT_LT(stylizer.seen.size(), 20u);
  EXPECT_TRUE(flowstyle::test::listDir(out.parent_path()).empty());
}

namespace {

struct TemporalRun {
  double warpingError = 0;  // of the stylized result
  double floor = 0;         // of the input
  double meanStyleLoss = 0;
  double meanFrameChange = 0;  // mean |O_t - O_{t-1}| on 0..1, no warping
  std::vector<cv::Mat> frames;
};

TemporalRun runAndMeasure(const pipeline::Config& c, const fs::path& out,
                          models::StyleOptimizer* lossProbe = nullptr) {
  std::unique_ptr<pipeline::FrameStylizer> stylizer = pipeline::makeStylizer(c, {});
  pipeline::runVideo(c, *stylizer, {}, nullptr);
  TemporalRun r;
  r.frames = readAll(out);
  const std::vector<cv::Mat> input = readAll(c.reader.path);
  stages::WarpingErrorMeter meter(stages::FlowConfig{});
  for (std::size_t i = 0; i < input.size(); ++i) {
    meter.add(input[i], r.frames[i]);
    if (i > 0) r.meanFrameChange += meanAbsDiff(r.frames[i], r.frames[i - 1]) / 255.0 / (input.size() - 1);
    if (lossProbe != nullptr) {
      cv::Mat f;
      r.frames[i].convertTo(f, CV_32FC3, 1.0 / 255.0);
      r.meanStyleLoss += lossProbe->evaluate(input[i], f).style / input.size();
    }
  }
  const stages::WarpingErrorReport report = meter.report();
  r.warpingError = report.meanStylized;
  r.floor = report.meanOriginal;
  return r;
}

}  // namespace

// Ruder et al.: the temporal term (with the warm start) keeps a panning clip steady.
TEST(Pipeline_Temporal, OptimizeTemporalTermHalvesTheWarpingError) {
  const fs::path dir = scratchDir();
  const fs::path in = writeClip(dir / "pan.mkv", panFrames(5, 96, 64, 2));
  pipeline::Config c = smallOptimizeConfig(in, dir / "with.mkv", "starry_night.jpg");
  c.style.iterationsFirst = 40;
  c.style.iterations = 12;
  c.style.optimize.tolerance = 0;

  auto net = std::shared_ptr<models::LossNetwork>(models::loadLossNetwork(c.style.lossNet));
  models::StyleOptimizer probe(net, c.style.optimize, pipeline::loadStyleImages(c.style.styles));

  const TemporalRun with = runAndMeasure(c, dir / "with.mkv", &probe);
  c.writer.path = (dir / "without.mkv").string();
  c.style.optimize.temporalWeight = 0;
  const TemporalRun without = runAndMeasure(c, dir / "without.mkv", &probe);
  std::printf("warping error: temporal %.5f, no temporal %.5f, input %.5f; style loss %.4f vs %.4f\n",
              with.warpingError, without.warpingError, with.floor, with.meanStyleLoss, without.meanStyleLoss);
  EXPECT_LE(with.warpingError, 0.5 * without.warpingError);
  EXPECT_LE(with.meanStyleLoss, 1.5 * without.meanStyleLoss) << "steadiness must not cost the style";
}

TEST(Pipeline_Temporal, FastStabilizationCalmsAStaticNoisyClip) {
  const fs::path dir = scratchDir();
  // A static picture with independent per-frame noise: any change in the output is flicker.
  std::vector<cv::Mat> frames = panFrames(6, 96, 64, 0);
  cv::RNG rng(3);
  for (cv::Mat& f : frames) {
    cv::Mat noise(f.size(), CV_16SC3);
    rng.fill(noise, cv::RNG::NORMAL, 0, 6);
    cv::Mat f16;
    f.convertTo(f16, CV_16SC3);
    cv::Mat noisy = f16 + noise;
    noisy.convertTo(f, CV_8UC3);
  }
  const fs::path in = writeClip(dir / "static.mkv", frames);
  pipeline::Config c = copyConfig(in, dir / "stable.mkv");
  c.method = pipeline::Method::Fast;
  c.fast.model = sharedPath("models/ml5/wave");
  c.run.device = "cpu";
  c.fast.batch = 3;
  const TemporalRun stable = runAndMeasure(c, dir / "stable.mkv");
  c.writer.path = (dir / "raw.mkv").string();
  c.fast.temporalWeight = 0;
  const TemporalRun raw = runAndMeasure(c, dir / "raw.mkv");
  std::printf("frame-to-frame change: stabilized %.5f, raw %.5f\n", stable.meanFrameChange, raw.meanFrameChange);
  EXPECT_LE(stable.meanFrameChange * 3, raw.meanFrameChange);
}

TEST(Pipeline_Temporal, FastStabilizationFollowsAPan) {
  const fs::path dir = scratchDir();
  const fs::path in = writeClip(dir / "pan.mkv", panFrames(6, 96, 64, 3));
  pipeline::Config c = copyConfig(in, dir / "stable.mkv");
  c.method = pipeline::Method::Fast;
  c.fast.model = sharedPath("models/ml5/wave");
  c.run.device = "cpu";
  const TemporalRun stable = runAndMeasure(c, dir / "stable.mkv");
  c.writer.path = (dir / "raw.mkv").string();
  c.fast.temporalWeight = 0;
  const TemporalRun raw = runAndMeasure(c, dir / "raw.mkv");
  std::printf("pan: warping error stabilized %.5f raw %.5f; frame change %.4f vs %.4f\n", stable.warpingError,
              raw.warpingError, stable.meanFrameChange, raw.meanFrameChange);
  EXPECT_LT(stable.warpingError, raw.warpingError);
  // Not a frozen frame: the picture moves about as much as the unstabilized one.
  EXPECT_GT(stable.meanFrameChange, 0.6 * raw.meanFrameChange);
}

// A static clip: every change between consecutive stylized frames is flicker. The same
// settings and seed must also give the same video twice.
TEST(Pipeline_Temporal, OptimizeStaticClipStaysStillAndIsDeterministic) {
  const fs::path dir = scratchDir();
  const fs::path in = writeClip(dir / "static.mkv", panFrames(4, 64, 48, 0));
  pipeline::Config c = smallOptimizeConfig(in, dir / "a.mkv", "the_scream.jpg");
  c.style.iterationsFirst = 20;
  c.style.iterations = 8;
  const TemporalRun a = runAndMeasure(c, dir / "a.mkv");
  c.writer.path = (dir / "b.mkv").string();
  const TemporalRun b = runAndMeasure(c, dir / "b.mkv");
  // The first stylized frame differs from the content by far more than the later frames
  // differ from each other (measured: 0.008 vs 0.146, i.e. about 2 levels of 255; what
  // is left is the optimizer still converging, not flicker).
  const std::vector<cv::Mat> input = readAll(in);
  const double stylization = meanAbsDiff(a.frames[0], input[0]) / 255.0;
  std::printf("static clip: mean frame change %.5f, stylization strength %.4f\n", a.meanFrameChange,
              stylization);
  EXPECT_LT(a.meanFrameChange, 0.1 * stylization);
  EXPECT_LT(a.meanFrameChange, 0.015);
  ASSERT_EQ(a.frames.size(), b.frames.size());
  for (std::size_t i = 0; i < a.frames.size(); ++i) {
    EXPECT_EQ(cv::norm(a.frames[i], b.frames[i], cv::NORM_INF), 0) << "frame " << i << " differs between runs";
  }
}

// ---------------------------------------------------------------- batch planning

namespace {

void touch(const fs::path& p) { std::ofstream(p) << "x"; }

std::vector<std::string> names(const std::vector<pipeline::BatchItem>& plan, bool outputs = false) {
  std::vector<std::string> n;
  for (const auto& item : plan) n.push_back(fs::path(outputs ? item.output : item.input).filename().string());
  return n;
}

std::string planError(const std::string& in, const std::string& out, const std::string& ext = "mp4") {
  try {
    pipeline::planBatch(in, out, ext, false);
  } catch (const std::exception& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace

TEST(Pipeline_Batch, PlansEveryClipInNameOrder) {
  const fs::path dir = scratchDir();
  const fs::path in = dir / "in";
  fs::create_directories(in / "sub");
  for (const char* f : {"b.MOV", "a.mp4", "c.gif", "notes.txt", ".hidden.mp4", "sub/d.mp4"}) touch(in / f);
  const auto plan = pipeline::planBatch(in.string(), (dir / "out").string(), "mkv", false);
  EXPECT_EQ(names(plan), (std::vector<std::string>{"a.mp4", "b.MOV", "c.gif"}));
  EXPECT_EQ(names(plan, true), (std::vector<std::string>{"a.mkv", "b.mkv", "c.mkv"}));
  for (const auto& item : plan) {
    EXPECT_EQ(item.action, pipeline::BatchItem::Action::Run) << item.input;
    EXPECT_EQ(fs::path(item.output).parent_path(), dir / "out");
  }
}

TEST(Pipeline_Batch, SkipsFinishedOutputsUnlessOverwrite) {
  const fs::path dir = scratchDir();
  fs::create_directories(dir / "in");
  fs::create_directories(dir / "out");
  touch(dir / "in/a.mp4");
  touch(dir / "in/b.mp4");
  touch(dir / "out/a.mp4");
  auto plan = pipeline::planBatch((dir / "in").string(), (dir / "out").string(), "mp4", false);
  ASSERT_EQ(plan.size(), 2u);
  EXPECT_EQ(plan[0].action, pipeline::BatchItem::Action::SkipDone);
  EXPECT_NE(plan[0].reason.find("exists"), std::string::npos) << plan[0].reason;
  EXPECT_EQ(plan[1].action, pipeline::BatchItem::Action::Run);
  plan = pipeline::planBatch((dir / "in").string(), (dir / "out").string(), "mp4", true);
  EXPECT_EQ(plan[0].action, pipeline::BatchItem::Action::Run);
}

TEST(Pipeline_Batch, RejectsCollidingAndSelfOverwritingOutputs) {
  const fs::path dir = scratchDir();
  fs::create_directories(dir / "in");
  touch(dir / "in/a.mov");
  touch(dir / "in/a.mp4");
  auto plan = pipeline::planBatch((dir / "in").string(), (dir / "out").string(), "mp4", false);
  ASSERT_EQ(plan.size(), 2u);
  EXPECT_EQ(plan[0].action, pipeline::BatchItem::Action::Run);
  EXPECT_EQ(plan[1].action, pipeline::BatchItem::Action::Reject);
  EXPECT_NE(plan[1].reason.find("a.mov"), std::string::npos) << plan[1].reason;
  // Writing into the input folder with the inputs' own extension would destroy them.
  plan = pipeline::planBatch((dir / "in").string(), (dir / "in").string(), "mp4", true);
  ASSERT_EQ(plan.size(), 2u);
  EXPECT_EQ(plan[1].action, pipeline::BatchItem::Action::Reject);
  EXPECT_NE(plan[1].reason.find("overwrite the clip itself"), std::string::npos) << plan[1].reason;
}

TEST(Pipeline_Batch, BadFoldersNameThemselves) {
  const fs::path dir = scratchDir();
  fs::create_directories(dir / "empty");
  touch(dir / "file.mp4");
  EXPECT_NE(planError((dir / "missing").string(), (dir / "out").string()).find("missing: folder not found"),
            std::string::npos);
  EXPECT_NE(planError((dir / "file.mp4").string(), (dir / "out").string()).find("is not a folder"),
            std::string::npos);
  const std::string empty = planError((dir / "empty").string(), (dir / "out").string());
  EXPECT_NE(empty.find("empty: no clips"), std::string::npos) << empty;
  EXPECT_NE(empty.find(".mp4"), std::string::npos) << empty;
  fs::create_directories(dir / "in");
  touch(dir / "in/a.mp4");
  EXPECT_NE(planError((dir / "in").string(), (dir / "file.mp4").string()).find("is not a folder"),
            std::string::npos);
  EXPECT_NE(planError((dir / "in").string(), (dir / "out").string(), ".mp4").find("--ext"), std::string::npos);
}
