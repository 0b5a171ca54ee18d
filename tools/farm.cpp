// `flowstyle farm plan|slurm|submit|status`: options, sources, the job folder, status.
#include "tools/farm.hpp"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <sstream>

#include "pipeline/batch.hpp"
#include "stages/video_reader.hpp"
#include "tools/options.hpp"

namespace flowstyle::tools {
namespace {

namespace fs = std::filesystem;
using pipeline::FarmPlan;

const char* kFarmHelp =
    R"(Usage:
  flowstyle farm plan IN [-o OUT] [--chunks N | --chunk-frames F] [--preroll K] [--overlap O]
                      [--json] [video options]
  flowstyle farm slurm IN -o OUT [--chunks N | --chunk-frames F] [--preroll K] [--overlap O]
                      [--partition P] [--time T] [--gpus-per-task G] [--sbatch-arg ARG]...
                      [--job-dir DIR] [--dry-run] [video options]
  flowstyle farm slurm IN_DIR/ -o OUT_DIR/ [--ext mp4] ...    one array over every clip, one join per clip
  flowstyle farm submit JOBDIR                                submit a job folder written with --dry-run
  flowstyle farm status JOBDIR [--json]                       done / running / failed chunks, seams, joins
  flowstyle farm retry JOBDIR                                 requeue failed tasks, submit their joins again

A clip is split into chunks; each chunk is one task running
  flowstyle video IN --frames A-B --preroll K --overlap O --resume --codec ffv1 -o PART.mkv [video options]
and a join per clip runs
  flowstyle join PART... -o OUT --source IN [--blend --restyle-hold --restyle-polish --restyle-lookahead --codec --crf --preset --pix-fmt --codec-opt --no-audio]

Options:
  -o, --output PATH     the joined result (farm plan: default <IN name>_farm.mp4); a folder for IN_DIR
  --chunks N            chunks per clip (default 4 when neither is given)
  --chunk-frames F      or: frames per chunk
  --preroll K           frames stylized before a chunk to build the temporal state, not written (8)
  --overlap O           frames written by both neighbours and blended by join (4; at most K)
  --json                farm plan: print the plan as JSON (the format of JOBDIR/plan.json)
  --partition P, --time T, --gpus-per-task G, --sbatch-arg ARG (repeatable, e.g. --sbatch-arg=--qos=low)
                        Slurm settings of the tasks (#SBATCH lines; the join gets all but the GPUs)
  --job-dir DIR         the job folder (default OUT.farm)
  --dry-run             write the job folder and print it; submit nothing
  --ext EXT             IN_DIR: container of the outputs OUT_DIR/<clip name>.EXT (mp4)
  --flowstyle PATH      the executable the tasks run (default: this one)
Every other option is a `flowstyle video` option and goes to every chunk; the encoder options
(--codec --crf --preset --pix-fmt --codec-opt --no-audio), --blend and the --restyle-* options go to the join (parts are FFV1);
the join's default --blend auto is fitted there (it has no chunk options); with --blend restyle
(optimize, hybrid) each seam is a task of its own (seams.sh, after the chunks) that restyles its
overlap frames into a seam part (join --seam-part, with the chunks' options and the --restyle-* options),
and the join takes them.
)";

struct FarmOptions {
  std::string action;
  std::string input;
  std::string output;
  std::int64_t chunks = 0, chunkFrames = 0, preroll = 8, overlap = 4;
  bool json = false, dryRun = false;
  std::string jobDir, ext = "mp4", flowstyle;
  SlurmSettings slurm;
  std::vector<std::string> videoArgs, joinArgs;
};

std::int64_t toInt(const std::string& option, const std::string& value) {
  try {
    std::size_t used = 0;
    const long long v = std::stoll(value, &used);
    if (used == value.size()) return v;
  } catch (const std::exception&) {
  }
  throw UsageError("--" + option + ": '" + value + "' is not a whole number");
}

// Farm options are taken out; encoder options go to the join; the rest to every chunk.
FarmOptions parseFarmOptions(const std::string& action, const std::vector<std::string>& args) {
  FarmOptions o;
  o.action = action;
  static const std::set<std::string> kJoinValue = {"codec", "crf", "preset", "pix-fmt", "codec-opt", "blend",
                                                    "restyle-hold", "restyle-polish", "restyle-lookahead"};
  static const std::set<std::string> kOwned = {"frames", "start", "duration", "resume", "at"};
  for (std::size_t i = 0; i < args.size(); ++i) {
    std::string a = args[i];
    if (a.rfind("--", 0) != 0 && a != "-o") {
      if (o.input.empty() && i == 0) {
        o.input = a;
        continue;
      }
      o.videoArgs.push_back(a);  // a value of a video option
      continue;
    }
    std::string name = a == "-o" ? "output" : a.substr(2), value;
    bool hasValue = false;
    const auto eq = name.find('=');
    if (eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
      hasValue = true;
    }
    auto take = [&]() -> std::string {
      if (hasValue) return value;
      if (i + 1 >= args.size()) throw UsageError("--" + name + ": needs a value (see flowstyle farm --help)");
      return args[++i];
    };
    if (name == "output") o.output = take();
    else if (name == "chunks") o.chunks = toInt(name, take());
    else if (name == "chunk-frames") o.chunkFrames = toInt(name, take());
    else if (name == "preroll") o.preroll = toInt(name, take());
    else if (name == "overlap") o.overlap = toInt(name, take());
    else if (name == "json" && action != "slurm") o.json = true;
    else if (name == "dry-run" && action == "slurm") o.dryRun = true;
    else if (name == "partition" && action == "slurm") o.slurm.partition = take();
    else if (name == "time" && action == "slurm") o.slurm.time = take();
    else if (name == "gpus-per-task" && action == "slurm") o.slurm.gpusPerTask = static_cast<int>(toInt(name, take()));
    else if (name == "sbatch-arg" && action == "slurm") o.slurm.sbatchArgs.push_back(take());
    else if (name == "job-dir" && action == "slurm") o.jobDir = take();
    else if (name == "ext") o.ext = take();
    else if (name == "flowstyle") o.flowstyle = take();
    else if (kJoinValue.count(name)) {
      o.joinArgs.push_back("--" + name);
      o.joinArgs.push_back(take());
    } else if (name == "no-audio") {
      o.joinArgs.push_back("--no-audio");
    } else if (kOwned.count(name)) {
      throw UsageError("--" + name + ": the farm chooses each chunk's frames (use --chunks or --chunk-frames; "
                       "for a part of the clip, cut it first with flowstyle video --method copy)");
    } else if (name == "help") {
      throw UsageError("--help");  // handled by the caller
    } else {
      o.videoArgs.push_back(a);  // a video option (its value, if any, follows as a plain word)
    }
  }
  if (o.input.empty()) {
    throw UsageError(action + ": missing IN, the clip or folder, which comes first (flowstyle farm " + action +
                     " IN -o OUT [options])");
  }
  if (o.chunks == 0 && o.chunkFrames == 0) o.chunks = 4;
  if (o.slurm.gpusPerTask < 0) throw UsageError("--gpus-per-task: needs 0 or more");
  for (const std::string& s : o.slurm.sbatchArgs) {
    if (s.rfind("-", 0) != 0) throw UsageError("--sbatch-arg '" + s + "': expected an sbatch option, e.g. --qos=low");
    if (s.find('\n') != std::string::npos) throw UsageError("--sbatch-arg: one option per --sbatch-arg");
  }
  return o;
}

std::string absolute(const std::string& p) {
  std::error_code ec;
  const fs::path a = fs::absolute(p, ec);
  return (ec ? fs::path(p) : a).lexically_normal().string();
}

std::string selfExecutable() {
  std::error_code ec;
  const fs::path p = fs::read_symlink("/proc/self/exe", ec);
  return ec ? std::string("flowstyle") : p.string();
}

// The video options must parse as they will on the nodes: checked here, before anything
// is written (a usage error, exit 2).
void checkVideoOptions(const FarmOptions& o, const std::string& source) {
  VideoCommand chunk;
  JoinCommand join;
  std::vector<std::string> a = {source};
  a.insert(a.end(), o.videoArgs.begin(), o.videoArgs.end());
  a.insert(a.end(), {"--codec", "ffv1", "-o", "check.mkv"});
  if (!parseVideo(a, chunk)) throw UsageError("--help is not a video option here (see flowstyle farm --help)");
  std::error_code ec;
  const std::string out = fs::is_directory(o.input, ec) ? "check." + o.ext : o.output;
  std::vector<std::string> j = {"part.mkv", "-o", out};
  j.insert(j.end(), o.joinArgs.begin(), o.joinArgs.end());
  parseJoin(j, join);
}

std::int64_t countFrames(const std::string& path) {
  stages::ReaderConfig rc;
  rc.path = path;
  stages::VideoReader reader(rc);
  std::int64_t n = 0;
  while (reader.next()) ++n;
  return n;
}

pipeline::FarmClipInput describeSource(const std::string& source, const std::string& output) {
  pipeline::FarmClipInput in;
  in.source = absolute(source);
  in.output = absolute(output);
  in.frames = countFrames(source);
  std::error_code ec;
  in.sourceBytes = fs::file_size(source, ec);
  const auto mtime = fs::last_write_time(source, ec);
  in.sourceMtimeNs = std::chrono::duration_cast<std::chrono::nanoseconds>(mtime.time_since_epoch()).count();
  return in;
}

std::string stripSlash(std::string p) {
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  return p;
}

FarmPlan planFromOptions(FarmOptions& o) {
  std::error_code ec;
  const bool folder = fs::is_directory(o.input, ec);
  if (o.output.empty()) {
    if (o.action == "slurm") throw UsageError("slurm: missing -o OUT");
    o.output = folder ? stripSlash(o.input) + "_farm" : fs::path(o.input).stem().string() + "_farm.mp4";
  }
  if (!folder && !fs::exists(o.input, ec)) throw std::runtime_error(o.input + ": file not found");
  pipeline::FarmRequest r;
  r.chunks = o.chunks;
  r.chunkFrames = o.chunkFrames;
  r.preroll = o.preroll;
  r.overlap = o.overlap;
  r.flowstyle = o.flowstyle.empty() ? selfExecutable() : absolute(o.flowstyle);
  r.jobDir = absolute(o.jobDir.empty() ? stripSlash(o.output) + ".farm" : o.jobDir);
  r.videoArgs = o.videoArgs;
  r.joinArgs = o.joinArgs;
  std::vector<std::pair<std::string, std::string>> clips;
  if (folder) {
    for (const pipeline::BatchItem& item : pipeline::planBatch(o.input, o.output, o.ext, true)) {
      if (item.action == pipeline::BatchItem::Action::Reject) throw std::runtime_error(item.input + ": " + item.reason);
      clips.emplace_back(item.input, item.output);
    }
  } else {
    clips.emplace_back(o.input, o.output);
  }
  checkVideoOptions(o, clips.front().first);
  for (const auto& [in, out] : clips) r.clips.push_back(describeSource(in, out));
  try {
    return pipeline::makeFarmPlan(r);
  } catch (const std::invalid_argument& e) {
    throw UsageError(e.what());
  }
}

void printPlanTable(const FarmPlan& plan) {
  const pipeline::FarmRequest& r = plan.request;
  std::printf("%zu clip(s), %d task(s); pre-roll %lld, overlap %lld; job folder %s\n", plan.clips.size(),
              plan.taskCount(), static_cast<long long>(r.preroll), static_cast<long long>(r.overlap), r.jobDir.c_str());
  for (const pipeline::FarmClip& c : plan.clips) {
    std::printf("\n%s (%lld frames) -> %s\n", c.input.source.c_str(), static_cast<long long>(c.input.frames),
                c.input.output.c_str());
    std::printf("  %-5s %-5s %-13s %-13s %s\n", "chunk", "task", "written", "pre-roll", "command");
    for (const pipeline::FarmChunk& ch : c.chunks) {
      const std::string written = toString(ch.range.written());
      const std::string pre = ch.range.stylizeFirst < ch.range.writeFirst
                                  ? toString(pipeline::FrameRange{ch.range.stylizeFirst, ch.range.writeFirst - 1})
                                  : "-";
      std::printf("  %-5d %-5d %-13s %-13s %s\n", ch.range.index, ch.task, written.c_str(), pre.c_str(),
                  pipeline::shellCommand(ch.command).c_str());
    }
    for (const pipeline::FarmSeam& sm : c.seams) {
      std::printf("  seam before chunk %d (seam task %d): %s\n", sm.index, sm.task,
                  pipeline::shellCommand(sm.command).c_str());
    }
    std::printf("  join: %s\n", pipeline::shellCommand(c.joinCommand).c_str());
  }
}

void writeFile(const fs::path& p, const std::string& text, bool executable) {
  std::ofstream f(p, std::ios::binary | std::ios::trunc);
  f << text;
  f.close();
  if (!f) throw std::runtime_error(p.string() + ": cannot write it");
  if (executable) fs::permissions(p, fs::perms::owner_exec | fs::perms::group_exec | fs::perms::others_exec,
                                  fs::perm_options::add);
}

// The job folder: plan.json, array.sh, join-K.sh, parts/, logs/, status/.
void writeJobFolder(const FarmPlan& plan, const SlurmSettings& s) {
  const fs::path dir = plan.request.jobDir;
  std::error_code ec;
  if (fs::exists(dir, ec)) {
    throw std::runtime_error(dir.string() + ": exists (a job folder of an earlier run: flowstyle farm status " +
                             dir.string() + "; remove it or give --job-dir to plan again)");
  }
  fs::create_directories(dir / "logs", ec);
  if (ec) throw std::runtime_error(dir.string() + ": cannot create the job folder: " + ec.message());
  fs::create_directories(dir / "status");
  for (const pipeline::FarmClip& c : plan.clips) {
    fs::create_directories(fs::path(c.chunks.front().part).parent_path());
    fs::create_directories(fs::path(c.input.output).parent_path(), ec);
  }
  writeFile(dir / "plan.json", pipeline::farmPlanJson(plan), false);
  writeFile(arrayScriptPath(dir), arrayScript(plan, s), true);
  if (plan.seamTaskCount() > 0) writeFile(seamsScriptPath(dir), seamsScript(plan, s), true);
  for (std::size_t k = 0; k < plan.clips.size(); ++k) writeFile(joinScriptPath(dir, k), joinScript(plan, k, s), true);
}

std::string readText(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// Before submitting a folder written earlier: scripts unchanged below their #SBATCH
// lines, every source as it was when planned.
void checkBeforeSubmit(const FarmPlan& plan) {
  const std::string& dir = plan.request.jobDir;
  SlurmSettings none;
  auto check = [&](const std::string& path, const std::string& expected) {
    std::error_code ec;
    if (!fs::exists(path, ec)) throw std::runtime_error(path + ": missing from the job folder");
    if (farmScriptBody(readText(path)) != farmScriptBody(expected)) {
      throw std::runtime_error(path + ": its commands differ from plan.json (edited by hand or written by another "
                               "version?); only the #SBATCH lines may be edited. Nothing submitted");
    }
  };
  check(arrayScriptPath(dir), arrayScript(plan, none));
  if (plan.seamTaskCount() > 0) check(seamsScriptPath(dir), seamsScript(plan, none));
  for (std::size_t k = 0; k < plan.clips.size(); ++k) check(joinScriptPath(dir, k), joinScript(plan, k, none));
  for (const pipeline::FarmClip& c : plan.clips) {
    std::error_code ec;
    if (!fs::exists(c.input.source, ec)) throw std::runtime_error(c.input.source + ": the source is gone; nothing submitted");
    const auto bytes = fs::file_size(c.input.source, ec);
    const auto mtime = std::chrono::duration_cast<std::chrono::nanoseconds>(
                           fs::last_write_time(c.input.source, ec).time_since_epoch()).count();
    if (bytes != c.input.sourceBytes || mtime != c.input.sourceMtimeNs) {
      throw std::runtime_error(c.input.source + ": changed after planning (size or modification time differ from " +
                               dir + "/plan.json); plan it again. Nothing submitted");
    }
  }
  SubmittedJobs jobs;
  if (readJobIds(dir, jobs)) {
    throw std::runtime_error(dir + ": already submitted (array job " + jobs.array + "; flowstyle farm status " + dir + ")");
  }
}

void submitAndReport(const FarmPlan& plan) {
  const SubmittedJobs jobs = submitToSlurm(plan);
  writeJobIds(plan.request.jobDir, jobs);
  std::printf("submitted array job %s (%d tasks)\n", jobs.array.c_str(), plan.taskCount());
  if (!jobs.seams.empty()) {
    std::printf("submitted seam array job %s (%d seam tasks, after the chunks)\n", jobs.seams.c_str(),
                plan.seamTaskCount());
  }
  for (std::size_t k = 0; k < jobs.joins.size(); ++k) {
    std::printf("submitted join job %s -> %s\n", jobs.joins[k].c_str(), plan.clips[k].input.output.c_str());
  }
  std::printf("follow it with: flowstyle farm status %s\n", plan.request.jobDir.c_str());
}

int runSlurm(FarmOptions& o) {
  if (!o.dryRun) requireSbatch();  // before anything is written
  const FarmPlan plan = planFromOptions(o);
  writeJobFolder(plan, o.slurm);
  const std::string& dir = plan.request.jobDir;
  std::printf("job folder %s: plan.json, array.sh (%d tasks), %s%zu join script(s)\n", dir.c_str(), plan.taskCount(),
              plan.seamTaskCount() > 0 ? ("seams.sh (" + std::to_string(plan.seamTaskCount()) + " seam tasks), ").c_str()
                                       : "",
              plan.clips.size());
  if (o.dryRun) {
    std::printf("\n%s\n", readText(arrayScriptPath(dir)).c_str());
    if (plan.seamTaskCount() > 0) std::printf("%s\n", readText(seamsScriptPath(dir)).c_str());
    for (std::size_t k = 0; k < plan.clips.size(); ++k) std::printf("%s\n", readText(joinScriptPath(dir, k)).c_str());
    std::printf("dry run: nothing submitted; submit with: flowstyle farm submit %s\n", dir.c_str());
    return 0;
  }
  try {
    submitAndReport(plan);
  } catch (...) {
    std::error_code ec;
    fs::remove_all(dir, ec);  // nothing was submitted: no job folder either
    throw;
  }
  return 0;
}

}  // namespace

pipeline::FarmPlan readJobFolder(const std::string& jobDir) {
  const fs::path plan = fs::path(jobDir) / "plan.json";
  std::error_code ec;
  if (!fs::is_directory(jobDir, ec)) throw std::runtime_error(jobDir + ": job folder not found");
  if (!fs::exists(plan, ec)) throw std::runtime_error(jobDir + ": no plan.json (not a flowstyle farm job folder)");
  std::ifstream f(plan, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  FarmPlan p = pipeline::parseFarmPlanJson(ss.str(), plan.string());
  if (absolute(p.request.jobDir) != absolute(jobDir)) {
    throw std::runtime_error(plan.string() + ": belongs to the job folder " + p.request.jobDir +
                             " (job folders cannot be moved: the scripts name their files)");
  }
  return p;
}

int runFarmCommand(const std::vector<std::string>& args) {
  if (args.empty() || args[0] == "--help" || args[0] == "-h") {
    std::cout << kFarmHelp;
    return args.empty() ? 2 : 0;
  }
  const std::string action = args[0];
  const std::vector<std::string> rest(args.begin() + 1, args.end());
  for (const std::string& a : rest) {
    if (a == "--help" || a == "-h") {
      std::cout << kFarmHelp;
      return 0;
    }
  }
  if (action == "plan" || action == "slurm") {
    FarmOptions o = parseFarmOptions(action, rest);
    if (action == "slurm") return runSlurm(o);
    const FarmPlan plan = planFromOptions(o);
    if (o.json) std::printf("%s", pipeline::farmPlanJson(plan).c_str());
    else printPlanTable(plan);
    return 0;
  }
  if (action == "status" || action == "submit" || action == "retry") {
    std::string dir;
    bool json = false;
    for (const std::string& a : rest) {
      if (a == "--json" && action == "status") json = true;
      else if (dir.empty() && a.rfind("--", 0) != 0) dir = a;
      else throw UsageError(action + ": unexpected '" + a + "' (flowstyle farm " + action + " JOBDIR" +
                            (action == "status" ? " [--json])" : ")"));
    }
    if (dir.empty()) throw UsageError(action + ": missing JOBDIR");
    if (action == "status") return runFarmStatus(dir, json);
    if (action == "retry") return runFarmRetry(dir);
    const FarmPlan plan = readJobFolder(dir);
    checkBeforeSubmit(plan);
    submitAndReport(plan);  // requires sbatch
    return 0;
  }
  throw UsageError("unknown action '" + action + "' (valid: plan, slurm, submit, status, retry; see flowstyle farm --help)");
}

}  // namespace flowstyle::tools
