#include "models/module_weights.hpp"

#include <stdexcept>

namespace flowstyle::models {

std::string shapeString(torch::IntArrayRef shape) {
  std::string out = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) out += (i ? "," : "") + std::to_string(shape[i]);
  return out + "]";
}

void loadParameters(torch::nn::Module& module, const TensorFile& file, const std::string& origin) {
  torch::NoGradGuard noGrad;
  const auto params = module.named_parameters();
  for (auto& p : params) {
    const auto it = file.tensors.find(p.key());
    if (it == file.tensors.end()) throw std::runtime_error(origin + ": '" + p.key() + "' is missing");
    if (it->second.sizes() != p.value().sizes())
      throw std::runtime_error(origin + ": '" + p.key() + "' has shape " + shapeString(it->second.sizes()) +
                               ", expected " + shapeString(p.value().sizes()));
    p.value().copy_(it->second.to(torch::kFloat));
  }
  for (const auto& [k, t] : file.tensors)
    if (!params.contains(k)) throw std::runtime_error(origin + ": unexpected key '" + k + "'");
}

void checkWeight(const std::string& path, const std::string& key, const torch::Tensor& t, torch::IntArrayRef want) {
  if (t.sizes() != want)
    throw std::runtime_error(path + ": '" + key + "' has shape " + shapeString(t.sizes()) + ", expected " +
                             shapeString(want));
  if (t.scalar_type() != torch::kFloat) throw std::runtime_error(path + ": '" + key + "' is not floating point");
}

void checkNoneMissing(const std::string& path, const std::string& prefix,
                      const torch::OrderedDict<std::string, torch::Tensor>& params, const TensorFile& file) {
  for (const auto& p : params)
    if (p.key().rfind(prefix, 0) == 0 && !file.tensors.count(p.key().substr(prefix.size())))
      throw std::runtime_error(path + ": '" + p.key().substr(prefix.size()) + "' is missing");
}

}  // namespace flowstyle::models
