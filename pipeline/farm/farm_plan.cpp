#include "pipeline/farm/farm_plan.hpp"

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <stdexcept>

#include <nlohmann/json.hpp>

namespace flowstyle::pipeline {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::ordered_json;  // members in the order written

std::string num(std::int64_t v) { return std::to_string(v); }

std::vector<std::string> chunkCommand(const FarmRequest& r, const FarmClipInput& clip, const ChunkRange& c,
                                      const std::string& part) {
  std::vector<std::string> argv = {r.flowstyle, "video", clip.source,
                                   "--frames", toString(c.frames),
                                   "--preroll", num(r.preroll), "--overlap", num(r.overlap), "--resume"};
  argv.insert(argv.end(), r.videoArgs.begin(), r.videoArgs.end());
  argv.insert(argv.end(), {"--codec", "ffv1", "--no-audio", "-o", part});  // join copies the source's audio
  return argv;
}

// --- reading ---------------------------------------------------------------------------

struct Reader {
  const std::string& path;

  [[noreturn]] void fail(const std::string& what) const {
    throw std::runtime_error(path + ": " + what + " (a job folder from another version or edited by hand? "
                             "plan it again with flowstyle farm)");
  }
  const Json& child(const Json& t, const std::string& key) const {
    const auto it = t.find(key);
    if (it == t.end()) fail("missing field '" + key + "'");
    return *it;
  }
  std::string str(const Json& t, const std::string& key) const {
    const Json& c = child(t, key);
    if (!c.is_string()) fail("field '" + key + "' is not a string");
    return c.get<std::string>();
  }
  std::int64_t integer(const Json& t, const std::string& key) const {
    const Json& c = child(t, key);
    if (c.is_number_integer() && (!c.is_number_unsigned() || c.get<std::uint64_t>() <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())))
      return c.get<std::int64_t>();
    fail("field '" + key + "' is not an integer ('" + (c.is_string() ? c.get<std::string>() : c.dump()) + "')");
  }
  std::vector<std::string> strings(const Json& t, const std::string& key) const {
    const Json& c = child(t, key);
    std::vector<std::string> out;
    if (!c.is_array()) fail("field '" + key + "' is not a list of strings");
    for (const Json& item : c) {
      if (!item.is_string()) fail("field '" + key + "' is not a list of strings");
      out.push_back(item.get<std::string>());
    }
    return out;
  }
  std::vector<const Json*> objects(const Json& t, const std::string& key) const {
    const Json& c = child(t, key);
    std::vector<const Json*> out;
    if (!c.is_array()) fail("field '" + key + "' is not a list of objects");
    for (const Json& item : c) {
      if (!item.is_object()) fail("field '" + key + "' is not a list of objects");
      out.push_back(&item);
    }
    return out;
  }
};

}  // namespace

int FarmPlan::taskCount() const {
  int n = 0;
  for (const FarmClip& c : clips) n += static_cast<int>(c.chunks.size());
  return n;
}

int FarmPlan::seamTaskCount() const {
  int n = 0;
  for (const FarmClip& c : clips) n += static_cast<int>(c.seams.size());
  return n;
}

std::vector<ChunkRange> splitFrames(std::int64_t frameCount, std::int64_t chunks, std::int64_t chunkFrames,
                                    std::int64_t preroll, std::int64_t overlap) {
  if (frameCount < 1) throw std::invalid_argument("the clip has no frames to split");
  if (chunks > 0 && chunkFrames > 0) throw std::invalid_argument("--chunks and --chunk-frames: give one of them");
  if (chunks < 0) throw std::invalid_argument("--chunks " + num(chunks) + ": needs at least 1");
  if (chunkFrames < 0) throw std::invalid_argument("--chunk-frames " + num(chunkFrames) + ": needs at least 1");
  if (chunks == 0 && chunkFrames == 0) throw std::invalid_argument("give --chunks N or --chunk-frames F");
  if (preroll < 0) throw std::invalid_argument("--preroll " + num(preroll) + ": needs 0 or more");
  if (overlap < 0) throw std::invalid_argument("--overlap " + num(overlap) + ": needs 0 or more");
  if (overlap > preroll) {
    throw std::invalid_argument("--overlap " + num(overlap) + " is larger than --preroll " + num(preroll) +
                                ": every overlap frame needs its pre-roll (use --preroll >= --overlap)");
  }
  if (chunks > frameCount) {
    throw std::invalid_argument("--chunks " + num(chunks) + ": the clip has only " + num(frameCount) +
                                " frames (at most one chunk per frame)");
  }
  std::vector<ChunkRange> out;
  if (chunks == 0) chunks = (frameCount + chunkFrames - 1) / chunkFrames;
  const std::int64_t base = chunkFrames > 0 ? chunkFrames : frameCount / chunks;
  const std::int64_t extra = chunkFrames > 0 ? 0 : frameCount % chunks;
  std::int64_t first = 0, shortest = frameCount;
  for (std::int64_t i = 0; i < chunks; ++i) {
    ChunkRange c;
    c.index = static_cast<int>(i);
    c.frames = {first, std::min(frameCount, first + base + (i < extra ? 1 : 0)) - 1};
    c.stylizeFirst = std::max<std::int64_t>(0, first - preroll);
    c.writeFirst = std::max<std::int64_t>(0, first - overlap);
    shortest = std::min(shortest, c.frames.count());
    first = c.frames.last + 1;
    out.push_back(c);
  }
  if (chunks > 1 && overlap >= shortest) {
    throw std::invalid_argument("--overlap " + num(overlap) + ": the shortest chunk has only " + num(shortest) +
                                " frames (use fewer chunks or a smaller overlap)");
  }
  return out;
}

std::string farmPartPath(const std::string& jobDir, std::size_t clipIndex, const std::string& source, int chunk) {
  char name[32];
  std::snprintf(name, sizeof name, "chunk-%03d.mkv", chunk);
  const std::string clip = std::to_string(clipIndex) + "-" + fs::path(source).stem().string();
  return (fs::path(jobDir) / "parts" / clip / name).string();
}

std::string farmSeamPath(const std::string& jobDir, std::size_t clipIndex, const std::string& source, int chunk) {
  char name[32];
  std::snprintf(name, sizeof name, "seam-%03d.mkv", chunk);
  return (fs::path(farmPartPath(jobDir, clipIndex, source, chunk)).parent_path() / name).string();
}

FarmPlan makeFarmPlan(const FarmRequest& request) {
  if (request.clips.empty()) throw std::invalid_argument("the plan has no clips");
  FarmPlan plan;
  plan.request = request;
  // join --blend restyle stylizes the overlap frames again: one task per seam, with the
  // chunks' options, writes the seam parts the join then takes.
  bool restyle = false;
  for (std::size_t i = 0; i + 1 < request.joinArgs.size(); ++i) {
    restyle = restyle || (request.joinArgs[i] == "--blend" && request.joinArgs[i + 1] == "restyle");
  }
  if (restyle && request.overlap == 0 && (request.chunks > 1 || request.chunkFrames > 0)) {
    throw std::invalid_argument("--blend restyle restyles the overlap frames of each seam: give --overlap > 0");
  }
  int task = 0, seamTask = 0;
  for (std::size_t k = 0; k < request.clips.size(); ++k) {
    const FarmClipInput& in = request.clips[k];
    FarmClip clip;
    clip.input = in;
    std::vector<ChunkRange> ranges;
    try {
      ranges = splitFrames(in.frames, request.chunks, request.chunkFrames, request.preroll, request.overlap);
    } catch (const std::invalid_argument& e) {
      if (request.clips.size() == 1) throw;
      throw std::invalid_argument(in.source + ": " + e.what());
    }
    clip.joinCommand = {request.flowstyle, "join"};
    for (const ChunkRange& r : ranges) {
      FarmChunk c;
      c.range = r;
      c.task = task++;
      c.part = farmPartPath(request.jobDir, k, in.source, r.index);
      c.command = chunkCommand(request, in, r, c.part);
      clip.joinCommand.push_back(c.part);
      if (restyle && r.index > 0) {
        FarmSeam seam;
        seam.index = r.index;
        seam.task = seamTask++;
        seam.part = farmSeamPath(request.jobDir, k, in.source, r.index);
        seam.command = {request.flowstyle, "join", clip.chunks.back().part, c.part, "--seam-part",
                        "-o", seam.part, "--blend", "restyle"};
        // The join options that change the restyled frames go to the seam task too.
        for (std::size_t i = 0; i + 1 < request.joinArgs.size(); ++i) {
          if (request.joinArgs[i] == "--restyle-hold" || request.joinArgs[i] == "--restyle-polish" ||
              request.joinArgs[i] == "--restyle-lookahead")
            seam.command.insert(seam.command.end(), {request.joinArgs[i], request.joinArgs[i + 1]});
        }
        seam.command.push_back("--");
        seam.command.insert(seam.command.end(), request.videoArgs.begin(), request.videoArgs.end());
        clip.seams.push_back(seam);
      }
      clip.chunks.push_back(c);
    }
    for (const FarmSeam& seam : clip.seams) clip.joinCommand.push_back(seam.part);
    clip.joinCommand.insert(clip.joinCommand.end(), {"-o", in.output, "--source", in.source});
    clip.joinCommand.insert(clip.joinCommand.end(), request.joinArgs.begin(), request.joinArgs.end());
    plan.clips.push_back(clip);
  }
  return plan;
}

std::string farmPlanJson(const FarmPlan& plan) {
  const FarmRequest& r = plan.request;
  Json clips = Json::array();
  for (const FarmClip& c : plan.clips) {
    Json chunks = Json::array(), seams = Json::array();
    for (const FarmChunk& ch : c.chunks) {
      chunks.push_back({{"index", ch.range.index},
                        {"task", ch.task},
                        {"first", ch.range.frames.first},
                        {"last", ch.range.frames.last},
                        {"stylize_first", ch.range.stylizeFirst},
                        {"write_first", ch.range.writeFirst},
                        {"part", ch.part},
                        {"command", ch.command}});
    }
    for (const FarmSeam& sm : c.seams) {
      seams.push_back({{"index", sm.index}, {"task", sm.task}, {"part", sm.part}, {"command", sm.command}});
    }
    clips.push_back({{"source", c.input.source},
                     {"output", c.input.output},
                     {"frames", c.input.frames},
                     {"source_bytes", c.input.sourceBytes},
                     {"source_mtime_ns", c.input.sourceMtimeNs},
                     {"chunks", std::move(chunks)},
                     {"seams", std::move(seams)},
                     {"join", c.joinCommand}});
  }
  const Json root = {{"flowstyle_farm_plan", plan.version},
                     {"flowstyle", r.flowstyle},
                     {"job_dir", r.jobDir},
                     {"chunks", r.chunks},
                     {"chunk_frames", r.chunkFrames},
                     {"preroll", r.preroll},
                     {"overlap", r.overlap},
                     {"video_args", r.videoArgs},
                     {"join_args", r.joinArgs},
                     {"tasks", plan.taskCount()},
                     {"clips", std::move(clips)},
                     {"seam_tasks", plan.seamTaskCount()}};
  try {
    return root.dump(2) + "\n";
  } catch (const Json::type_error& e) {  // 316: bytes that are not UTF-8
    throw std::runtime_error(std::string("the farm plan is JSON, which holds UTF-8 text only: a path or option "
                                         "is not valid UTF-8 (rename the file or folder) (") +
                             e.what() + ")");
  }
}

FarmPlan parseFarmPlanJson(const std::string& text, const std::string& path) {
  Json root;
  try {
    root = Json::parse(text);
  } catch (const Json::exception& e) {  // parse_error, and out_of_range for a number too large
    throw std::runtime_error(path + ": not a valid JSON plan: " + e.what());
  }
  const Reader rd{path};
  if (!root.is_object()) rd.fail("not a flowstyle farm plan (not a JSON object)");
  if (root.find("flowstyle_farm_plan") == root.end()) {
    rd.fail("not a flowstyle farm plan (no 'flowstyle_farm_plan' field)");
  }
  const std::int64_t version = rd.integer(root, "flowstyle_farm_plan");
  if (version != kFarmPlanVersion) {
    throw std::runtime_error(path + ": plan version " + num(version) + ", this flowstyle reads version " +
                             num(kFarmPlanVersion) + " (plan the job again with this flowstyle)");
  }
  FarmRequest r;
  r.flowstyle = rd.str(root, "flowstyle");
  r.jobDir = rd.str(root, "job_dir");
  r.chunks = rd.integer(root, "chunks");
  r.chunkFrames = rd.integer(root, "chunk_frames");
  r.preroll = rd.integer(root, "preroll");
  r.overlap = rd.integer(root, "overlap");
  r.videoArgs = rd.strings(root, "video_args");
  r.joinArgs = rd.strings(root, "join_args");
  std::vector<FarmClip> stored;
  for (const Json* c : rd.objects(root, "clips")) {
    FarmClip clip;
    clip.input.source = rd.str(*c, "source");
    clip.input.output = rd.str(*c, "output");
    clip.input.frames = rd.integer(*c, "frames");
    clip.input.sourceBytes = static_cast<std::uint64_t>(rd.integer(*c, "source_bytes"));
    clip.input.sourceMtimeNs = rd.integer(*c, "source_mtime_ns");
    for (const Json* ch : rd.objects(*c, "chunks")) {
      FarmChunk k;
      k.range.index = static_cast<int>(rd.integer(*ch, "index"));
      k.task = static_cast<int>(rd.integer(*ch, "task"));
      k.range.frames = {rd.integer(*ch, "first"), rd.integer(*ch, "last")};
      k.range.stylizeFirst = rd.integer(*ch, "stylize_first");
      k.range.writeFirst = rd.integer(*ch, "write_first");
      k.part = rd.str(*ch, "part");
      k.command = rd.strings(*ch, "command");
      clip.chunks.push_back(k);
    }
    for (const Json* sm : rd.objects(*c, "seams")) {
      FarmSeam seam;
      seam.index = static_cast<int>(rd.integer(*sm, "index"));
      seam.task = static_cast<int>(rd.integer(*sm, "task"));
      seam.part = rd.str(*sm, "part");
      seam.command = rd.strings(*sm, "command");
      clip.seams.push_back(seam);
    }
    clip.joinCommand = rd.strings(*c, "join");
    r.clips.push_back(clip.input);
    stored.push_back(clip);
  }
  FarmPlan plan;
  try {
    plan = makeFarmPlan(r);
  } catch (const std::invalid_argument& e) {
    rd.fail(std::string("the recorded settings do not make a plan: ") + e.what());
  }
  // Everything derived must be exactly what this version derives from the settings.
  for (std::size_t k = 0; k < stored.size(); ++k) {
    const FarmClip& a = stored[k];
    const FarmClip& b = plan.clips[k];
    const std::string where = "clip " + std::to_string(k) + " (" + a.input.source + ")";
    if (a.chunks.size() != b.chunks.size()) {
      rd.fail(where + " has " + std::to_string(a.chunks.size()) + " chunks, the settings make " +
              std::to_string(b.chunks.size()));
    }
    for (std::size_t i = 0; i < a.chunks.size(); ++i) {
      const FarmChunk& x = a.chunks[i];
      const FarmChunk& y = b.chunks[i];
      if (x.range.index != y.range.index || x.task != y.task || x.range.frames != y.range.frames ||
          x.range.stylizeFirst != y.range.stylizeFirst ||
          x.range.writeFirst != y.range.writeFirst || x.part != y.part || x.command != y.command) {
        rd.fail(where + ", chunk " + std::to_string(i) + " differs from what the recorded settings make");
      }
    }
    if (a.seams.size() != b.seams.size()) {
      rd.fail(where + " has " + std::to_string(a.seams.size()) + " seam tasks, the settings make " +
              std::to_string(b.seams.size()));
    }
    for (std::size_t i = 0; i < a.seams.size(); ++i) {
      const FarmSeam& x = a.seams[i];
      const FarmSeam& y = b.seams[i];
      if (x.index != y.index || x.task != y.task || x.part != y.part || x.command != y.command) {
        rd.fail(where + ", seam task " + std::to_string(i) + " differs from what the recorded settings make");
      }
    }
    if (a.joinCommand != b.joinCommand) rd.fail(where + ": the join command differs from what the settings make");
  }
  if (rd.integer(root, "seam_tasks") != plan.seamTaskCount()) {
    rd.fail("field 'seam_tasks' is " + num(rd.integer(root, "seam_tasks")) + ", the seams make " +
            num(plan.seamTaskCount()));
  }
  if (root.find("tasks") != root.end() && rd.integer(root, "tasks") != plan.taskCount()) {
    rd.fail("field 'tasks' is " + num(rd.integer(root, "tasks")) + ", the chunks make " + num(plan.taskCount()));
  }
  return plan;
}

std::string shellQuote(const std::string& word) {
  if (!word.empty() && word.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                                              "@%+=:,./-_") == std::string::npos) {
    return word;
  }
  std::string q = "'";
  for (char c : word) {
    if (c == '\'') q += "'\\''";
    else q += c;
  }
  return q + "'";
}

std::string shellCommand(const std::vector<std::string>& argv) {
  std::string out;
  for (const std::string& a : argv) out += (out.empty() ? "" : " ") + shellQuote(a);
  return out;
}

}  // namespace flowstyle::pipeline
