// Whether new modules draw their random initial parameters. Loading a checkpoint turns it off:
// every parameter is then overwritten from the file (a missing one is an error), and for a 7B
// model the draws alone took minutes (about 25 s for a 0.8 B one on two cores).
#pragma once

#include <cstdint>

#include <torch/torch.h>

namespace privprobe {

bool parameter_init_enabled();

// torch::nn::Embedding draws its weight in its constructor; without init it gets an empty one.
torch::nn::EmbeddingOptions embedding_options(std::int64_t count, std::int64_t dim);

// While alive (on this thread), model constructors leave parameters uninitialised.
class SkipParameterInit {
 public:
  SkipParameterInit();
  ~SkipParameterInit();
  SkipParameterInit(const SkipParameterInit&) = delete;
  SkipParameterInit& operator=(const SkipParameterInit&) = delete;

 private:
  bool previous_;
};

}  // namespace privprobe
