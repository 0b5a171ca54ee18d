// `flowstyle farm status` and `farm retry`: the state of every chunk and join, from the
// job folder's files (status/, logs/, parts/ and their resume state) and squeue.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "tools/farm.hpp"
#include "tools/json_output.hpp"

namespace flowstyle::tools {
namespace {

namespace fs = std::filesystem;
using pipeline::FarmPlan;

struct ItemState {
  std::string state;   // done | running | pending | failed | lost | waiting | not run
  std::string detail;
  std::int64_t framesDone = -1;
};

std::string firstLine(const fs::path& p) {
  std::ifstream f(p);
  std::string line;
  std::getline(f, line);
  return line;
}

std::string lastLines(const fs::path& p, std::size_t n) {
  std::ifstream f(p);
  std::vector<std::string> lines;
  std::string line;
  while (std::getline(f, line)) {
    if (line.empty() || line.find('\r') != std::string::npos) continue;  // progress bars
    lines.push_back(line);
    if (lines.size() > n) lines.erase(lines.begin());
  }
  std::string out;
  for (const std::string& l : lines) out += (out.empty() ? "" : " | ") + l;
  return out;
}

// Frames a running chunk has finished: its --resume state folder (issue 9's layout).
std::int64_t resumeFrames(const std::string& part) {
  const fs::path p(part);
  const fs::path frames = p.parent_path() / ("." + p.filename().string() + ".flowstyle-state") / "frames";
  std::error_code ec;
  if (!fs::is_directory(frames, ec)) return -1;
  std::int64_t n = 0;
  for (const auto& e : fs::directory_iterator(frames, ec)) n += e.path().extension() == ".png";
  return n;
}

ItemState itemState(const fs::path& status, const std::string& what, const std::string& result,
                    const std::string& queued, bool squeueOk, const fs::path& log) {
  ItemState s;
  std::error_code ec;
  const bool started = fs::exists(status / (what + ".start"), ec);
  const bool exited = fs::exists(status / (what + ".exit"), ec);
  const std::string code = exited ? firstLine(status / (what + ".exit")) : "";
  const bool haveResult = fs::exists(result, ec);
  if (!queued.empty() && queued.rfind("RUNNING", 0) == 0) {
    s.state = "running";
    s.detail = "on " + firstLine(status / (what + ".start"));
  } else if (!queued.empty() && queued.rfind("PENDING", 0) == 0) {
    s.state = started ? "requeued" : "pending";
    s.detail = queued;
    if (queued.find("DependencyNeverSatisfied") != std::string::npos) {
      s.state = "not run";
      s.detail = "a task it depends on failed (Slurm: DependencyNeverSatisfied)";
    }
  } else if (exited && code == "0" && haveResult) {
    s.state = "done";
  } else if (exited) {
    s.state = "failed";
    s.detail = "exit " + code + "; " + log.string() + ": " + lastLines(log, 2);
  } else if (started && squeueOk) {
    s.state = "lost";
    s.detail = "started (" + firstLine(status / (what + ".start")) + ") but Slurm no longer runs it (killed?); " +
               log.string();
  } else if (started) {
    s.state = "running";
    s.detail = "on " + firstLine(status / (what + ".start")) + " (squeue not available)";
  } else {
    s.state = queued.empty() ? (squeueOk ? "not queued" : "pending") : "pending";
    if (!queued.empty()) s.detail = queued;
  }
  return s;
}

// Every chunk's and join's state, from the job folder's files and squeue.
struct JobStates {
  bool submitted = false;
  bool squeueOk = false;
  SubmittedJobs jobs;
  std::vector<std::vector<ItemState>> chunks;  // per clip
  std::vector<std::vector<ItemState>> seams;   // per clip (join --blend restyle)
  std::vector<ItemState> joins;
  std::vector<std::vector<int>> failedChunks;  // per clip: chunk indices failed or lost
  std::vector<int> seamsToRun;                 // seam tasks failed, lost or never run
};

bool needsRun(const std::string& state) {
  return state == "failed" || state == "lost" || state == "not run" || state == "not queued";
}

JobStates collectStates(const FarmPlan& plan) {
  const fs::path dir = plan.request.jobDir;
  JobStates st;
  st.submitted = readJobIds(dir, st.jobs);
  if (st.jobs.joins.size() > plan.clips.size()) {
    throw std::runtime_error((dir / "jobs.txt").string() + ": a join job id for clip " +
                             std::to_string(st.jobs.joins.size() - 1) + " but the plan has " +
                             std::to_string(plan.clips.size()) + " clip(s); the file is damaged");
  }
  st.jobs.joins.resize(plan.clips.size());  // one id per clip ("" for a join never submitted)
  std::map<std::string, std::string> queued;
  if (st.submitted) {
    std::vector<std::string> ids = {st.jobs.array};
    if (!st.jobs.seams.empty()) ids.push_back(st.jobs.seams);
    for (const std::string& id : st.jobs.joins) {
      if (!id.empty()) ids.push_back(id);
    }
    for (auto& [id, q] : squeueStates(ids, st.squeueOk)) queued[id] = q;
  }
  for (std::size_t k = 0; k < plan.clips.size(); ++k) {
    const pipeline::FarmClip& clip = plan.clips[k];
    std::vector<ItemState> states;
    std::vector<int> failed;
    for (const pipeline::FarmChunk& c : clip.chunks) {
      const std::string what = "task-" + std::to_string(c.task);
      const std::string q = st.submitted ? queued[st.jobs.array + "_" + std::to_string(c.task)] : "";
      ItemState s = itemState(dir / "status", what, c.part, q, st.squeueOk, dir / "logs" / (what + ".log"));
      if (!st.submitted && s.state == "pending") s.state = "not submitted";
      if (s.state == "running" || s.state == "lost" || s.state == "requeued") s.framesDone = resumeFrames(c.part);
      if (s.state == "failed" || s.state == "lost") failed.push_back(c.range.index);
      states.push_back(s);
    }
    std::vector<ItemState> seamStates;
    std::vector<int> failedSeams;
    for (const pipeline::FarmSeam& sm : clip.seams) {
      const std::string what = "seam-" + std::to_string(sm.task);
      const std::string q =
          st.submitted && !st.jobs.seams.empty() ? queued[st.jobs.seams + "_" + std::to_string(sm.task)] : "";
      ItemState s = itemState(dir / "status", what, sm.part, q, st.squeueOk, dir / "logs" / (what + ".log"));
      if (!st.submitted && s.state == "pending") s.state = "not submitted";
      if (!failed.empty() && (s.state == "pending" || s.state == "not queued")) {
        s.state = "not run";
        s.detail = "waits for the failed chunk(s)";
      }
      if (st.submitted && needsRun(s.state)) st.seamsToRun.push_back(sm.task);
      if (s.state == "failed" || s.state == "lost") failedSeams.push_back(sm.index);
      seamStates.push_back(s);
    }
    const std::string what = "join-" + std::to_string(k);
    const std::string q = st.submitted && !st.jobs.joins[k].empty() ? queued[st.jobs.joins[k]] : "";
    ItemState j = itemState(dir / "status", what, clip.input.output, q, st.squeueOk, dir / "logs" / (what + ".log"));
    if (!st.submitted && j.state == "pending") j.state = "not submitted";
    if (!failed.empty() && (j.state == "pending" || j.state == "not queued" || j.state == "not run")) {
      j.state = "not run";
      std::string list;
      for (int i : failed) list += (list.empty() ? "" : ", ") + std::to_string(i);
      j.detail = "chunk " + list + " failed; flowstyle farm retry " + dir.string() +
                 " requeues the failed tasks and submits the join again";
    } else if (!failedSeams.empty() && (j.state == "pending" || j.state == "not queued" || j.state == "not run")) {
      j.state = "not run";
      std::string list;
      for (int i : failedSeams) list += (list.empty() ? "" : ", ") + std::to_string(i);
      j.detail = "the seam before chunk " + list + " failed; flowstyle farm retry " + dir.string() +
                 " runs the failed seams again and submits the join again";
    }
    st.chunks.push_back(states);
    st.seams.push_back(seamStates);
    st.joins.push_back(j);
    st.failedChunks.push_back(failed);
  }
  return st;
}

}  // namespace

int runFarmStatus(const std::string& jobDir, bool json) {
  const FarmPlan plan = readJobFolder(jobDir);
  const fs::path dir = plan.request.jobDir;
  const JobStates st = collectStates(plan);
  std::map<std::string, int> counts;
  bool anyFailed = false;
  std::string text;
  Json clips = Json::array();
  for (std::size_t k = 0; k < plan.clips.size(); ++k) {
    const pipeline::FarmClip& clip = plan.clips[k];
    text += "\n" + clip.input.source + " -> " + clip.input.output + "\n";
    Json chunks = Json::array(), seams = Json::array();
    for (std::size_t i = 0; i < clip.chunks.size(); ++i) {
      const pipeline::FarmChunk& c = clip.chunks[i];
      const ItemState& s = st.chunks[k][i];
      counts[s.state]++;
      anyFailed = anyFailed || s.state == "failed" || s.state == "lost";
      text += "  chunk " + std::to_string(c.range.index) + " (task " + std::to_string(c.task) + ") frames " +
              toString(c.range.frames) + ": " + s.state;
      if (s.framesDone >= 0) text += " (" + std::to_string(s.framesDone) + " frames saved for --resume)";
      if (!s.detail.empty()) text += ": " + s.detail;
      text += "\n";
      chunks.push_back({{"index", c.range.index},
                        {"task", c.task},
                        {"first", c.range.frames.first},
                        {"last", c.range.frames.last},
                        {"state", s.state},
                        {"frames_saved", s.framesDone},
                        {"detail", s.detail}});
    }
    for (std::size_t i = 0; i < clip.seams.size(); ++i) {
      const pipeline::FarmSeam& sm = clip.seams[i];
      const ItemState& s = st.seams[k][i];
      counts["seam " + s.state]++;
      anyFailed = anyFailed || s.state == "failed" || s.state == "lost";
      text += "  seam before chunk " + std::to_string(sm.index) + " (seam task " + std::to_string(sm.task) +
              "): " + s.state + (s.detail.empty() ? "" : ": " + s.detail) + "\n";
      seams.push_back({{"index", sm.index}, {"task", sm.task}, {"state", s.state}, {"detail", s.detail}});
    }
    const ItemState& j = st.joins[k];
    anyFailed = anyFailed || j.state == "failed" || j.state == "not run";
    counts["join " + j.state]++;
    text += "  join: " + j.state + (j.detail.empty() ? "" : ": " + j.detail) + "\n";
    clips.push_back({{"source", clip.input.source},
                     {"output", clip.input.output},
                     {"chunks", std::move(chunks)},
                     {"seams", std::move(seams)},
                     {"join", {{"state", j.state}, {"detail", j.detail}}}});
  }
  std::string summary;
  Json countsJson = Json::object();  // by state name (counts is a std::map)
  for (const auto& [state, n] : counts) {
    countsJson[state] = n;
    summary += std::string(summary.empty() ? "" : ", ") + std::to_string(n) + " " + state;
  }
  if (json) {
    const Json status = {{"job_dir", dir.string()},
                         {"submitted", st.submitted ? Json(st.jobs.array) : Json(nullptr)},
                         {"clips", std::move(clips)},
                         {"counts", std::move(countsJson)}};
    std::printf("%s\n", jsonLine(status).c_str());
  } else {
    std::printf("%s: %d task(s) in %zu clip(s)%s: %s\n%s", dir.c_str(), plan.taskCount(), plan.clips.size(),
                st.submitted ? (", array job " + st.jobs.array).c_str() : " (not submitted)", summary.c_str(),
                text.c_str());
    if (st.submitted && !st.squeueOk) std::printf("(squeue did not answer: states come from the job folder's files only)\n");
  }
  return anyFailed ? 1 : 0;
}

// Requeues failed or lost tasks (they continue from their --resume state) and submits
// again every join that was cancelled or failed.
int runFarmRetry(const std::string& jobDir) {
  const FarmPlan plan = readJobFolder(jobDir);
  const std::string dir = plan.request.jobDir;
  JobStates st = collectStates(plan);
  if (!st.submitted) throw std::runtime_error(dir + ": not submitted yet (flowstyle farm submit " + dir + ")");
  requireSbatch();
  int requeued = 0, joins = 0;
  // Seam tasks that failed, were lost or were cancelled with a failed chunk: submitted
  // again, after the chunk tasks.
  if (!st.seamsToRun.empty()) {
    st.jobs.seams = submitSeams(plan, st.jobs.array, st.seamsToRun, true);
    std::printf("submitted seam array job %s (%zu seam task(s) again)\n", st.jobs.seams.c_str(), st.seamsToRun.size());
    requeued += static_cast<int>(st.seamsToRun.size());
  }
  for (std::size_t k = 0; k < plan.clips.size(); ++k) {
    for (int i : st.failedChunks[k]) {
      const std::string id = st.jobs.array + "_" + std::to_string(plan.clips[k].chunks[static_cast<std::size_t>(i)].task);
      std::string out;
      if (runCaptured({"scontrol", "requeue", id}, out) != 0) {
        throw std::runtime_error("scontrol requeue " + id + " failed: " + out);
      }
      std::printf("requeued task %s (chunk %d of %s)\n", id.c_str(), i, plan.clips[k].input.source.c_str());
      ++requeued;
    }
    const std::string& js = st.joins[k].state;
    if (js == "not run" || js == "failed" || js == "not queued" || js == "lost") {
      st.jobs.joins[k] = submitJoin(plan, st.jobs, k, st.seamsToRun, true);
      std::printf("submitted join job %s -> %s\n", st.jobs.joins[k].c_str(), plan.clips[k].input.output.c_str());
      ++joins;
    }
  }
  writeJobIds(dir, st.jobs);
  if (requeued + joins == 0) std::printf("%s: nothing to retry (flowstyle farm status %s)\n", dir.c_str(), dir.c_str());
  return 0;
}

}  // namespace flowstyle::tools
