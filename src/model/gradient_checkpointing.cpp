#include "model/gradient_checkpointing.h"

#include <mutex>

#include "model/autocast.h"

namespace privprobe {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// What backward needs besides the saved input: travels in the autograd context as a capsule.
struct Recompute : torch::CustomClassHolder {
  LayerFunction fn;
  std::vector<torch::Tensor> parameters;
  std::vector<at::Generator> generators;  // the CPU generator, and the input's CUDA device's
  std::vector<torch::Tensor> generator_states;
  torch::DeviceType device = torch::kCPU;
  AutocastSettings autocast;
};

std::vector<torch::Tensor> generator_states(std::vector<at::Generator>& generators) {
  std::vector<torch::Tensor> states;
  for (auto& g : generators) {
    std::lock_guard<std::mutex> lock(g.mutex());
    states.push_back(g.get_state());
  }
  return states;
}

void set_generator_states(std::vector<at::Generator>& generators, const std::vector<torch::Tensor>& states) {
  for (std::size_t i = 0; i < generators.size(); ++i) {
    std::lock_guard<std::mutex> lock(generators[i].mutex());
    generators[i].set_state(states[i]);
  }
}

// Puts the generators back as they were before the rerun, whatever happens in it: the rerun's
// draws repeat the forward's and must not shift the draws of what follows.
class GeneratorRestore {
 public:
  explicit GeneratorRestore(std::vector<at::Generator>& generators)
      : generators_(generators), states_(generator_states(generators)) {}
  ~GeneratorRestore() { set_generator_states(generators_, states_); }
  GeneratorRestore(const GeneratorRestore&) = delete;
  GeneratorRestore& operator=(const GeneratorRestore&) = delete;

 private:
  std::vector<at::Generator>& generators_;
  std::vector<torch::Tensor> states_;
};

class CheckpointFunction : public torch::autograd::Function<CheckpointFunction> {
 public:
  // parameters are inputs so that autograd routes their gradients through this node.
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x, at::TensorList parameters,
                               c10::intrusive_ptr<Recompute> recompute) {
    // Grad mode is off here (Function::apply), so fn records nothing.
    ctx->save_for_backward({x});
    recompute->generators.push_back(at::globalContext().defaultGenerator(torch::Device(torch::kCPU)));
    if (x.is_cuda()) recompute->generators.push_back(at::globalContext().defaultGenerator(x.device()));
    recompute->generator_states = generator_states(recompute->generators);
    recompute->device = x.device().type();
    recompute->autocast = autocast_settings(recompute->device);
    (void)parameters;
    torch::Tensor out = recompute->fn(x);
    ctx->saved_data["recompute"] = c10::IValue::make_capsule(std::move(recompute));
    return out;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    auto recompute = c10::static_intrusive_pointer_cast<Recompute>(ctx->saved_data["recompute"].toCapsule());
    const torch::Tensor x = ctx->get_saved_variables()[0];
    const std::size_t n_parameters = recompute->parameters.size();

    torch::Tensor input;
    torch::Tensor output;
    {
      GeneratorRestore restore(recompute->generators);
      set_generator_states(recompute->generators, recompute->generator_states);
      AutocastGuard autocast(recompute->device, recompute->autocast);
      torch::AutoGradMode grad_mode(true);
      input = x.detach().requires_grad_(ctx->needs_input_grad(0));
      output = recompute->fn(input);
    }
    std::vector<torch::Tensor> wrt;
    if (input.requires_grad()) wrt.push_back(input);
    for (std::size_t i = 0; i < n_parameters; ++i) {
      if (ctx->needs_input_grad(i + 1)) wrt.push_back(recompute->parameters[i]);
    }
    variable_list grads;
    if (!wrt.empty() && output.requires_grad()) {
      grads = torch::autograd::grad({output}, wrt, {grad_outputs[0]}, /*retain_graph=*/false, /*create_graph=*/false,
                                    /*allow_unused=*/true);
    }
    // One entry per forward input: x, each parameter, and the (non-tensor) recompute state.
    variable_list result(1 + n_parameters + 1);
    std::size_t next = 0;
    if (input.requires_grad() && next < grads.size()) result[0] = grads[next++];
    for (std::size_t i = 0; i < n_parameters; ++i) {
      if (ctx->needs_input_grad(i + 1) && next < grads.size()) result[1 + i] = grads[next++];
    }
    return result;
  }
};

}  // namespace

torch::Tensor checkpointed_forward(const LayerFunction& fn, const torch::Tensor& x,
                                   const std::vector<torch::Tensor>& parameters) {
  auto recompute = c10::make_intrusive<Recompute>();
  recompute->fn = fn;
  recompute->parameters = parameters;
  return CheckpointFunction::apply(x, at::TensorList(recompute->parameters), recompute);
}

}  // namespace privprobe
