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

}  // namespace

JobStats runVideo(const Config& config, FrameStylizer& stylizer,
                  const std::function<void(const Progress&)>& onProgress,
                  const std::atomic<bool>* cancel, ResumeState* state) {
  namespace flow = tbb::flow;
  JobStats stats;

  const ChunkSpan span = chunkSpan(config);
  stages::ReaderConfig readerConfig = config.reader;
  readerConfig.selection.first = span.stylizeFirst;
  stages::VideoReader reader(readerConfig);
  const stages::VideoInfo& info = reader.info();
  int workW = 0, workH = 0;
  workingSize(config.size, info.width, info.height, workW, workH);
  stats.outputWidth = workW;
  stats.outputHeight = workH;
  // Frames of the pre-roll that are not written (index counts from the first stylized).
  const std::int64_t unwritten = span.writeFirst - span.stylizeFirst;
  const std::int64_t restoredFrames = state != nullptr ? state->restored() : 0;
  stages::VideoWriter writer(config.writer, info);

  const std::vector<int> offsets = stylizer.temporalOffsets();
  const bool needFlow = !offsets.empty();
  const int maxOffset = needFlow ? *std::max_element(offsets.begin(), offsets.end()) : 0;
  const std::size_t batch = static_cast<std::size_t>(std::max(1, stylizer.batchSize()));
  // The batch node holds up to `batch` frames, and the flow window is not in flight.
  const std::size_t inFlight =
      std::max<std::size_t>(static_cast<std::size_t>(config.run.maxInFlight), batch + 2);

  const std::int64_t expected = reader.expectedFrames();
  const auto start = Clock::now();
  std::mutex statsMutex;  // guards flowSeconds (flow tasks run concurrently)

  tbb::task_group_context context;
  flow::graph g(context);

  // decode: serial by construction (input_node). Emits one end-of-stream item last.
  std::size_t nextSeq = 0;
  bool eosSent = false;
  flow::input_node<ItemPtr> decode(g, [&](tbb::flow_control& fc) -> ItemPtr {
    if (eosSent) {
      fc.stop();
      return {};
    }
    throwIfCancelled(cancel);
    auto item = std::make_shared<Item>();
    item->seq = nextSeq++;
    if (std::optional<stages::Frame> frame = reader.next()) {
      item->frame = std::move(*frame);
      item->restored = item->frame.index < restoredFrames;
      ++stats.framesDecoded;
    } else {
      item->eos = true;
      eosSent = true;
    }
    return item;
  });

  flow::limiter_node<ItemPtr> limiter(g, inFlight);

  // prepare: resize to the working size, grayscale copy for flow. Pure: unlimited.
  flow::function_node<ItemPtr, ItemPtr> prepare(g, flow::unlimited, [&](ItemPtr item) {
    if (item->eos) return item;
    cv::Mat& rgb = item->frame.rgb;
    rgb = toWorkSize(rgb, cv::Size(workW, workH));
    if (needFlow) item->gray = stages::toGray(rgb);
    return item;
  });

  auto bySeq = [](const ItemPtr& item) { return item->seq; };
  flow::sequencer_node<ItemPtr> orderForPair(g, bySeq);

  // pair: attaches the earlier frames each flow needs (a window of maxOffset frames).
  std::deque<cv::Mat> window;  // newest last
  flow::function_node<ItemPtr, ItemPtr> pair(g, flow::serial, [&](ItemPtr item) {
    if (item->eos || !needFlow) return item;
    item->earlierGray.resize(offsets.size());
    for (std::size_t k = 0; k < offsets.size(); ++k) {
      const auto back = static_cast<std::size_t>(offsets[k]);
      if (back <= window.size()) item->earlierGray[k] = window[window.size() - back];
    }
    window.push_back(item->gray);
    if (window.size() > static_cast<std::size_t>(maxOffset)) window.pop_front();
    return item;
  });

  // flow: both directions and certainty; frames are independent here, so parallel.
  tbb::enumerable_thread_specific<std::optional<stages::FlowEstimator>> estimators;
  flow::function_node<ItemPtr, ItemPtr> flowNode(g, flow::unlimited, [&](ItemPtr item) {
    if (item->eos || !needFlow || item->restored) {
      item->earlierGray.clear();
      return item;
    }
    const auto t0 = Clock::now();
    std::optional<stages::FlowEstimator>& estimator = estimators.local();
    if (!estimator) estimator.emplace(config.flow);
    for (std::size_t k = 0; k < offsets.size(); ++k) {
      const cv::Mat& earlier = item->earlierGray[k];
      if (earlier.empty()) continue;
      Link link;
      link.offset = offsets[k];
      link.flow = (*estimator)(item->gray, earlier);
      const cv::Mat backward = (*estimator)(earlier, item->gray);
      link.certainty = stages::certaintySoft(stages::certaintyHard(link.flow, backward));
      item->links.push_back(std::move(link));
    }
    item->earlierGray.clear();
    const double spent = secondsSince(t0);
    std::lock_guard<std::mutex> lock(statsMutex);
    stats.flowSeconds += spent;
    return item;
  });

  flow::sequencer_node<ItemPtr> orderForStylize(g, bySeq);

  // batch: groups consecutive frames for the stylizer's batched pre-pass (fast network).
  using BatchNode = flow::multifunction_node<ItemPtr, std::tuple<ItemPtr>>;
  std::vector<ItemPtr> pending;
  auto flushBatch = [&](BatchNode::output_ports_type& ports) {
    if (pending.empty()) return;
    std::vector<cv::Mat> contents;
    contents.reserve(pending.size());
    for (const ItemPtr& p : pending) contents.push_back(p->frame.rgb);
    const auto t0 = Clock::now();
    std::vector<cv::Mat> prepared = stylizer.prepareBatch(contents);
    stats.networkSeconds += secondsSince(t0);
    for (std::size_t i = 0; i < pending.size(); ++i) {
      if (i < prepared.size()) pending[i]->prepared = prepared[i];
      std::get<0>(ports).try_put(pending[i]);
    }
    pending.clear();
  };
  BatchNode batchNode(g, flow::serial, [&](const ItemPtr& item, BatchNode::output_ports_type& ports) {
    if (item->eos || item->restored) {
      flushBatch(ports);
      std::get<0>(ports).try_put(item);
      return;
    }
    pending.push_back(item);
    if (pending.size() >= batch) flushBatch(ports);
  });

  // stylize: serial, in order; keeps the earlier stylized frames the temporal term needs.
  std::map<std::int64_t, cv::Mat> earlierOutputs;  // index -> CV_32FC3 [0,1]
  auto keepEarlier = [&](std::int64_t index, const cv::Mat& image) {
    if (maxOffset <= 0 || image.empty()) return;
    earlierOutputs[index] = image;
    while (!earlierOutputs.empty() && earlierOutputs.begin()->first <= index - maxOffset) {
      earlierOutputs.erase(earlierOutputs.begin());
    }
  };
  bool precisionSaved = false;
  flow::function_node<ItemPtr, ItemPtr> stylize(g, flow::serial, [&](ItemPtr item) {
    if (item->eos) return item;
    throwIfCancelled(cancel);
    const auto t0 = Clock::now();
    if (item->restored) {
      item->output = state->output(item->frame.index);
      if (item->output.size() != item->frame.rgb.size()) {
        throw std::runtime_error(state->folder() + ": resume state frames are " + std::to_string(item->output.cols) +
                                 "x" + std::to_string(item->output.rows) + ", the job's are " +
                                 std::to_string(workW) + "x" + std::to_string(workH) + "; remove the folder");
      }
      if (item->frame.index >= restoredFrames - maxOffset) keepEarlier(item->frame.index, state->carry(item->frame.index));
      item->links.clear();
      ++stats.framesRestored;
      return item;
    }
    StylizeRequest request;
    request.index = item->frame.index;
    request.content = item->frame.rgb;
    request.prepared = item->prepared;
    cv::Mat covered;
    for (const Link& link : item->links) {
      auto it = earlierOutputs.find(item->frame.index - link.offset);
      if (it == earlierOutputs.end()) continue;
      models::TemporalGuide guide;
      guide.warped = stages::warp(it->second, link.flow);
      guide.certainty = stages::claimUncovered(link.certainty, covered);
      if (request.init.empty()) {
        request.init = blendByWeight(toFloat01(item->frame.rgb), guide.warped, link.certainty);
      }
      request.guides.push_back(std::move(guide));
    }
    StylizeOutcome outcome = stylizer.stylize(request);
    if (outcome.image.empty() || outcome.image.size() != item->frame.rgb.size() ||
        outcome.image.type() != CV_32FC3) {
      throw std::logic_error("stylizer returned an image of the wrong size or type");
    }
    keepEarlier(item->frame.index, outcome.image);
    item->output = toByte(outcome.image);
    if (state != nullptr) {
      const auto s0 = Clock::now();
      if (!precisionSaved) {
        for (const auto& [key, value] : stylizer.settledChoices()) state->setValue(key, value);
        precisionSaved = true;
      }
      state->save(item->frame.index, maxOffset > 0 ? outcome.image : cv::Mat(), item->output);
      stats.stateSeconds += secondsSince(s0);
    }
    item->prepared.release();
    item->links.clear();
    stats.iterations += outcome.iterations;
    stats.lossSum.total += outcome.loss.total;
    stats.lossSum.content += outcome.loss.content;
    stats.lossSum.style += outcome.loss.style;
    stats.lossSum.tv += outcome.loss.tv;
    stats.lossSum.temporal += outcome.loss.temporal;
    stats.stylizeSeconds += secondsSince(t0);
    return item;
  });

  // A serial function_node hands its next message to a new task before it passes on the
  // output of the current one (oneTBB's apply_body_impl_bypass), so two outputs can reach
  // the next node swapped: a restored frame (read from a PNG) easily overtakes the frame
  // before it. The encoder takes them back in order.
  flow::sequencer_node<ItemPtr> orderForEncode(g, bySeq);

  // encode: serial, in order; then frees the item's slot in the limiter. Pre-roll frames
  // (before the chunk's overlap) are stylized for their state but not written.
  std::int64_t processed = 0;
  flow::function_node<ItemPtr, flow::continue_msg> encode(g, flow::serial, [&](ItemPtr item) {
    if (!item->eos) {
      ++processed;
      if (item->frame.index >= unwritten) {
        stages::Frame out = item->frame;
        out.rgb = item->output;
        writer.write(out);
        ++stats.framesWritten;
      }
      if (onProgress) {
        Progress p;
        p.frame = processed;
        p.total = expected;
        p.elapsedSeconds = secondsSince(start);
        p.fps = p.elapsedSeconds > 0 ? static_cast<double>(p.frame) / p.elapsedSeconds : 0;
        if (expected > 0 && p.fps > 0) {
          p.etaSeconds = static_cast<double>(std::max<std::int64_t>(0, expected - p.frame)) / p.fps;
        }
        onProgress(p);
      }
    }
    return flow::continue_msg();
  });

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
  try {
    g.wait_for_all();
  } catch (...) {
    // The graph has stopped; the writer's destructor removes the temporary output.
    throw;
  }
  if (cancel != nullptr && cancel->load()) throw Cancelled();
  if (processed != stats.framesDecoded) {
    throw std::logic_error("pipeline lost frames: decoded " + std::to_string(stats.framesDecoded) +
                           ", encoded " + std::to_string(processed));
  }
  if (stats.framesWritten == 0) {
    const stages::FrameSelection& sel = config.reader.selection;
    if (sel.first > 0 || sel.last >= 0) {
      std::string clip = info.frameCountEstimate >= 0
                             ? " (the clip has about " + std::to_string(info.frameCountEstimate) + " frames)"
                             : std::string();
      throw std::runtime_error(config.reader.path + ": --frames " + std::to_string(span.rangeFirst) + "-" +
                               (sel.last >= 0 ? std::to_string(sel.last) : std::string()) +
                               " selects no frames: the range starts past the end of the clip" + clip);
    }
    throw std::runtime_error(config.reader.path + ": no frames in the selected range");
  }
  writer.finish();
  if (state != nullptr) state->finish();
  stats.seconds = secondsSince(start);
  return stats;
}

}  // namespace flowstyle::pipeline
