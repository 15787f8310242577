#include "model/parameter_init.h"

namespace privprobe {
namespace {
thread_local bool init_enabled = true;
}  // namespace

bool parameter_init_enabled() { return init_enabled; }

torch::nn::EmbeddingOptions embedding_options(std::int64_t count, std::int64_t dim) {
  torch::nn::EmbeddingOptions options(count, dim);
  if (!init_enabled) options._weight(torch::empty({count, dim}));
  return options;
}

SkipParameterInit::SkipParameterInit() : previous_(init_enabled) { init_enabled = false; }

SkipParameterInit::~SkipParameterInit() { init_enabled = previous_; }

}  // namespace privprobe
