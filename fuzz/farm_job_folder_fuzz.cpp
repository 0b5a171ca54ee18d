// libFuzzer target: a farm job folder as `flowstyle farm status` reads it back (issue 10's
// Slurm folder): plan.json (parsed and checked against the plan its request makes),
// jobs.txt (the submitted job ids) and a task's status and log files. The input holds
// five sections separated by a line "--": plan.json, jobs.txt, status/task-0.exit,
// status/task-0.start, logs/task-0.log. "@JOBDIR@" in plan.json stands for the job
// folder's absolute path (a plan names its folder; a plan for another folder is refused).
// squeue is never run (PATH is emptied), so the states come from the files alone.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "fuzz/fuzz_support.hpp"
#include "tools/farm.hpp"

namespace {

std::vector<std::string> sections(const std::string& text, std::size_t count) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (out.size() + 1 < count) {
    const auto at = text.find("\n--\n", start);
    if (at == std::string::npos) break;
    out.push_back(text.substr(start, at - start));
    start = at + 4;
  }
  out.push_back(text.substr(start));
  while (out.size() < count) out.emplace_back();
  return out;
}

void write(const std::filesystem::path& p, const std::string& bytes) {
  std::ofstream(p, std::ios::binary | std::ios::trunc).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string replaceAll(std::string text, const std::string& from, const std::string& to) {
  for (std::size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
  }
  return text;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  ::setenv("PATH", "/nonexistent", 1);          // no squeue, no sbatch
  if (!std::freopen("/dev/null", "w", stdout)) {  // the status report itself is not checked
    std::perror("fuzz_farm_job_folder: /dev/null");
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace fs = std::filesystem;
  const std::vector<std::string> parts = sections(std::string(reinterpret_cast<const char*>(data), size), 5);
  const fs::path dir = flowstyle::fuzz::scratch() / "job.farm";
  std::error_code ec;
  fs::remove_all(dir, ec);
  fs::create_directories(dir / "status");
  fs::create_directories(dir / "logs");
  write(dir / "plan.json", replaceAll(parts[0], "@JOBDIR@", dir.string()));
  if (!parts[1].empty()) write(dir / "jobs.txt", parts[1]);
  if (!parts[2].empty()) write(dir / "status/task-0.exit", parts[2]);
  if (!parts[3].empty()) write(dir / "status/task-0.start", parts[3]);
  write(dir / "logs/task-0.log", parts[4]);
  for (const bool json : {false, true}) {
    try {
      (void)flowstyle::tools::runFarmStatus(dir.string(), json);
    } catch (const std::runtime_error&) {
      // a clean, named error; anything else (std::length_error, std::bad_alloc,
      // std::invalid_argument from a number conversion) is a finding
    }
  }
  return 0;
}
