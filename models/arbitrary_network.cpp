#include "models/arbitrary_network.hpp"

#include <stdexcept>

#include "models/device.hpp"
#include "models/microast.hpp"
#include "models/wct.hpp"
#include "models/magenta.hpp"
#include "models/multistyle.hpp"

namespace flowstyle::models {

void ArbitraryStyleNetwork::setTile(int side) {
  if (side > 0) throw std::invalid_argument(arch() + ": this network cannot run in tiles yet");
}

std::unique_ptr<ArbitraryStyleNetwork> loadArbitraryNetwork(const std::string& path,
                                                            const std::string& device) {
  const TensorFile file = readSafetensors(path);
  const auto it = file.metadata.find("flowstyle.arch");
  const std::string arch = it == file.metadata.end() ? std::string() : it->second;
  const torch::Device dev = resolveDevice(device);
  // One line per network: if (arch == "microast") return makeMicroAst(file, dev); ...
  if (arch == "microast") return makeMicroAst(file, path, dev);
  if (arch == "wct16x") return makeWct16x(file, path, dev);
  if (arch == "magenta") return makeMagenta(file, path, dev);
  if (arch == "multistyle26") return makeMultistyle26(file, path, dev);
  throw std::runtime_error(path + ": not an arbitrary-style network (flowstyle.arch = '" + arch +
                           "'; expected microast, magenta, wct16x or multistyle26)");
}

}  // namespace flowstyle::models
