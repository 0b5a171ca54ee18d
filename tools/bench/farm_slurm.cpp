// flowstyle-bench farm --slurm: a clip stylized in N chunks through `flowstyle farm slurm`
// on the Slurm that SLURM_CONF names (tools/slurm-local.sh start gives a one-node one),
// submit to joined output, against one uninterrupted `flowstyle video` run on this
// machine; and the scheduler's own cost per task (an array of empty tasks).
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "tools/bench/harness.hpp"

namespace fs = std::filesystem;

namespace flowstyle::bench {
namespace {

// stdout of a shell command (squeue, sinfo, sbatch); exit code in `rc`.
std::string shell(const std::string& cmd, int& rc) {
  std::string out;
  FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  if (!p) {
    rc = -1;
    return out;
  }
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  const int status = ::pclose(p);
  rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return out;
}

bool queued(const std::string& ids) {
  int rc = 0;
  const std::string out = shell("squeue -h -r -j " + ids + " -o %i", rc);
  return rc == 0 && !out.empty();
}

// Seconds until none of `ids` is queued (polling every 0.2 s), at most `limit`.
double waitGone(const std::string& ids, Clock::time_point t0, double limit) {
  while (queued(ids)) {
    if (secondsSince(t0) > limit) throw std::runtime_error("jobs " + ids + " still queued after " + fmt("%.0f", limit) + " s");
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return secondsSince(t0);
}

std::string jobIds(const std::string& jobDir) {
  FILE* f = std::fopen((jobDir + "/jobs.txt").c_str(), "r");
  if (!f) throw std::runtime_error(jobDir + "/jobs.txt: missing (was the job submitted?)");
  std::string ids;
  char word[64], a[64], b[64];
  while (std::fscanf(f, "%63s", word) == 1) {
    if (std::string(word) == "array" && std::fscanf(f, "%63s", a) == 1) ids += (ids.empty() ? "" : ",") + std::string(a);
    if (std::string(word) == "join" && std::fscanf(f, "%63s %63s", a, b) == 2) ids += "," + std::string(b);
  }
  std::fclose(f);
  return ids;
}

void benchFarmSlurm() {
  printHeader("farm --slurm: a clip in N chunks on Slurm (submit -> joined output) vs one uninterrupted run");
  int rc = 0;
  const std::string nodes = shell("sinfo -h -o '%N %c %T'", rc);
  if (rc != 0 || nodes.empty()) {
    throw std::runtime_error("no Slurm answers (sinfo: " + nodes + "); start one with tools/slurm-local.sh start "
                             "and export SLURM_CONF as it prints");
  }
  std::printf("  slurm: %s", nodes.c_str());
  const std::string cli = (fs::path(gSelf).parent_path() / "flowstyle").string();
  const std::string models = gTmp + "/models";
  ChildResult inst = runChild({cli, "models", "install", sharedPath("models/ml5/wave"), "--to", models});
  if (!inst.ok()) throw std::runtime_error("cannot import ml5/wave: " + inst.stderrTail);
  const std::string model = models + "/wave.safetensors";
  const int kSeconds = 8, kFps = 25;
  const std::string clip = ffmpegClip("testsrc2", 320, 180, kSeconds, kFps);
  const int frames = kSeconds * kFps;
  const std::vector<std::string> method = {"--method", "fast", "--model", model, "--progress", "none"};
  std::printf("  clip: testsrc2 320x180, %d frames; --method fast --model wave; load %s\n", frames, loadAvg().c_str());

  // One uninterrupted run with every core of this machine.
  std::vector<std::string> one = {cli, "video", clip, "-o", gTmp + "/one.mp4", "--threads", "0"};
  one.insert(one.end(), method.begin(), method.end());
  const ChildResult single = runChild(one);
  if (!single.ok()) throw std::runtime_error("flowstyle video failed: " + single.stderrTail);
  std::printf("\n  %-28s %8s %8s %9s  %s\n", "run", "wall s", "fps", "vs one", "load");
  std::printf("  %-28s %8.2f %8.2f %9s  %s\n", "one run (video, all cores)", single.wall, frames / single.wall, "1.00",
              loadAvg().c_str());
  JsonLine("farm_slurm").add("run", "one").add("chunks", 1.0).add("wall_s", single.wall).add("frames", frames).print();

  for (int chunks : {2, 4, 8}) {
    const std::string out = gTmp + "/farm" + std::to_string(chunks) + ".mp4";
    std::vector<std::string> farm = {cli, "farm", "slurm", clip, "-o", out, "--chunks", std::to_string(chunks),
                                     "--preroll", "4", "--overlap", "2", "--threads", "1"};
    farm.insert(farm.end(), method.begin(), method.end());
    const auto t0 = Clock::now();
    const ChildResult submit = runChild(farm);
    if (!submit.ok()) throw std::runtime_error("flowstyle farm slurm failed: " + submit.stderrTail);
    const double wall = waitGone(jobIds(out + ".farm"), t0, 1800);
    std::error_code ec;
    if (!fs::exists(out, ec)) throw std::runtime_error(out + ": missing after the jobs ended; see " + out + ".farm/logs");
    char name[64];
    std::snprintf(name, sizeof name, "farm slurm --chunks %d", chunks);
    std::printf("  %-28s %8.2f %8.2f %9.2f  %s  (submit %.2f s)\n", name, wall, frames / wall, single.wall / wall,
                loadAvg().c_str(), submit.wall);
    JsonLine("farm_slurm").add("run", "slurm").add("chunks", chunks).add("wall_s", wall).add("submit_s", submit.wall)
        .add("frames", frames).print();
  }

  // The scheduler alone: an array of empty tasks, submit -> all done.
  const int kTasks = 16;
  const auto t0 = Clock::now();
  const std::string id = shell("sbatch --parsable --array=0-" + std::to_string(kTasks - 1) +
                               " --output=/dev/null --wrap true", rc);
  if (rc != 0) throw std::runtime_error("sbatch failed: " + id);
  const double wall = waitGone(id.substr(0, id.find_first_of(";\n")), t0, 600);
  const long cpus = ::sysconf(_SC_NPROCESSORS_ONLN);
  std::printf("\n  scheduler: %d empty array tasks, submit -> all done %.2f s = %.2f s per task "
              "(%ld at a time: %.2f s of a CPU slot per task)\n",
              kTasks, wall, wall / kTasks, cpus, wall * cpus / kTasks);
  JsonLine("farm_slurm_overhead").add("tasks", kTasks).add("wall_s", wall).add("per_task_s", wall / kTasks).print();
}

}  // namespace

Benchmark farmSlurmBenchmark() {
  Benchmark b;
  b.name = "farm-slurm";
  b.help = "(also: farm --slurm) a clip in 2/4/8 chunks on Slurm vs one run; scheduler cost per task";
  b.run = benchFarmSlurm;
  return b;
}

}  // namespace flowstyle::bench
