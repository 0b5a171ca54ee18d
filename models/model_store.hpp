#pragma once
// Finding, listing and installing weights.
#include <cstdint>
#include <string>
#include <vector>

namespace flowstyle::models {

// ArbitraryNetwork: any style image in one pass (models/arbitrary_network.hpp).
enum class ModelKind { LossNetwork, StyleNetwork, ArbitraryNetwork };

struct ModelEntry {
  std::string name;        // file stem, e.g. vgg19-caffe-conv1_1-conv5_1, wave
  ModelKind kind = ModelKind::LossNetwork;
  std::string arch;        // vgg19 | squeezenet1_1 | johnson_ml5 | microast | wct16x | magenta | multistyle26
  std::string preprocess;  // caffe_bgr | torchvision | rgb_0_255 | rgb_0_1
  std::vector<std::string> layers;  // loss networks: layers served
  std::uintmax_t bytes = 0;
  std::string path;
};

// Search order: an explicit path; then each folder in $FLOWSTYLE_MODELS (':'-separated);
// then the per-user cache ($XDG_CACHE_HOME/flowstyle/models, else ~/.cache/flowstyle/models).
std::vector<std::string> modelSearchDirs();
std::string userCacheDir();

// nameOrPath: an existing file/folder path, or a name: the file stem, or an
// architecture alias ("vgg19", "squeezenet") matched on metadata. Throws an error that
// lists every place it looked and the `flowstyle models install` command to run.
std::string resolveModel(const std::string& nameOrPath, ModelKind kind);

// The kind of the model at `path` (a file or ml5 folder as resolveModel returns it): from
// its header only. Asked for a StyleNetwork, resolveModel also returns arbitrary-style
// networks (both serve --model); this tells them apart.
ModelKind modelKindAt(const std::string& path);

// Every *.safetensors in the search folders (first of a name wins), read from headers only.
std::vector<ModelEntry> listModels();
// Same; files that cannot be read or are not a known model are skipped and described in
// `problems` ("PATH: fault") when it is not null.
std::vector<ModelEntry> listModels(std::vector<std::string>* problems);

// Copies .safetensors files (verified by loading: shapes, finite values), imports ml5
// checkpoint folders, MicroAST folders (the four *_iter_*.pth.tar, installed as `microast`),
// WCT-16x folders (encoders/ and decoders/ with five .pth each, as `wct16x`), Magenta's ONNX
// pair (a folder with arbitrary_predict.onnx and arbitrary_transform.onnx, as `magenta`) and
// the 26-style ONNX (as `multistyle26`), each import recording flowstyle.source_sha256
// ("file=sha256;..." of the files read), and recurses into folders holding any of these, into `destDir`
// (empty = userCacheDir()). Returns what was installed. Throws naming the bad file.
std::vector<ModelEntry> installModels(const std::vector<std::string>& paths,
                                      const std::string& destDir = {});

}  // namespace flowstyle::models
