#pragma once
// `flowstyle farm plan|slurm|submit|status`: a clip (or a folder of clips) in chunks on a
// render farm. Planning is pipeline/farm/farm_plan; this side reads the sources, writes the
// Slurm job folder and talks to sbatch / squeue.
#include <string>
#include <vector>

#include "pipeline/farm/farm_plan.hpp"

namespace flowstyle::tools {

int runFarmCommand(const std::vector<std::string>& args);

// JOBDIR/plan.json, read and checked (pipeline::parseFarmPlanJson); throws naming the file.
pipeline::FarmPlan readJobFolder(const std::string& jobDir);

// --- status and retry (tools/farm_status.cpp) ---------------------------------------

// Prints every chunk's and join's state; 1 when any failed.
int runFarmStatus(const std::string& jobDir, bool json);
// Requeues failed or lost tasks and submits their cancelled joins again.
int runFarmRetry(const std::string& jobDir);

// --- Slurm (tools/farm_slurm.cpp) -----------------------------------------------------

struct SlurmSettings {
  std::string partition;               // --partition
  std::string time;                    // --time
  int gpusPerTask = 0;                 // --gpus-per-task
  std::vector<std::string> sbatchArgs; // --sbatch-arg (each one #SBATCH line)
};

// The job folder's scripts. Each is an #SBATCH header (free to edit) and a body that runs
// exactly the plan's commands; `farmScriptBody` is the body alone, for checking.
std::string arrayScript(const pipeline::FarmPlan& plan, const SlurmSettings& s);
// The seam tasks' array (plans with seam tasks only: join --blend restyle).
std::string seamsScript(const pipeline::FarmPlan& plan, const SlurmSettings& s);
std::string joinScript(const pipeline::FarmPlan& plan, std::size_t clip, const SlurmSettings& s);
std::string farmScriptBody(const std::string& script);

// The job folder's files.
std::string arrayScriptPath(const std::string& jobDir);
std::string joinScriptPath(const std::string& jobDir, std::size_t clip);
std::string seamsScriptPath(const std::string& jobDir);

struct SubmittedJobs {
  std::string array;              // the array job id
  std::string seams;              // the seam tasks' array job id (the latest one submitted; "" if none)
  std::vector<std::string> joins; // one per clip
};

// Finds sbatch in PATH; throws naming what to do when it is missing.
void requireSbatch();
// Submits the array, the seam tasks' array (if any) after it, then one join per clip with
// --dependency=afterok on that clip's tasks. On any failure cancels what was submitted and
// throws with Slurm's own message.
SubmittedJobs submitToSlurm(const pipeline::FarmPlan& plan);
// Submits the seam tasks' array with --dependency=afterok on the chunk array (retry: on each
// chunk task, and only the seam tasks `tasks`).
std::string submitSeams(const pipeline::FarmPlan& plan, const std::string& arrayId, const std::vector<int>& tasks,
                        bool retry);
// Submits clip `clip`'s join with --dependency=afterok on its seam tasks, or its chunk
// tasks when it has no seams (the whole array when the plan has one clip and this is not a
// retry; a retry waits on its chunk tasks and on the seam tasks `seamTasks` of jobs.seams).
std::string submitJoin(const pipeline::FarmPlan& plan, const SubmittedJobs& jobs, std::size_t clip,
                       const std::vector<int>& seamTasks, bool retry);
void writeJobIds(const std::string& jobDir, const SubmittedJobs& jobs);
// Reads JOBDIR/jobs.txt; false when the folder was never submitted.
bool readJobIds(const std::string& jobDir, SubmittedJobs& jobs);

// What squeue says about a job's tasks: "<id>_<task>" or "<id>" -> "STATE REASON".
// Empty when squeue is missing or does not answer (`ok` false).
std::vector<std::pair<std::string, std::string>> squeueStates(const std::vector<std::string>& ids, bool& ok);

// Runs argv (no shell), returns the exit code and stdout+stderr together.
int runCaptured(const std::vector<std::string>& argv, std::string& output);

}  // namespace flowstyle::tools
