#include "pipeline/video_pipeline.hpp"

#include <algorithm>
#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <tuple>

#include <opencv2/imgproc.hpp>
#include <tbb/enumerable_thread_specific.h>
#include <tbb/flow_graph.h>

#include "pipeline/flow_link.hpp"
#include "pipeline/image_ops.hpp"
#include "stages/flow.hpp"
#include "stages/video_reader.hpp"
#include "stages/video_writer.hpp"

namespace flowstyle::pipeline {
namespace {

using Clock = std::chrono::steady_clock;

double secondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Flow from frame t to the earlier frame t - offset, and its soft certainty.
struct Link {
  int offset = 0;
  cv::Mat flow;       // CV_32FC2: content_t(p) ≈ content_{t-offset}(p + flow(p))
  cv::Mat certainty;  // CV_32FC1 in [0,1]
};

// One message of the graph. Exactly one node owns it at a time; every item that passes
// the limiter reaches the encode node (the end-of-stream marker included), which
// decrements the limiter: nothing is dropped in between.
struct Item {
  std::size_t seq = 0;
  bool eos = false;
  bool restored = false;             // taken from the resume state: no flow, no stylize
  stages::Frame frame;               // at the working size
  cv::Mat gray;                      // CV_8UC1, only when flow is needed
  std::vector<cv::Mat> earlierGray;  // per offset, empty where the frame does not exist
  std::vector<Link> links;
  cv::Mat prepared;                  // batch pre-pass output
  cv::Mat output;                    // CV_8UC3 RGB, the frame to encode
};
using ItemPtr = std::shared_ptr<Item>;

void throwIfCancelled(const std::atomic<bool>* cancel) {
  if (cancel != nullptr && cancel->load()) throw Cancelled();
}

struct BySeq {
  std::size_t operator()(const ItemPtr& item) const { return item->seq; }
};

// What the stylizer asks of the graph: the earlier frames its temporal term uses, how many
// frames its pre-pass takes at once, and so how many frames may be in flight.
struct GraphShape {
  std::vector<int> offsets;  // earlier frames (t - offset) each frame's flow goes to
  int maxOffset = 0;
  std::size_t batch = 1;
  std::size_t inFlight = 1;
  bool needFlow() const { return !offsets.empty(); }
};

GraphShape graphShape(const FrameStylizer& stylizer, int maxInFlight) {
  GraphShape shape;
  shape.offsets = stylizer.temporalOffsets();
  shape.maxOffset = shape.offsets.empty() ? 0 : *std::max_element(shape.offsets.begin(), shape.offsets.end());
  shape.batch = static_cast<std::size_t>(std::max(1, stylizer.batchSize()));
  // The batch node holds up to `batch` frames, and the flow window is not in flight.
  shape.inFlight = std::max<std::size_t>(static_cast<std::size_t>(maxInFlight), shape.batch + 2);
  return shape;
}

// decode (input_node, serial by construction): one item per frame, then one end-of-stream
// item. Frames the resume state holds are marked restored.
class DecodeFrames {
 public:
  DecodeFrames(stages::VideoReader& reader, std::int64_t restoredFrames, const std::atomic<bool>* cancel)
      : reader_(&reader), restoredFrames_(restoredFrames), cancel_(cancel) {}
  ItemPtr operator()(tbb::flow_control& fc) {
    if (eosSent_) {
      fc.stop();
      return {};
    }
    throwIfCancelled(cancel_);
    auto item = std::make_shared<Item>();
    item->seq = nextSeq_++;
    if (std::optional<stages::Frame> frame = reader_->next()) {
      item->frame = std::move(*frame);
      item->restored = item->frame.index < restoredFrames_;
      ++decoded_;
    } else {
      item->eos = true;
      eosSent_ = true;
    }
    return item;
  }
  std::int64_t decoded() const { return decoded_; }

 private:
  stages::VideoReader* reader_;
  std::int64_t restoredFrames_;
  const std::atomic<bool>* cancel_;
  std::size_t nextSeq_ = 0;
  bool eosSent_ = false;
  std::int64_t decoded_ = 0;
};

// prepare: resize to the working size, grayscale copy for flow. Pure: unlimited.
class PrepareFrame {
 public:
  PrepareFrame(cv::Size work, bool needFlow) : work_(work), needFlow_(needFlow) {}
  ItemPtr operator()(ItemPtr item) const {
    if (item->eos) return item;
    cv::Mat& rgb = item->frame.rgb;
    rgb = toWorkSize(rgb, work_);
    if (needFlow_) item->gray = stages::toGray(rgb);
    return item;
  }

 private:
  cv::Size work_;
  bool needFlow_;
};

// pair (serial, in order): attaches the earlier frames each flow needs, from a window of
// the last maxOffset frames.
class PairWithEarlier {
 public:
  explicit PairWithEarlier(const GraphShape& shape) : offsets_(shape.offsets), maxOffset_(shape.maxOffset) {}
  ItemPtr operator()(ItemPtr item) {
    if (item->eos || offsets_.empty()) return item;
    item->earlierGray.resize(offsets_.size());
    for (std::size_t k = 0; k < offsets_.size(); ++k) {
      const auto back = static_cast<std::size_t>(offsets_[k]);
      if (back <= window_.size()) item->earlierGray[k] = window_[window_.size() - back];
    }
    window_.push_back(item->gray);
    if (window_.size() > static_cast<std::size_t>(maxOffset_)) window_.pop_front();
    return item;
  }

 private:
  std::vector<int> offsets_;
  int maxOffset_;
  std::deque<cv::Mat> window_;  // newest last
};

// flow (unlimited: frames are independent here): both directions and the soft certainty
// per earlier frame. One estimator per thread; the time spent is summed over calls.
class ComputeFlow {
 public:
  ComputeFlow(const stages::FlowConfig& config, const GraphShape& shape)
      : config_(config),
        offsets_(shape.offsets),
        nearest_(offsets_.empty() ? 0 : *std::min_element(offsets_.begin(), offsets_.end())),
        shared_(std::make_shared<Shared>()) {}
  ItemPtr operator()(ItemPtr item) const {
    if (item->eos || offsets_.empty() || item->restored) {
      item->earlierGray.clear();
      return item;
    }
    const auto t0 = Clock::now();
    std::optional<stages::FlowEstimator>& estimator = shared_->estimators.local();
    if (!estimator) estimator.emplace(config_);
    for (std::size_t k = 0; k < offsets_.size(); ++k) {
      const cv::Mat& earlier = item->earlierGray[k];
      if (earlier.empty()) continue;
      FlowLink flow = flowToEarlier(*estimator, item->gray, earlier);
      if (offsets_[k] == nearest_ && isShotChange(flow)) {  // a cut: no guide from the last shot
        item->links.clear();
        break;
      }
      Link link;
      link.offset = offsets_[k];
      link.flow = std::move(flow.flow);
      link.certainty = std::move(flow.certainty);
      item->links.push_back(std::move(link));
    }
    item->earlierGray.clear();
    const double spent = secondsSince(t0);
    std::lock_guard<std::mutex> lock(shared_->mutex);
    shared_->seconds += spent;
    return item;
  }
  double seconds() const {
    std::lock_guard<std::mutex> lock(shared_->mutex);
    return shared_->seconds;
  }

 private:
  // Shared by the concurrent calls (and the node's copy of this functor).
  struct Shared {
    tbb::enumerable_thread_specific<std::optional<stages::FlowEstimator>> estimators;
    std::mutex mutex;
    double seconds = 0;
  };
  stages::FlowConfig config_;
  std::vector<int> offsets_;
  int nearest_;  // the smallest offset: its link tells a shot change
  std::shared_ptr<Shared> shared_;
};

// batch (serial, in order): groups consecutive frames for the stylizer's batched pre-pass
// (fast network); a restored frame or the end of the stream flushes the group first.
using BatchNode = tbb::flow::multifunction_node<ItemPtr, std::tuple<ItemPtr>>;
class GroupBatch {
 public:
  GroupBatch(FrameStylizer& stylizer, std::size_t batch) : stylizer_(&stylizer), batch_(batch) {}
  void operator()(const ItemPtr& item, BatchNode::output_ports_type& ports) {
    if (item->eos || item->restored) {
      flush(ports);
      std::get<0>(ports).try_put(item);
      return;
    }
    pending_.push_back(item);
    if (pending_.size() >= batch_) flush(ports);
  }
  double seconds() const { return seconds_; }

 private:
  void flush(BatchNode::output_ports_type& ports) {
    if (pending_.empty()) return;
    std::vector<cv::Mat> contents;
    contents.reserve(pending_.size());
    for (const ItemPtr& p : pending_) contents.push_back(p->frame.rgb);
    const auto t0 = Clock::now();
    std::vector<cv::Mat> prepared = stylizer_->prepareBatch(contents);
    seconds_ += secondsSince(t0);
    for (std::size_t i = 0; i < pending_.size(); ++i) {
      if (i < prepared.size()) pending_[i]->prepared = prepared[i];
      std::get<0>(ports).try_put(pending_[i]);
    }
    pending_.clear();
  }

  FrameStylizer* stylizer_;
  std::size_t batch_;
  std::vector<ItemPtr> pending_;
  double seconds_ = 0;
};

// What the stylize node counted.
struct StylizeCounts {
  std::int64_t restored = 0;
  double stateSeconds = 0;
  double seconds = 0;
  std::int64_t iterations = 0;
  models::LossTerms lossSum;
};

// stylize (serial, in order): the frame's temporal guides from the earlier stylized frames
// it keeps, the stylizer, and the resume state (restored frames are read from it, new
// ones saved to it).
class StylizeFrame {
 public:
  StylizeFrame(FrameStylizer& stylizer, ResumeState* state, const std::atomic<bool>* cancel, int maxOffset)
      : stylizer_(&stylizer),
        state_(state),
        cancel_(cancel),
        maxOffset_(maxOffset),
        restoredFrames_(state != nullptr ? state->restored() : 0) {}
  ItemPtr operator()(ItemPtr item) {
    if (item->eos) return item;
    throwIfCancelled(cancel_);
    const auto t0 = Clock::now();
    if (item->restored) {
      restore(*item);
      return item;
    }
    StylizeRequest request;
    request.index = item->frame.index;
    request.content = item->frame.rgb;
    request.prepared = item->prepared;
    cv::Mat covered;
    for (const Link& link : item->links) {
      auto it = earlierOutputs_.find(item->frame.index - link.offset);
      if (it == earlierOutputs_.end()) continue;
      models::TemporalGuide guide;
      guide.warped = stages::warp(it->second, link.flow);
      guide.certainty = stages::claimUncovered(link.certainty, covered);
      if (request.init.empty()) {
        request.init = blendByWeight(toFloat01(item->frame.rgb), guide.warped, link.certainty);
      }
      request.guides.push_back(std::move(guide));
    }
    StylizeOutcome outcome = stylizer_->stylize(request);
    if (outcome.image.empty() || outcome.image.size() != item->frame.rgb.size() ||
        outcome.image.type() != CV_32FC3) {
      throw std::logic_error("stylizer returned an image of the wrong size or type");
    }
    keepEarlier(item->frame.index, outcome.image);
    item->output = toByte(outcome.image);
    if (state_ != nullptr) save(*item, outcome.image);
    item->prepared.release();
    item->links.clear();
    counts_.iterations += outcome.iterations;
    counts_.lossSum.total += outcome.loss.total;
    counts_.lossSum.content += outcome.loss.content;
    counts_.lossSum.style += outcome.loss.style;
    counts_.lossSum.tv += outcome.loss.tv;
    counts_.lossSum.temporal += outcome.loss.temporal;
    counts_.seconds += secondsSince(t0);
    return item;
  }
  const StylizeCounts& counts() const { return counts_; }

 private:
  void restore(Item& item) {
    item.output = state_->output(item.frame.index);
    if (item.output.size() != item.frame.rgb.size()) {
      throw std::runtime_error(state_->folder() + ": resume state frames are " + std::to_string(item.output.cols) +
                               "x" + std::to_string(item.output.rows) + ", the job's are " +
                               std::to_string(item.frame.rgb.cols) + "x" + std::to_string(item.frame.rgb.rows) +
                               "; remove the folder");
    }
    if (item.frame.index >= restoredFrames_ - maxOffset_) keepEarlier(item.frame.index, state_->carry(item.frame.index));
    item.links.clear();
    ++counts_.restored;
  }
  void save(const Item& item, const cv::Mat& stylized) {
    const auto s0 = Clock::now();
    if (!choicesSaved_) {
      for (const auto& [key, value] : stylizer_->settledChoices()) state_->setValue(key, value);
      choicesSaved_ = true;
    }
    state_->save(item.frame.index, maxOffset_ > 0 ? stylized : cv::Mat(), item.output);
    counts_.stateSeconds += secondsSince(s0);
  }
  // Keeps the stylized frames the temporal term of later frames reaches back to.
  void keepEarlier(std::int64_t index, const cv::Mat& image) {
    if (maxOffset_ <= 0 || image.empty()) return;
    earlierOutputs_[index] = image;
    while (!earlierOutputs_.empty() && earlierOutputs_.begin()->first <= index - maxOffset_) {
      earlierOutputs_.erase(earlierOutputs_.begin());
    }
  }

  FrameStylizer* stylizer_;
  ResumeState* state_;
  const std::atomic<bool>* cancel_;
  int maxOffset_;
  std::int64_t restoredFrames_;
  std::map<std::int64_t, cv::Mat> earlierOutputs_;  // index -> CV_32FC3 [0,1]
  bool choicesSaved_ = false;
  StylizeCounts counts_;
};

// encode (serial, in order): writes the frame unless it is pre-roll (stylized for its
// state only: index < unwritten), reports progress. Its output frees the item's slot in
// the limiter.
class EncodeFrame {
 public:
  EncodeFrame(stages::VideoWriter& writer, std::int64_t unwritten, std::int64_t expected, Clock::time_point start,
              const std::function<void(const Progress&)>& onProgress)
      : writer_(&writer), unwritten_(unwritten), expected_(expected), start_(start), onProgress_(&onProgress) {}
  tbb::flow::continue_msg operator()(ItemPtr item) {
    if (item->eos) return {};
    ++processed_;
    if (item->frame.index >= unwritten_) {
      stages::Frame out = item->frame;
      out.rgb = item->output;
      writer_->write(out);
      ++written_;
    }
    if (*onProgress_) (*onProgress_)(progress());
    return {};
  }
  std::int64_t processed() const { return processed_; }
  std::int64_t written() const { return written_; }

 private:
  Progress progress() const {
    Progress p;
    p.frame = processed_;
    p.total = expected_;
    p.elapsedSeconds = secondsSince(start_);
    p.fps = p.elapsedSeconds > 0 ? static_cast<double>(p.frame) / p.elapsedSeconds : 0;
    if (expected_ > 0 && p.fps > 0) {
      p.etaSeconds = static_cast<double>(std::max<std::int64_t>(0, expected_ - p.frame)) / p.fps;
    }
    return p;
  }

  stages::VideoWriter* writer_;
  std::int64_t unwritten_;
  std::int64_t expected_;
  Clock::time_point start_;
  const std::function<void(const Progress&)>* onProgress_;
  std::int64_t processed_ = 0;
  std::int64_t written_ = 0;
};

// The reader of a job: from the first frame it stylizes (its pre-roll included).
stages::ReaderConfig readerConfigOf(const Config& config, const ChunkSpan& span) {
  stages::ReaderConfig readerConfig = config.reader;
  readerConfig.selection.first = span.stylizeFirst;
  return readerConfig;
}

// Throws when the graph lost a frame, or when the job wrote none (a range past the end).
void checkFrameCounts(const Config& config, const ChunkSpan& span, const stages::VideoInfo& info,
                      std::int64_t decoded, std::int64_t processed, std::int64_t written) {
  if (processed != decoded) {
    throw std::logic_error("pipeline lost frames: decoded " + std::to_string(decoded) + ", encoded " +
                           std::to_string(processed));
  }
  if (written > 0) return;
  const stages::FrameSelection& sel = config.reader.selection;
  if (sel.first > 0 || sel.last >= 0) {
    std::string clip = info.frameCountEstimate >= 0
                           ? " (the clip has about " + std::to_string(info.frameCountEstimate) + " frames)"
                           : std::string();
    throw std::runtime_error(config.reader.path + ": --frames " + toString(span.frames) +
                             " selects no frames: the range starts past the end of the clip" + clip);
  }
  throw std::runtime_error(config.reader.path + ": no frames in the selected range");
}

}  // namespace

JobStats runVideo(const Config& config, FrameStylizer& stylizer,
                  const std::function<void(const Progress&)>& onProgress,
                  const std::atomic<bool>* cancel, ResumeState* state,
                  const std::function<void(const std::string&)>& note) {
  namespace flow = tbb::flow;
  const ChunkSpan span = chunkSpan(config);
  stages::VideoReader reader(readerConfigOf(config, span));
  const stages::VideoInfo& info = reader.info();
  int workW = 0, workH = 0;
  workingSize(config.size, info.width, info.height, workW, workH);
  stages::VideoWriter writer(config.writer, info, note);
  const GraphShape shape = graphShape(stylizer, config.run.maxInFlight);
  // Frames of the pre-roll that are not written (index counts from the first stylized).
  const std::int64_t unwritten = span.writeFirst - span.stylizeFirst;
  const auto start = Clock::now();

  tbb::task_group_context context;
  flow::graph g(context);
  flow::input_node<ItemPtr> decode(g, DecodeFrames(reader, state != nullptr ? state->restored() : 0, cancel));
  flow::limiter_node<ItemPtr> limiter(g, shape.inFlight);
  flow::function_node<ItemPtr, ItemPtr> prepare(g, flow::unlimited, PrepareFrame({workW, workH}, shape.needFlow()));
  flow::sequencer_node<ItemPtr> orderForPair(g, BySeq());
  flow::function_node<ItemPtr, ItemPtr> pair(g, flow::serial, PairWithEarlier(shape));
  flow::function_node<ItemPtr, ItemPtr> flowNode(g, flow::unlimited, ComputeFlow(config.flow, shape));
  flow::sequencer_node<ItemPtr> orderForStylize(g, BySeq());
  BatchNode batchNode(g, flow::serial, GroupBatch(stylizer, shape.batch));
  flow::function_node<ItemPtr, ItemPtr> stylize(g, flow::serial, StylizeFrame(stylizer, state, cancel, shape.maxOffset));
  // A serial function_node hands its next message to a new task before it passes on the
  // output of the current one (oneTBB's apply_body_impl_bypass), so two outputs can reach
  // the next node swapped: a restored frame (read from a PNG) easily overtakes the frame
  // before it. The encoder takes them back in order.
  flow::sequencer_node<ItemPtr> orderForEncode(g, BySeq());
  flow::function_node<ItemPtr, flow::continue_msg> encode(
      g, flow::serial, EncodeFrame(writer, unwritten, reader.expectedFrames(), start, onProgress));

  flow::make_edge(decode, limiter);
  flow::make_edge(limiter, prepare);
  flow::make_edge(prepare, orderForPair);
  flow::make_edge(orderForPair, pair);
  flow::make_edge(pair, flowNode);
  flow::make_edge(flowNode, orderForStylize);
  flow::make_edge(orderForStylize, batchNode);
  flow::make_edge(flow::output_port<0>(batchNode), stylize);
  flow::make_edge(stylize, orderForEncode);
  flow::make_edge(orderForEncode, encode);
  flow::make_edge(encode, limiter.decrementer());

  decode.activate();
  g.wait_for_all();  // rethrows a node's exception once the graph has stopped
  if (cancel != nullptr && cancel->load()) throw Cancelled();

  JobStats stats;
  stats.outputWidth = workW;
  stats.outputHeight = workH;
  stats.framesDecoded = flow::copy_body<DecodeFrames>(decode).decoded();
  const EncodeFrame encoded = flow::copy_body<EncodeFrame>(encode);
  stats.framesWritten = encoded.written();
  stats.flowSeconds = flow::copy_body<ComputeFlow>(flowNode).seconds();
  stats.networkSeconds = flow::copy_body<GroupBatch>(batchNode).seconds();
  const StylizeCounts stylized = flow::copy_body<StylizeFrame>(stylize).counts();
  stats.framesRestored = stylized.restored;
  stats.stateSeconds = stylized.stateSeconds;
  stats.stylizeSeconds = stylized.seconds;
  stats.iterations = stylized.iterations;
  stats.lossSum = stylized.lossSum;
  checkFrameCounts(config, span, info, stats.framesDecoded, encoded.processed(), stats.framesWritten);
  writer.finish();
  if (state != nullptr) state->finish();
  stats.seconds = secondsSince(start);
  return stats;
}

}  // namespace flowstyle::pipeline
