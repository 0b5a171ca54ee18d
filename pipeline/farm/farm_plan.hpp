#pragma once
// Render-farm planning: a clip (or several) split into chunks, the exact command line of
// every chunk task and of each clip's join, and the plan as JSON so that any scheduler
// can run it. Pure functions (no files are read here except by parseFarmPlanJson's
// caller); writing scheduler scripts and submitting them belong in tools/.
//
// A chunk i owns the frames [first, last] (the clip's frames split evenly); its task runs
//   FLOWSTYLE video SOURCE --frames first-last --preroll K --overlap O --resume
//             [video options] --codec ffv1 --no-audio -o PART.mkv
// which stylizes first-K..last (clamped at 0) and writes first-O..last (clamped), and
// the join runs
//   FLOWSTYLE join PART_0 ... PART_n -o OUTPUT --source SOURCE [join options]
// With `--blend restyle` among the join options, each seam is restyled by a task of its own
// once the chunks are done,
//   FLOWSTYLE join PART_{i-1} PART_i --seam-part -o SEAM_i.mkv --blend restyle -- [video options]
// and the join takes the seam parts after the chunk parts (so restyling runs in parallel).
#include <cstdint>
#include <string>
#include <vector>

#include "pipeline/frame_range.hpp"

namespace flowstyle::pipeline {

inline constexpr int kFarmPlanVersion = 2;  // 2: seam tasks (join --blend restyle)

// One chunk's frames, 0-based frame numbers of the source.
struct ChunkRange {
  int index = 0;                  // within its clip
  FrameRange frames{0, 0};        // the frames this chunk owns
  std::int64_t stylizeFirst = 0;  // first - preroll, clamped at 0 (pre-roll: stylized, not written)
  std::int64_t writeFirst = 0;    // first - overlap, clamped at 0 (overlap: written by both neighbours)
  FrameRange stylized() const { return {stylizeFirst, frames.last}; }
  FrameRange written() const { return {writeFirst, frames.last}; }
};

// Splits frames [0, frameCount) into `chunks` ranges as even as possible (sizes differ by
// at most one, larger first), or, with chunks == 0, into ranges of `chunkFrames` (the last
// one shorter). Throws std::invalid_argument naming the option when: frameCount < 1; both
// or neither of chunks/chunkFrames given; chunks > frameCount ("--chunks 12: the clip has
// only 10 frames"); preroll or overlap negative; overlap > preroll (an overlap frame must be
// stylized with its pre-roll); overlap >= the shortest chunk (neighbouring overlaps would
// cross).
std::vector<ChunkRange> splitFrames(std::int64_t frameCount, std::int64_t chunks, std::int64_t chunkFrames,
                                    std::int64_t preroll, std::int64_t overlap);

// What a plan is made from. Paths should be absolute (tasks run on other nodes).
struct FarmClipInput {
  std::string source;              // the clip
  std::string output;              // the joined result
  std::int64_t frames = 0;         // frames in the clip (counted by decoding)
  std::uint64_t sourceBytes = 0;   // identity of the source when planned
  std::int64_t sourceMtimeNs = 0;
};

struct FarmRequest {
  std::vector<FarmClipInput> clips;
  std::int64_t chunks = 0;       // --chunks N (per clip) ...
  std::int64_t chunkFrames = 0;  // ... or --chunk-frames F
  std::int64_t preroll = 8;
  std::int64_t overlap = 4;
  std::string flowstyle;                 // the executable the tasks run
  std::string jobDir;                    // where the parts go: JOBDIR/parts/<clip>/chunk-NNN.mkv
  std::vector<std::string> videoArgs;    // passed to every chunk's `video` (method, style, ...)
  std::vector<std::string> joinArgs;     // passed to every `join` (codec, crf, preset, ...)
};

struct FarmChunk {
  ChunkRange range;
  int task = 0;                       // global task index (the Slurm array index)
  std::string part;                   // the chunk's lossless part
  std::vector<std::string> command;   // argv of the task
};

// One seam's restyle task (join --blend restyle): between chunk index-1 and chunk index.
struct FarmSeam {
  int index = 0;                      // the later chunk's index
  int task = 0;                       // global seam task index (the seams array's index)
  std::string part;                   // the seam part it writes
  std::vector<std::string> command;   // argv of the task
};

struct FarmClip {
  FarmClipInput input;
  std::vector<FarmChunk> chunks;
  std::vector<FarmSeam> seams;           // --blend restyle only
  std::vector<std::string> joinCommand;  // argv of the join
};

struct FarmPlan {
  int version = kFarmPlanVersion;
  FarmRequest request;          // what it was made from (clips copied into `clips`)
  std::vector<FarmClip> clips;  // tasks numbered 0.. over every clip's chunks, in order
  int taskCount() const;
  int seamTaskCount() const;    // seam tasks, numbered 0.. over every clip's seams
};

// The plan for every clip of the request (tasks numbered across clips). Throws
// std::invalid_argument as splitFrames does, naming the clip when there are several.
FarmPlan makeFarmPlan(const FarmRequest& request);

// The part of clip `clipIndex`'s chunk `chunk` under jobDir.
std::string farmPartPath(const std::string& jobDir, std::size_t clipIndex, const std::string& source, int chunk);
// The seam part of the seam before chunk `chunk` (parts/<clip>/seam-NNN.mkv).
std::string farmSeamPath(const std::string& jobDir, std::size_t clipIndex, const std::string& source, int chunk);

// The plan as one JSON object, written by nlohmann-json with a two-space indent, members in
// this order (one per line, every list item too):
// {"flowstyle_farm_plan": 2, "flowstyle": ..., "job_dir": ..., "chunks": N, "chunk_frames": F,
//  "preroll": K, "overlap": O, "video_args": [...], "join_args": [...], "tasks": T,
//  "clips": [{"source": ..., "output": ..., "frames": ..., "source_bytes": ..., "source_mtime_ns": ...,
//             "chunks": [{"index":0,"task":0,"first":0,"last":99,"stylize_first":0,"write_first":0,
//                         "part": ..., "command": [...]}, ...],
//             "seams": [{"index":1,"task":0,"part": ..., "command": [...]}, ...],
//             "join": [...]}], "seam_tasks": S}
// Throws std::runtime_error when a path or option is not UTF-8 (JSON cannot hold it).
std::string farmPlanJson(const FarmPlan& plan);

// Reads a plan written by farmPlanJson and checks it: the version, every field, and that
// the chunks and commands are exactly what makeFarmPlan makes from the recorded request
// (a plan edited by hand or from another version is an error). `path` names the file in
// messages. Throws std::runtime_error.
FarmPlan parseFarmPlanJson(const std::string& text, const std::string& path);

// POSIX shell quoting of one word / of a whole argv (words separated by spaces).
std::string shellQuote(const std::string& word);
std::string shellCommand(const std::vector<std::string>& argv);

}  // namespace flowstyle::pipeline
