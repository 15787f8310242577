#include "model/capture.h"

#include "util/error.h"

namespace privprobe {

CapturePosition CapturePosition::parse(const std::string& text) {
  CapturePosition p;
  if (text == "last") return p;
  if (text == "image-mean") { p.kind = Kind::kImageMean; return p; }
  if (text == "all-mean") { p.kind = Kind::kAllMean; return p; }
  if (text.rfind("index:", 0) == 0) {
    p.kind = Kind::kIndex;
    try {
      std::size_t used = 0;
      p.index = std::stoi(text.substr(6), &used);
      if (used != text.size() - 6) throw std::invalid_argument("trailing");
    } catch (const std::exception&) {
      throw ConfigError("--position '" + text + "': index:K needs an integer K");
    }
    return p;
  }
  throw ConfigError("--position '" + text + "' is not one of last, image-mean, all-mean, index:K");
}

std::string CapturePosition::to_string() const {
  switch (kind) {
    case Kind::kLast: return "last";
    case Kind::kImageMean: return "image-mean";
    case Kind::kAllMean: return "all-mean";
    case Kind::kIndex: return "index:" + std::to_string(index);
  }
  return "last";
}

torch::Tensor capture_weights(const CapturePosition& position, const torch::Tensor& input_ids,
                              const torch::Tensor& attention_mask, const std::vector<int64_t>& prompt_lengths,
                              int64_t image_token_id) {
  const int64_t b = input_ids.size(0), t = input_ids.size(1);
  auto ids = input_ids.to(torch::kCPU);
  auto mask = attention_mask.to(torch::kCPU, torch::kInt64);
  auto weights = torch::zeros({b, t}, torch::kFloat32);
  for (int64_t row = 0; row < b; ++row) {
    // Real tokens of this row, in order (padding may be on either side).
    std::vector<int64_t> real;
    for (int64_t j = 0; j < t; ++j) {
      if (mask[row][j].item<int64_t>()) real.push_back(j);
    }
    const auto n_real = static_cast<int64_t>(real.size());
    auto pick = [&](int64_t k) {
      if (k < 0) k += n_real;
      if (k < 0 || k >= n_real) {
        throw DataError("capture position " + position.to_string() + " is outside row " + std::to_string(row) + " (" +
                        std::to_string(n_real) + " tokens)");
      }
      weights[row][real[static_cast<std::size_t>(k)]] = 1.0f;
    };
    switch (position.kind) {
      case CapturePosition::Kind::kLast:
        pick(prompt_lengths.at(static_cast<std::size_t>(row)) - 1);
        break;
      case CapturePosition::Kind::kIndex:
        pick(position.index);
        break;
      case CapturePosition::Kind::kAllMean:
        for (int64_t j : real) weights[row][j] = 1.0f / static_cast<float>(n_real);
        break;
      case CapturePosition::Kind::kImageMean: {
        std::vector<int64_t> image;
        for (int64_t j : real) {
          if (ids[row][j].item<int64_t>() == image_token_id) image.push_back(j);
        }
        if (image.empty()) throw DataError("capture position image-mean: row " + std::to_string(row) + " has no image tokens");
        for (int64_t j : image) weights[row][j] = 1.0f / static_cast<float>(image.size());
        break;
      }
    }
  }
  return weights.to(input_ids.device());
}

}  // namespace privprobe
