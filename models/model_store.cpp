#include "models/model_store.hpp"

#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "models/arbitrary_network.hpp"
#include "models/fast_network.hpp"
#include "models/microast.hpp"
#include "models/magenta.hpp"
#include "models/multistyle.hpp"
#include "models/onnx_reader.hpp"
#include "models/sha256.hpp"
#include "models/safetensors.hpp"
#include "models/wct.hpp"

namespace flowstyle::models {
namespace {

namespace fs = std::filesystem;
using Shape = std::vector<std::int64_t>;

constexpr const char* kInstallHint =
    "install with: flowstyle models install /path/to/weights (or set FLOWSTYLE_MODELS)";
constexpr const char* kArchVgg19 = "vgg19";
constexpr const char* kArchSqueezenet = "squeezenet1_1";
constexpr const char* kArchJohnson = "johnson_ml5";
constexpr int kMaxRecursion = 8;

// --- Expected shapes of the loss networks' weights (OIHW) -------------------------

struct ConvSpec {
  std::string prefix;  // key prefix: "features.19", "fire4.expand3x3"
  std::string layer;   // the layer this conv feeds: relu4_1, fire4
  Shape weight;
};

const std::vector<ConvSpec>& vgg19Convs() {
  static const std::vector<ConvSpec> specs = [] {
    // torchvision features index, output relu name, out, in
    const struct { int index; const char* relu; int out, in; } table[] = {
        {0, "relu1_1", 64, 3},    {2, "relu1_2", 64, 64},   {5, "relu2_1", 128, 64},
        {7, "relu2_2", 128, 128}, {10, "relu3_1", 256, 128}, {12, "relu3_2", 256, 256},
        {14, "relu3_3", 256, 256}, {16, "relu3_4", 256, 256}, {19, "relu4_1", 512, 256},
        {21, "relu4_2", 512, 512}, {23, "relu4_3", 512, 512}, {25, "relu4_4", 512, 512},
        {28, "relu5_1", 512, 512}, {30, "relu5_2", 512, 512}, {32, "relu5_3", 512, 512},
        {34, "relu5_4", 512, 512},
    };
    std::vector<ConvSpec> v;
    for (const auto& t : table)
      v.push_back({"features." + std::to_string(t.index), t.relu, {t.out, t.in, 3, 3}});
    return v;
  }();
  return specs;
}

const std::vector<ConvSpec>& squeezenetConvs() {
  static const std::vector<ConvSpec> specs = [] {
    std::vector<ConvSpec> v;
    v.push_back({"conv1", "relu1", {64, 3, 3, 3}});
    // fire index, input channels, squeeze, expand (each of 1x1 and 3x3)
    const struct { int fire, in, squeeze, expand; } table[] = {
        {2, 64, 16, 64},   {3, 128, 16, 64},  {4, 128, 32, 128}, {5, 256, 32, 128},
        {6, 256, 48, 192}, {7, 384, 48, 192}, {8, 384, 64, 256}, {9, 512, 64, 256},
    };
    for (const auto& t : table) {
      const std::string fire = "fire" + std::to_string(t.fire);
      v.push_back({fire + ".squeeze1x1", fire, {t.squeeze, t.in, 1, 1}});
      v.push_back({fire + ".expand1x1", fire, {t.expand, t.squeeze, 1, 1}});
      v.push_back({fire + ".expand3x3", fire, {t.expand, t.squeeze, 3, 3}});
    }
    return v;
  }();
  return specs;
}

const std::vector<ConvSpec>* convsFor(const std::string& arch) {
  if (arch.rfind(kArchVgg19, 0) == 0) return &vgg19Convs();
  if (arch.rfind("squeezenet", 0) == 0) return &squeezenetConvs();
  return nullptr;
}

std::string shapeText(const Shape& s) {
  std::string t = "[";
  for (std::size_t i = 0; i < s.size(); ++i) t += (i ? "," : "") + std::to_string(s[i]);
  return t + "]";
}

// --- Describing a file from its header ----------------------------------------

std::optional<std::string> get(const std::map<std::string, std::string>& m, const std::string& key) {
  auto it = m.find(key);
  if (it == m.end() || it->second.empty()) return std::nullopt;
  return it->second;
}

// Architecture from metadata, else from the key names; empty when unrecognized.
std::string inferArch(const std::map<std::string, std::string>& metadata,
                      const std::map<std::string, Shape>& shapes) {
  if (auto arch = get(metadata, "flowstyle.arch")) return *arch;
  if (shapes.count("features.0.weight")) return kArchVgg19;
  if (shapes.count("conv1.weight") && shapes.count("fire2.squeeze1x1.weight")) return kArchSqueezenet;
  return {};
}

std::optional<ModelKind> kindOfArch(const std::string& arch) {
  if (convsFor(arch)) return ModelKind::LossNetwork;
  if (arch == kArchJohnson) return ModelKind::StyleNetwork;
  if (arch == "microast" || arch == "wct16x" || arch == "magenta" || arch == "multistyle26")
    return ModelKind::ArbitraryNetwork;
  return std::nullopt;
}

const char* kindText(ModelKind k) {
  switch (k) {
    case ModelKind::LossNetwork: return "loss network";
    case ModelKind::StyleNetwork: return "style network";
    case ModelKind::ArbitraryNetwork: return "arbitrary-style network";
  }
  return "model";
}

struct Described {
  ModelEntry entry;
  std::map<std::string, std::string> metadata;
};

// Throws "PATH: ..." for an unreadable header or an unrecognized architecture.
Described describe(const fs::path& path) {
  const std::string p = path.string();
  Described d;
  d.metadata = readSafetensorsMetadata(p);
  const auto shapes = readSafetensorsShapes(p);
  ModelEntry& e = d.entry;
  e.name = path.stem().string();
  e.path = p;
  std::error_code ec;
  e.bytes = fs::file_size(path, ec);
  e.arch = inferArch(d.metadata, shapes);
  const auto kind = kindOfArch(e.arch);
  if (!kind)
    throw std::runtime_error(
        p + ": not a recognized model (" +
        (e.arch.empty() ? std::string("no flowstyle.arch metadata and no known weight names")
                        : "unknown flowstyle.arch '" + e.arch + "'") +
        "; expected vgg19, squeezenet1_1, johnson_ml5, microast, wct16x, magenta or multistyle26)");
  e.kind = *kind;
  e.preprocess = get(d.metadata, "flowstyle.preprocess")
                     .value_or(e.kind == ModelKind::LossNetwork    ? "torchvision"
                               : e.kind == ModelKind::StyleNetwork ? "rgb_0_255"
                                                                   : "rgb_0_1");
  if (const auto* convs = convsFor(e.arch)) {
    for (const auto& c : *convs) {
      if (!shapes.count(c.prefix + ".weight")) continue;
      if (std::find(e.layers.begin(), e.layers.end(), c.layer) == e.layers.end())
        e.layers.push_back(c.layer);
    }
  }
  return d;
}

// --- Search folders ------------------------------------------------------------

std::string envOr(const char* name) {
  const char* v = std::getenv(name);
  return v ? std::string(v) : std::string();
}

bool isSafetensors(const fs::path& p) { return p.extension() == ".safetensors"; }

bool isMl5Folder(const fs::path& p) {
  std::error_code ec;
  return fs::is_directory(p, ec) && fs::is_regular_file(p / "manifest.json", ec);
}

// Every *.safetensors file in the search dirs, deduplicated by stem (first wins);
// within one folder in name order. Unreadable files go to `problems`.
std::vector<Described> scan(std::vector<std::string>* problems) {
  std::vector<Described> out;
  std::map<std::string, bool> seen;
  for (const std::string& dir : modelSearchDirs()) {
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) continue;
    std::vector<fs::path> files;
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
      std::error_code ec2;
      if (isSafetensors(it->path()) && fs::is_regular_file(it->path(), ec2)) files.push_back(it->path());
    }
    std::sort(files.begin(), files.end());
    for (const fs::path& f : files) {
      const std::string stem = f.stem().string();
      if (seen.count(stem)) continue;
      try {
        out.push_back(describe(f));
        seen[stem] = true;
      } catch (const std::exception& e) {
        if (problems) problems->push_back(e.what());
      }
    }
  }
  return out;
}

// Where a style network is asked for, an arbitrary-style network serves too (--model).
bool serves(ModelKind found, ModelKind wanted) {
  return found == wanted || (wanted == ModelKind::StyleNetwork && found == ModelKind::ArbitraryNetwork);
}

void checkKind(const std::string& what, const std::string& path, ModelKind found, ModelKind wanted) {
  if (!serves(found, wanted))
    throw std::runtime_error(path + ": '" + what + "' is a " + kindText(found) + ", but a " +
                             kindText(wanted) + " is needed here");
}

// --- Installing ------------------------------------------------------------------

void verifyTensors(const std::string& path, const TensorFile& file, const std::string& arch) {
  for (const auto& [name, t] : file.tensors) {
    if (!t.is_floating_point()) continue;
    const torch::Tensor bad = ~torch::isfinite(t);
    const std::int64_t count = bad.sum().item<std::int64_t>();
    if (count > 0) {
      const bool nan = torch::isnan(t).any().item<bool>();
      throw std::runtime_error(path + ": tensor '" + name + "' has " + std::to_string(count) +
                               " non-finite values (" + (nan ? "NaN" : "Inf") +
                               ") — corrupt or badly converted weights");
    }
  }
  const auto* convs = convsFor(arch);
  if (!convs) return;
  bool any = false;
  for (const ConvSpec& c : *convs) {
    auto w = file.tensors.find(c.prefix + ".weight");
    auto b = file.tensors.find(c.prefix + ".bias");
    if (w == file.tensors.end() && b == file.tensors.end()) continue;
    any = true;
    if (w == file.tensors.end())
      throw std::runtime_error(path + ": '" + c.prefix + ".bias' present but '" + c.prefix +
                               ".weight' missing (expected shape " + shapeText(c.weight) + ")");
    if (b == file.tensors.end())
      throw std::runtime_error(path + ": '" + c.prefix + ".weight' present but '" + c.prefix +
                               ".bias' missing (expected shape [" + std::to_string(c.weight[0]) + "])");
    const Shape ws(w->second.sizes().begin(), w->second.sizes().end());
    if (ws != c.weight)
      throw std::runtime_error(path + ": '" + w->first + "' has shape " + shapeText(ws) + ", expected " +
                               shapeText(c.weight) + " for " + arch);
    const Shape bs(b->second.sizes().begin(), b->second.sizes().end());
    if (bs != Shape{c.weight[0]})
      throw std::runtime_error(path + ": '" + b->first + "' has shape " + shapeText(bs) + ", expected [" +
                               std::to_string(c.weight[0]) + "] for " + arch);
  }
  if (!any || !file.tensors.count(convs->front().prefix + ".weight"))
    throw std::runtime_error(path + ": " + arch + " file lacks its first convolution '" +
                             convs->front().prefix + ".weight'");
}

fs::path tempNameIn(const fs::path& dir, const std::string& name) {
  static std::atomic<unsigned> counter{0};
  return dir / ("." + name + ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
}

ModelEntry installFile(const fs::path& src, const fs::path& destDir) {
  const std::string p = src.string();
  const TensorFile file = readSafetensors(p);  // validates the container
  std::map<std::string, Shape> shapes;
  for (const auto& [k, t] : file.tensors) shapes[k] = Shape(t.sizes().begin(), t.sizes().end());
  const std::string arch = inferArch(file.metadata, shapes);
  if (!kindOfArch(arch)) describe(src);  // throws the "not a recognized model" error
  verifyTensors(p, file, arch);
  if (kindOfArch(arch) == ModelKind::ArbitraryNetwork) (void)loadArbitraryNetwork(p, "cpu");  // shapes

  const fs::path dest = destDir / src.filename();
  std::error_code ec;
  if (!fs::equivalent(src, dest, ec)) {
    const fs::path tmp = tempNameIn(destDir, src.filename().string());
    fs::copy_file(src, tmp, fs::copy_options::overwrite_existing, ec);
    if (!ec) fs::permissions(tmp, fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read |
                                      fs::perms::others_read, ec);
    if (!ec) fs::rename(tmp, dest, ec);
    if (ec) {
      std::error_code ignored;
      fs::remove(tmp, ignored);
      throw std::runtime_error(dest.string() + ": cannot install " + p + " (" + ec.message() + ")");
    }
  }
  return describe(dest).entry;
}

ModelEntry installMl5(const fs::path& folder, const fs::path& destDir) {
  fs::path norm = folder.lexically_normal();
  if (norm.filename().empty()) norm = norm.parent_path();
  std::string name = norm.filename().string();
  if (name.empty() || name == "." || name == "..") name = fs::absolute(norm).lexically_normal().filename().string();
  TensorFile file = importMl5Checkpoint(folder.string());
  file.metadata.emplace("flowstyle.arch", kArchJohnson);
  file.metadata.emplace("flowstyle.name", name);
  file.metadata.emplace("flowstyle.preprocess", "rgb_0_255");
  verifyTensors(folder.string(), file, kArchJohnson);
  const fs::path dest = destDir / (name + ".safetensors");
  writeSafetensors(dest.string(), file);
  return describe(dest).entry;
}

// --- Arbitrary-style networks as their authors publish them (issue 23) ----------------

// The four state_dicts of github EndyWon/MicroAST's models/ folder.
bool isMicroAstFolder(const fs::path& p) {
  std::error_code ec;
  if (!fs::is_directory(p, ec)) return false;
  int found = 0;
  for (const char* part : {"content_encoder_", "style_encoder_", "modulator_", "decoder_"}) {
    for (fs::directory_iterator it(p, ec), end; !ec && it != end; it.increment(ec)) {
      const std::string n = it->path().filename().string();
      if (n.rfind(part, 0) == 0 && n.find(".pth") != std::string::npos) {
        ++found;
        break;
      }
    }
  }
  return found == 4;
}

// Collaborative-Distillation's 16x WCT: encoders/ and decoders/ with .pth files.
bool isWct16xFolder(const fs::path& p) {
  std::error_code ec;
  return fs::is_directory(p / "encoders", ec) && fs::is_directory(p / "decoders", ec);
}

// "relative/path=sha256;..." of every regular file under `folder` that ends in .pth or .pth.tar.
std::string sourceChecksums(const fs::path& folder) {
  std::vector<fs::path> files;
  for (const auto& e : fs::recursive_directory_iterator(folder)) {
    const std::string n = e.path().filename().string();
    if (e.is_regular_file() && (n.size() > 4 && (n.compare(n.size() - 4, 4, ".pth") == 0 ||
                                                 n.find(".pth.tar") != std::string::npos)))
      files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  std::string out;
  for (const fs::path& f : files)
    out += (out.empty() ? "" : ";") + f.lexically_relative(folder).generic_string() + "=" + sha256File(f.string());
  return out;
}

ModelEntry installArbitrary(const fs::path& folder, const fs::path& destDir, const std::string& name,
                            TensorFile file) {
  file.metadata["flowstyle.name"] = name;
  file.metadata["flowstyle.source_sha256"] = sourceChecksums(folder);
  verifyTensors(folder.string(), file, file.metadata.at("flowstyle.arch"));
  const fs::path dest = destDir / (name + ".safetensors");
  writeSafetensors(dest.string(), file);
  (void)loadArbitraryNetwork(dest.string(), "cpu");  // every shape, as a user will load it
  return describe(dest).entry;
}

// --- Installing ONNX models (issue 23): Magenta's pair, the 26-style network ---------

constexpr const char* kArchMagenta = "magenta";
constexpr const char* kMagentaPredict = "arbitrary_predict.onnx";
constexpr const char* kMagentaTransform = "arbitrary_transform.onnx";

constexpr const char* kArchMultistyle = "multistyle26";

bool isMagentaFolder(const fs::path& p) {
  std::error_code ec;
  return fs::is_directory(p, ec) && fs::is_regular_file(p / kMagentaPredict, ec) &&
         fs::is_regular_file(p / kMagentaTransform, ec);
}

ModelEntry writeImported(TensorFile file, const std::string& name, const std::string& source,
                         const std::vector<fs::path>& sources, const fs::path& destDir) {
  std::string sums;
  for (const fs::path& f : sources)
    sums += (sums.empty() ? "" : ";") + f.filename().string() + "=" + sha256File(f.string());
  file.metadata["flowstyle.name"] = name;
  file.metadata["flowstyle.source_sha256"] = sums;
  verifyTensors(source, file, file.metadata["flowstyle.arch"]);
  const fs::path dest = destDir / (name + ".safetensors");
  writeSafetensors(dest.string(), file);
  return describe(dest).entry;
}

ModelEntry installMagenta(const fs::path& folder, const fs::path& destDir) {
  const fs::path predict = folder / kMagentaPredict, transform = folder / kMagentaTransform;
  return writeImported(importMagenta(predict.string(), transform.string()), kArchMagenta, folder.string(),
                       {predict, transform}, destDir);
}

// A lone .onnx file: the 26-style network; Magenta's halves are installed as their folder.
// Returns nothing for a file that is not .onnx (or, found while recursing, one of Magenta's).
std::optional<ModelEntry> installOnnxFile(const fs::path& path, const fs::path& destDir, bool explicitPath) {
  if (path.extension() != ".onnx") return std::nullopt;
  const std::string file = path.filename().string();
  if (file == kMagentaPredict || file == kMagentaTransform) {
    if (!explicitPath) return std::nullopt;
    throw std::runtime_error(path.string() + ": one half of Magenta's network; install the folder holding " +
                             kMagentaPredict + " and " + kMagentaTransform);
  }
  if (isMultistyle26Onnx(path.string()))
    return writeImported(importMultistyle26(path.string()), kArchMultistyle, path.string(), {path}, destDir);
  if (!explicitPath) return std::nullopt;
  throw std::runtime_error(path.string() + ": not a known ONNX model (expected Magenta's " + kMagentaPredict +
                           " + " + kMagentaTransform + " folder, or the 26-style network)");
}

void installInto(const fs::path& path, const fs::path& destDir, int depth, bool explicitPath,
                 std::vector<ModelEntry>& out) {
  std::error_code ec;
  const fs::file_status st = fs::status(path, ec);
  if (!fs::exists(st)) {
    if (explicitPath) throw std::runtime_error(path.string() + ": no such file or folder");
    return;
  }
  if (fs::is_regular_file(st)) {
    if (isSafetensors(path)) {
      out.push_back(installFile(path, destDir));
    } else if (auto onnx = installOnnxFile(path, destDir, explicitPath)) {
      out.push_back(*onnx);
    } else if (explicitPath) {
      throw std::runtime_error(path.string() +
                               ": not a model (expected a .safetensors file, an ml5 checkpoint "
                               "folder with manifest.json, a MicroAST or WCT-16x folder, or a "
                               "folder holding them)");
    }
    return;
  }
  if (!fs::is_directory(st)) {
    if (explicitPath) throw std::runtime_error(path.string() + ": not a file or folder");
    return;
  }
  if (isMl5Folder(path)) {
    out.push_back(installMl5(path, destDir));
    return;
  }
  if (isMicroAstFolder(path)) {
    out.push_back(installArbitrary(path, destDir, "microast", importMicroAst(path.string())));
    return;
  }
  if (isWct16xFolder(path)) {
    out.push_back(installArbitrary(path, destDir, "wct16x", importWct16x(path.string())));
    return;
  }
  if (isMagentaFolder(path)) {
    out.push_back(installMagenta(path, destDir));
    return;
  }
  if (depth >= kMaxRecursion) return;
  std::vector<fs::path> entries;
  for (fs::directory_iterator it(path, ec), end; !ec && it != end; it.increment(ec))
    entries.push_back(it->path());
  if (ec) throw std::runtime_error(path.string() + ": cannot list the folder (" + ec.message() + ")");
  std::sort(entries.begin(), entries.end());
  const std::size_t before = out.size();
  for (const fs::path& e : entries) installInto(e, destDir, depth + 1, false, out);
  if (explicitPath && out.size() == before)
    throw std::runtime_error(path.string() +
                             ": no models found (no *.safetensors files and no ml5 folders with "
                             "manifest.json)");
}

}  // namespace

std::string userCacheDir() {
  const std::string xdg = envOr("XDG_CACHE_HOME");
  // The XDG spec says relative values are invalid and must be ignored.
  if (!xdg.empty() && xdg.front() == '/') return (fs::path(xdg) / "flowstyle" / "models").string();
  std::string home = envOr("HOME");
  if (home.empty()) {
    if (const passwd* pw = ::getpwuid(::getuid()); pw && pw->pw_dir) home = pw->pw_dir;
  }
  if (home.empty())
    throw std::runtime_error("cannot find the per-user model cache: neither XDG_CACHE_HOME nor HOME is set");
  return (fs::path(home) / ".cache" / "flowstyle" / "models").string();
}

std::vector<std::string> modelSearchDirs() {
  std::vector<std::string> dirs;
  auto add = [&](const std::string& d) {
    if (!d.empty() && std::find(dirs.begin(), dirs.end(), d) == dirs.end()) dirs.push_back(d);
  };
  const std::string env = envOr("FLOWSTYLE_MODELS");
  std::size_t start = 0;
  while (start <= env.size()) {
    const std::size_t colon = env.find(':', start);
    const std::size_t end = colon == std::string::npos ? env.size() : colon;
    add(env.substr(start, end - start));
    if (colon == std::string::npos) break;
    start = colon + 1;
  }
  add(userCacheDir());
  return dirs;
}

std::string resolveModel(const std::string& nameOrPath, ModelKind kind) {
  if (nameOrPath.empty()) throw std::runtime_error(std::string("empty model name; ") + kInstallHint);
  std::error_code ec;
  // 1. An existing path wins.
  if (fs::exists(nameOrPath, ec)) {
    if (fs::is_directory(nameOrPath, ec)) {
      if (!isMl5Folder(nameOrPath))
        throw std::runtime_error(nameOrPath +
                                 ": is a folder but not an ml5 checkpoint (no manifest.json); "
                                 "give a .safetensors file or a model name");
      checkKind(nameOrPath, nameOrPath, ModelKind::StyleNetwork, kind);
      return nameOrPath;
    }
    checkKind(nameOrPath, nameOrPath, describe(nameOrPath).entry.kind, kind);
    return nameOrPath;
  }
  if (nameOrPath.find('/') != std::string::npos)
    throw std::runtime_error(nameOrPath + ": no such file or folder");

  std::string name = nameOrPath;
  if (isSafetensors(name)) name = fs::path(name).stem().string();
  const std::vector<std::string> dirs = modelSearchDirs();

  // 2. <dir>/<name>.safetensors (or an ml5 folder <dir>/<name> for style networks).
  for (const std::string& dir : dirs) {
    const fs::path file = fs::path(dir) / (name + ".safetensors");
    if (fs::is_regular_file(file, ec)) {
      checkKind(name, file.string(), describe(file).entry.kind, kind);
      return file.string();
    }
    if (kind == ModelKind::StyleNetwork && isMl5Folder(fs::path(dir) / name))
      return (fs::path(dir) / name).string();
  }

  // 3. Aliases matched on metadata: architecture for loss networks, name for style networks.
  for (const Described& d : scan(nullptr)) {
    if (!serves(d.entry.kind, kind)) continue;
    if (kind == ModelKind::LossNetwork) {
      std::string alias = name;
      std::transform(alias.begin(), alias.end(), alias.begin(),
                     [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
      if (d.entry.arch.rfind(alias, 0) == 0) return d.entry.path;
    } else if (get(d.metadata, "flowstyle.name").value_or("") == name) {
      return d.entry.path;
    }
  }

  std::string looked;
  for (const std::string& dir : dirs) {
    looked += "\n  " + dir;
    if (!fs::is_directory(dir, ec)) looked += " (does not exist)";
  }
  throw std::runtime_error(
      name + ": no " + kindText(kind) + " named '" + name + "' (looked for " + name +
      ".safetensors" +
      (kind == ModelKind::LossNetwork ? std::string(" and a loss network whose architecture is '") + name + "'"
                                      : std::string(" and a style network whose flowstyle.name is '") + name + "'") +
      ") in:" + looked + "\n" + kInstallHint);
}

ModelKind modelKindAt(const std::string& path) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    if (isMl5Folder(path)) return ModelKind::StyleNetwork;
    throw std::runtime_error(path + ": is a folder but not an ml5 checkpoint (no manifest.json)");
  }
  return describe(path).entry.kind;
}

std::vector<ModelEntry> listModels() {
  std::vector<ModelEntry> out;
  for (Described& d : scan(nullptr)) out.push_back(std::move(d.entry));
  return out;
}

std::vector<ModelEntry> listModels(std::vector<std::string>* problems) {
  std::vector<ModelEntry> out;
  for (Described& d : scan(problems)) out.push_back(std::move(d.entry));
  return out;
}

std::vector<ModelEntry> installModels(const std::vector<std::string>& paths, const std::string& destDir) {
  const fs::path dest = destDir.empty() ? fs::path(userCacheDir()) : fs::path(destDir);
  std::error_code ec;
  fs::create_directories(dest, ec);
  if (ec || !fs::is_directory(dest))
    throw std::runtime_error(dest.string() + ": cannot create the model folder (" + ec.message() + ")");
  std::vector<ModelEntry> out;
  for (const std::string& p : paths) installInto(p, dest, 0, true, out);
  return out;
}

}  // namespace flowstyle::models
