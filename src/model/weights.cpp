#include "model/weights.h"

#include <cstring>
#include <set>

#include "io/half_float.h"
#include "util/error.h"

namespace privprobe {
namespace {

bool starts_with(const std::string& s, const std::string& prefix) { return s.compare(0, prefix.size(), prefix) == 0; }

std::string shape_string(at::IntArrayRef shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

Dtype to_file_dtype(torch::Dtype dtype) {
  switch (dtype) {
    case torch::kFloat32: return Dtype::F32;
    case torch::kFloat16: return Dtype::F16;
    case torch::kBFloat16: return Dtype::BF16;
    case torch::kInt64: return Dtype::I64;
    case torch::kInt32: return Dtype::I32;
    case torch::kUInt8: return Dtype::U8;
    case torch::kBool: return Dtype::BOOL;
    default: throw ConfigError("unsupported dtype for safetensors output");
  }
}

}  // namespace

std::string canonical_weight_name(const std::string& name) {
  static const std::vector<std::pair<std::string, std::string>> kRenames = {
      {"model.language_model.", "language_model.model."},
      {"model.vision_tower.", "vision_tower."},
      {"model.multi_modal_projector.", "multi_modal_projector."},
  };
  for (const auto& [from, to] : kRenames) {
    if (starts_with(name, from)) return to + name.substr(from.size());
  }
  if (name == "lm_head.weight") return "language_model.lm_head.weight";
  return name;
}

torch::Tensor tensor_from_safetensors(const TensorRef& ref, torch::Dtype dtype) {
  const TensorInfo& info = *ref.info;
  const ByteView bytes = ref.data();
  std::vector<int64_t> shape(info.shape.begin(), info.shape.end());
  torch::Dtype source;
  switch (info.dtype) {
    case Dtype::F32: source = torch::kFloat32; break;
    case Dtype::F16: source = torch::kFloat16; break;
    case Dtype::BF16: source = torch::kBFloat16; break;
    case Dtype::F64: source = torch::kFloat64; break;
    case Dtype::I64: source = torch::kInt64; break;
    case Dtype::I32: source = torch::kInt32; break;
    case Dtype::I16: source = torch::kInt16; break;
    case Dtype::I8: source = torch::kInt8; break;
    case Dtype::U8: source = torch::kUInt8; break;
    case Dtype::BOOL: source = torch::kBool; break;
    default:
      throw FormatError(error_message(ref.file->path().string(), "tensor '" + info.name + "' has dtype " +
                                                                     std::string(dtype_name(info.dtype)) + ", which privprobe cannot load"));
  }
  // Copy out of the mapping (which may be unaligned and is read-only) before converting.
  auto out = torch::empty(shape, torch::TensorOptions().dtype(source));
  if (bytes.size) std::memcpy(out.data_ptr(), bytes.data, bytes.size);
  return out.to(dtype);
}

LoadReport load_weights(torch::nn::Module& module, const ShardedSafetensors& weights,
                        const std::vector<std::string>& optional_prefixes) {
  const std::string where = weights.source().string();
  std::map<std::string, std::string> by_canonical;  // canonical name -> file name
  for (const auto& name : weights.names()) {
    const std::string canonical = canonical_weight_name(name);
    if (by_canonical.count(canonical)) {
      throw FormatError(error_message(where, "tensor '" + name + "' and '" + by_canonical[canonical] +
                                                 "' are the same weight in two naming layouts"));
    }
    by_canonical[canonical] = name;
  }
  LoadReport report;
  std::set<std::string> used;
  torch::NoGradGuard no_grad;
  for (auto& item : module.named_parameters(/*recurse=*/true)) {
    const std::string& name = item.key();
    torch::Tensor& param = item.value();
    auto it = by_canonical.find(name);
    if (it == by_canonical.end()) {
      bool optional = false;
      for (const auto& prefix : optional_prefixes) optional |= starts_with(name, prefix);
      if (optional) continue;
      throw FormatError(error_message(where, "tensor '" + name + "' is missing",
                                      "the checkpoint does not match the model's config.json"));
    }
    const TensorRef ref = weights.at(it->second);
    const Dtype file_dtype = ref.info->dtype;
    if (param.is_floating_point() && file_dtype != Dtype::F32 && file_dtype != Dtype::F16 && file_dtype != Dtype::BF16) {
      throw FormatError(error_message(ref.file->path().string(),
                                      "tensor '" + it->second + "' has dtype " + std::string(dtype_name(file_dtype)) +
                                          "; model weights must be F32, F16 or BF16",
                                      "quantised checkpoints (int8, GPTQ, AWQ) are not supported; use the F16/BF16 original"));
    }
    std::vector<int64_t> file_shape(ref.info->shape.begin(), ref.info->shape.end());
    if (at::IntArrayRef(file_shape) != param.sizes()) {
      throw FormatError(error_message(ref.file->path().string(), "tensor '" + it->second + "' has shape " +
                                                                     shape_string(file_shape) + " but the config implies " +
                                                                     shape_string(param.sizes())));
    }
    const ByteView bytes = ref.data();
    if (param.is_floating_point() && is_aligned(bytes, file_dtype) && param.numel() > 0) {
      // Read in place: copy_ only reads the mapping and converts on the way, so no temporary
      // (whose freed blocks would fragment the heap and raise the peak) is made.
      const torch::Dtype source = file_dtype == Dtype::F32 ? torch::kFloat32
                                  : file_dtype == Dtype::F16 ? torch::kFloat16
                                                             : torch::kBFloat16;
      param.copy_(torch::from_blob(const_cast<std::uint8_t*>(bytes.data), file_shape, torch::TensorOptions().dtype(source)));
    } else {
      param.copy_(tensor_from_safetensors(ref, param.scalar_type()));
    }
    // The copied bytes leave this process's resident set (they stay in the page cache), so a
    // model loads in about its own size rather than its size plus the file's.
    ref.file->mapping()->release_pages(bytes.data, bytes.size);
    used.insert(it->first);
    ++report.loaded;
  }
  for (const auto& [canonical, name] : by_canonical) {
    if (!used.count(canonical)) report.unexpected.push_back(name);
  }
  return report;
}

std::vector<std::pair<std::string, torch::Tensor>> named_tensors(const torch::nn::Module& module) {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (const auto& item : module.named_parameters(/*recurse=*/true)) out.emplace_back(item.key(), item.value());
  return out;
}

void save_weights(const std::filesystem::path& folder, const std::vector<std::pair<std::string, torch::Tensor>>& tensors,
                  std::optional<torch::Dtype> dtype, std::uint64_t max_shard_bytes, const SafetensorsMetadata& metadata) {
  std::vector<torch::Tensor> keep;  // contiguous CPU copies, alive until written
  std::vector<TensorToWrite> to_write;
  keep.reserve(tensors.size());
  for (const auto& [name, tensor] : tensors) {
    auto t = tensor.detach().to(torch::kCPU, tensor.is_floating_point() ? dtype.value_or(tensor.scalar_type()) : tensor.scalar_type())
                 .contiguous();
    keep.push_back(t);
    TensorToWrite w;
    w.name = name;
    w.dtype = to_file_dtype(t.scalar_type());
    w.shape.assign(t.sizes().begin(), t.sizes().end());
    w.data = t.data_ptr();
    w.size = static_cast<std::size_t>(t.numel()) * t.element_size();
    to_write.push_back(std::move(w));
  }
  write_sharded_safetensors(folder, to_write, max_shard_bytes, metadata);
}

}  // namespace privprobe
