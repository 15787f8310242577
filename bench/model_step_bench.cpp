// The model core at exactly the shapes of ../shared/bench/ref_tinyllava_train.py, so the two can
// be compared side by side (bench/model_step_bench.sh): --config bench (96x96 images, patch 8,
// width 192, 4 + 4 layers), vocabulary 512, random images and tokens, [144 image tokens][T text
// tokens], loss on the text positions that predict the next text token (as the reference), AdamW
// (lr 1e-4, no weight decay).
//
//   model_step_bench [--batch 16] [--text-len 32] [--steps 20] [--warmup 3] [--threads 0] [--profile TRACE.json]
//
// Prints one JSON line: training-step times (forward + backward + AdamW: median, mean, min, max)
// and forward-only (no gradient) samples/s, plus the thread settings and OpenBLAS kernel.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <torch/csrc/autograd/profiler_legacy.h>
#include <torch/torch.h>

#include "model/llava.h"
#include "model/llava_config.h"
#include "model/runtime.h"

using namespace privprobe;

namespace {

struct Args {
  int batch = 16;
  int text_len = 32;
  int steps = 20;
  int warmup = 3;
  int threads = 0;
  std::string profile;  // a Chrome trace of the forward passes (libtorch's legacy profiler)
};

Args parse(int argc, char** argv) {
  Args a;
  CLI::App app{"The model core at the reference's shapes: training step and forward times"};
  app.add_option("--batch", a.batch)->check(CLI::PositiveNumber);
  app.add_option("--text-len", a.text_len)->check(CLI::Range(2, 4096));
  app.add_option("--steps", a.steps)->check(CLI::PositiveNumber);
  app.add_option("--warmup", a.warmup)->check(CLI::NonNegativeNumber);
  app.add_option("--threads", a.threads)->check(CLI::NonNegativeNumber);
  app.add_option("--profile", a.profile, "Chrome trace of the forward passes");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    std::exit(app.exit(e));
  }
  return a;
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

struct Times {
  double median = 0, mean = 0, min = 0, max = 0;
};

Times summarise(std::vector<double> t) {
  std::sort(t.begin(), t.end());
  Times s;
  for (double x : t) s.mean += x / static_cast<double>(t.size());
  s.median = t[t.size() / 2];  // the reference's convention
  s.min = t.front();
  s.max = t.back();
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  const Args a = parse(argc, argv);
  configure_threads(a.threads);
  LlavaConfig config = resolve_llava_config("bench");
  config.text.vocab_size = 512;
  torch::manual_seed(0);
  LlavaForConditionalGeneration model(config);
  torch::optim::AdamW optimizer(model->parameters(), torch::optim::AdamWOptions(1e-4).weight_decay(0.0));

  const int64_t patches = (config.vision.image_size / config.vision.patch_size) *
                          (config.vision.image_size / config.vision.patch_size);
  const int64_t length = patches + a.text_len;
  LlavaBatch batch;
  batch.pixel_values = torch::randn({a.batch, 3, config.vision.image_size, config.vision.image_size});
  // Text ids avoid the special ids below 5 (image token 4), as random text would.
  auto text = torch::randint(5, config.text.vocab_size, {a.batch, a.text_len}, torch::kLong);
  batch.input_ids = torch::cat({torch::full({a.batch, patches}, config.image_token_index, torch::kLong), text}, 1);
  batch.attention_mask = torch::ones({a.batch, length}, torch::kLong);
  // Labels on text positions 1..T-1: the model predicts each from the position before it, so the
  // loss covers the same T-1 predictions per row as the reference's.
  batch.labels = batch.input_ids.clone();
  batch.labels.narrow(1, 0, patches + 1).fill_(kIgnoreIndex);

  auto train_step = [&] {
    optimizer.zero_grad();
    auto loss = model->forward(batch).loss;
    loss.backward();
    optimizer.step();
    return loss.item<double>();
  };
  std::vector<double> step_times;
  double loss_first = 0, loss_last = 0;
  for (int i = 0; i < a.warmup; ++i) train_step();
  for (int i = 0; i < a.steps; ++i) {
    const auto start = std::chrono::steady_clock::now();
    const double loss = train_step();
    step_times.push_back(seconds_since(start));
    if (i == 0) loss_first = loss;
    loss_last = loss;
  }

  std::vector<double> forward_times;
  {
    torch::NoGradGuard no_grad;
    model->eval();
    std::unique_ptr<torch::autograd::profiler::RecordProfile> profiler;
    if (!a.profile.empty()) profiler = std::make_unique<torch::autograd::profiler::RecordProfile>(a.profile);
    for (int i = 0; i < a.warmup + a.steps; ++i) {
      const auto start = std::chrono::steady_clock::now();
      // Scores the text (loss at the text positions), as the reference's forward does.
      auto out = model->forward(batch);
      out.loss.item<double>();
      if (i >= a.warmup) forward_times.push_back(seconds_since(start));
    }
  }
  const Times step = summarise(step_times);
  const Times forward = summarise(forward_times);
  const RuntimeInfo runtime = runtime_info();
  int64_t params = 0;
  for (const auto& p : model->parameters()) params += p.numel();
  nlohmann::json row = {{"torch_threads", runtime.torch_threads},
                        {"blas_threads", runtime.blas_threads},
                        {"openblas_core", runtime.openblas_core},
                        {"params", params},
                        {"batch", a.batch},
                        {"text_len", a.text_len},
                        {"seq_len", length},
                        {"steps", a.steps},
                        {"step_s_median", step.median},
                        {"step_s_mean", step.mean},
                        {"step_s_min", step.min},
                        {"step_s_max", step.max},
                        {"forward_s_median", forward.median},
                        {"forward_samples_per_s", a.batch / forward.median},
                        {"loss_first", loss_first},
                        {"loss_last", loss_last}};
  std::printf("%s\n", row.dump().c_str());
  return 0;
}
