// Gradient checkpointing (activation recomputation): a layer run through checkpointed_forward
// keeps none of its intermediate activations for backward, only its input; backward runs the
// layer again, with the random draws (dropout) and autocast settings of the first run, and takes
// the gradients from that rerun. One more forward per layer buys the memory of every layer's
// activations but one: what lets a 7B model fine-tune on one GPU with long image prompts.
// libtorch has no torch.utils.checkpoint; this is a custom torch::autograd::Function, in the API
// that libtorch 1.13 and 2.x share.
#pragma once

#include <functional>
#include <vector>

#include <torch/torch.h>

namespace privprobe {

using LayerFunction = std::function<torch::Tensor(const torch::Tensor&)>;

// fn(x), without recording fn's graph. The result's gradient function reruns fn(x) and returns
// the gradients of x and of `parameters`, which must be every tensor needing a gradient that fn
// reads besides x (a layer's trainable parameters); other tensors fn captures must not need one.
// Gradients equal those of fn(x) run directly (same operations, same random draws).
torch::Tensor checkpointed_forward(const LayerFunction& fn, const torch::Tensor& x,
                                   const std::vector<torch::Tensor>& parameters);

}  // namespace privprobe
