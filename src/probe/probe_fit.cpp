#include "probe/probe_fit.h"

#include <sys/mman.h>

#include <algorithm>
#include <cstdlib>
#include <limits>
#include <new>
#include <numeric>
#include <string>

#include <torch/torch.h>

#include "probe/activations.h"
#include "probe/logistic_batch.h"
#include "util/rng.h"

namespace privprobe {
namespace {

// Memory for one block of layers (features, solver state); the states file itself stays mapped.
// Small on purpose: a block's features stay in the cache over the solver's ~40 passes, and its
// temporaries stay small (measured on the benchmark: blocks of 2 layers beat 8 and 32, whose large
// fresh temporaries cost page faults; batching more layers saves little, the passes dominate).
constexpr double kBlockBytes = 48.0 * 1024 * 1024;
// A feature whose spread is below this fraction of the layer's largest is treated as constant
// (scale 1), as scikit-learn's StandardScaler does for zero variance.
constexpr double kRelativeScaleFloor = 1e-6;

torch::ScalarType torch_type(Dtype dtype) {
  switch (dtype) {
    case Dtype::F16: return torch::kHalf;
    case Dtype::BF16: return torch::kBFloat16;
    case Dtype::F64: return torch::kDouble;
    default: return torch::kFloat;
  }
}

// Spread with the floor applied: features that do not vary get scale 1.
torch::Tensor floored_scale(const torch::Tensor& variance) {
  const torch::Tensor spread = variance.clamp_min(0).sqrt();
  const torch::Tensor largest = std::get<0>(spread.max(-1, true));
  return torch::where(spread > kRelativeScaleFloor * largest, spread, torch::ones_like(spread));
}

// One buffer for the blocks of layers, allocated once and reused. First touches of fresh memory
// are expensive on some virtual machines (measured here: 36 us per 4 KiB page, 4.7 s for 512 MiB;
// 0.7 s with 2 MiB pages), so the buffer asks for transparent huge pages.
torch::Tensor allocate_block_buffer(std::int64_t elements) {
  constexpr std::size_t kHugePage = std::size_t{2} << 20;
  const std::size_t bytes = (static_cast<std::size_t>(elements) * sizeof(float) + kHugePage - 1) / kHugePage * kHugePage;
  void* data = nullptr;
  if (posix_memalign(&data, kHugePage, bytes) != 0) throw std::bad_alloc();
#ifdef MADV_HUGEPAGE
  madvise(data, bytes, MADV_HUGEPAGE);  // advice only: without it the buffer still works
#endif
  return torch::from_blob(data, {elements}, [](void* p) { std::free(p); }, torch::kFloat);
}

std::int64_t layers_per_block(std::int64_t samples, std::int64_t dim, std::int64_t splits, std::int64_t problems) {
  const double per_layer = 4.0 * static_cast<double>(samples * dim)       // features
                           + 8.0 * static_cast<double>(2 * splits * dim)  // mean, scale
                           + 8.0 * static_cast<double>(problems * dim) * 12  // weights, gradient, steps, temporaries
                           + 8.0 * static_cast<double>(problems * samples) * 32 * 4;  // images, subspace features
  return std::max<std::int64_t>(1, static_cast<std::int64_t>(kBlockBytes / per_layer));
}

}  // namespace

namespace {

// The splits flattened (every repeat's folds), and where each sample sits in a block: with a
// single split (the paper's), its training rows come first so that the passes while fitting read
// only them; otherwise the samples' own order.
struct SplitLayout {
  std::int64_t samples = 0;
  std::vector<std::int64_t> repeat_of_split;
  std::vector<const std::vector<std::int64_t>*> test_of_split;
  std::vector<std::int64_t> order;     // block row -> sample
  std::vector<std::int64_t> position;  // sample -> block row
  std::int64_t fit_rows = 0;
  bool reordered = false;
  torch::Tensor order_index;           // order, as a tensor
  torch::Tensor train_mask;            // [F, N] in block rows
  std::vector<torch::Tensor> test_rows;  // per split, its test samples' block rows
  std::vector<double> train_count;

  std::int64_t splits() const { return static_cast<std::int64_t>(test_of_split.size()); }
};

SplitLayout make_layout(const FoldPlan& plan, std::int64_t n) {
  SplitLayout layout;
  layout.samples = n;
  for (std::size_t r = 0; r < plan.repeats.size(); ++r) {
    for (const auto& test : plan.repeats[r]) {
      layout.repeat_of_split.push_back(static_cast<std::int64_t>(r));
      layout.test_of_split.push_back(&test);
    }
  }
  layout.order.resize(static_cast<std::size_t>(n));
  std::iota(layout.order.begin(), layout.order.end(), std::int64_t{0});
  layout.fit_rows = n;
  if (layout.splits() == 1) {
    std::vector<char> tested(static_cast<std::size_t>(n), 0);
    for (std::int64_t i : *layout.test_of_split[0]) tested[static_cast<std::size_t>(i)] = 1;
    std::stable_partition(layout.order.begin(), layout.order.end(),
                          [&](std::int64_t i) { return !tested[static_cast<std::size_t>(i)]; });
    layout.fit_rows = n - static_cast<std::int64_t>(layout.test_of_split[0]->size());
  }
  layout.reordered = layout.fit_rows < n;
  layout.position.resize(static_cast<std::size_t>(n));
  for (std::int64_t row = 0; row < n; ++row) {
    layout.position[static_cast<std::size_t>(layout.order[static_cast<std::size_t>(row)])] = row;
  }
  layout.order_index = torch::tensor(layout.order, torch::kLong);
  layout.train_mask = torch::ones({layout.splits(), n}, torch::kDouble);
  auto mask = layout.train_mask.accessor<double, 2>();
  for (std::int64_t f = 0; f < layout.splits(); ++f) {
    std::vector<std::int64_t> rows;
    for (std::int64_t i : *layout.test_of_split[static_cast<std::size_t>(f)]) {
      rows.push_back(layout.position[static_cast<std::size_t>(i)]);
      mask[f][rows.back()] = 0.0;
    }
    layout.test_rows.push_back(torch::tensor(rows, torch::kLong));
    layout.train_count.push_back(static_cast<double>(n - static_cast<std::int64_t>(rows.size())));
  }
  return layout;
}

// Copies a block of layers out of the states (float32, block row order, centred) and computes
// each split's standardisation. Fills the problem's features, mean, scale and sketch fields.
void prepare_block(const ActivationSet& set, const torch::Tensor& states, const std::vector<int>& layers,
                   const SplitLayout& layout, bool standardize, const torch::Tensor& buffer,
                   LogisticBatchProblem& problem) {
  const std::int64_t n = layout.samples;
  const std::int64_t dim = set.dim;
  const auto lc = static_cast<std::int64_t>(layers.size());
  const torch::Tensor features = buffer.narrow(0, 0, lc * n * dim).view({lc, n, dim});
  std::vector<torch::Tensor> means, scales, all_squares;
  for (std::int64_t c = 0; c < lc; ++c) {
    const int layer = layers[static_cast<std::size_t>(c)];
    const torch::Tensor source = states.select(1, layer);  // [N, D], strided over the mapping
    torch::Tensor target = features[c];
    if (layout.reordered) {
      torch::index_select_out(target, source, 0, layout.order_index);
    } else {
      target.copy_(source);
    }
    // Centred on all rows: exact (the intercept absorbs any shift), and it keeps the float32
    // products accurate beside LLM states' large constant channels. A NaN or infinity anywhere
    // makes the mean non-finite: only then is the layer searched, to name the sample.
    const torch::Tensor centre = target.mean(0, true);
    if (!torch::isfinite(centre).all().item<bool>()) check_finite_states(set, {layer});
    target.sub_(centre);
    // Per split, the training rows' mean and spread from (all rows - test rows): only the test
    // rows are read again, and no [N, D] temporaries are made.
    const torch::Tensor row_sum = target.sum(0).to(torch::kDouble);  // ~0 after centring
    const torch::Tensor squares =
        standardize ? torch::linalg_vector_norm(target, 2, {0}).to(torch::kDouble).square() : torch::Tensor();
    std::vector<torch::Tensor> split_means, split_scales;
    for (std::int64_t f = 0; f < layout.splits(); ++f) {
      const torch::Tensor test_rows = target.index_select(0, layout.test_rows[static_cast<std::size_t>(f)]);
      const double train_rows = layout.train_count[static_cast<std::size_t>(f)];
      const torch::Tensor mean = (row_sum - test_rows.sum(0).to(torch::kDouble)) / train_rows;
      split_means.push_back(mean);
      if (standardize) {
        const torch::Tensor test_squares = torch::linalg_vector_norm(test_rows, 2, {0}).to(torch::kDouble).square();
        split_scales.push_back(floored_scale((squares - test_squares) / train_rows - mean.square()));
      }
    }
    means.push_back(torch::stack(split_means).to(torch::kFloat));
    scales.push_back(standardize ? torch::stack(split_scales).to(torch::kFloat)
                                 : torch::ones({layout.splits(), dim}, torch::kFloat));
    if (standardize) all_squares.push_back(squares);
  }
  problem.features = features;
  problem.mean = torch::stack(means);
  problem.scale = torch::stack(scales);
  problem.sketch_mean = torch::zeros({lc, dim}, torch::kFloat);
  problem.sketch_scale = standardize ? floored_scale(torch::stack(all_squares) / static_cast<double>(n)).to(torch::kFloat)
                                     : torch::ones({lc, dim}, torch::kFloat);
}

}  // namespace

ProbeFitOutput fit_probes(const ActivationSet& set, const ProbeFitInput& input) {
  torch::NoGradGuard no_grad;
  const std::int64_t n = set.samples;
  const SplitLayout layout = make_layout(*input.folds, n);
  const std::int64_t splits = layout.splits();
  const auto repeats = static_cast<std::int64_t>(input.folds->repeats.size());
  const auto tracks = static_cast<std::int64_t>(input.tracks.size());

  // Problems: every (track, split), with their labels as +-1 in block row order.
  const std::int64_t problems = tracks * splits;
  std::vector<std::int64_t> split_of(static_cast<std::size_t>(problems));
  std::vector<double> target_values(static_cast<std::size_t>(problems * n));
  for (std::int64_t t = 0; t < tracks; ++t) {
    for (std::int64_t f = 0; f < splits; ++f) {
      const std::int64_t p = t * splits + f;
      split_of[static_cast<std::size_t>(p)] = f;
      const std::int64_t repeat = layout.repeat_of_split[static_cast<std::size_t>(f)];
      const auto& labels = input.tracks[static_cast<std::size_t>(t)][static_cast<std::size_t>(repeat)];
      for (std::int64_t row = 0; row < n; ++row) {
        const int label = labels[static_cast<std::size_t>(layout.order[static_cast<std::size_t>(row)])];
        target_values[static_cast<std::size_t>(p * n + row)] = label == 1 ? 1.0 : -1.0;
      }
    }
  }
  const torch::Tensor targets = torch::from_blob(target_values.data(), {problems, n}, torch::kDouble).clone();

  ProbeFitOutput output;
  output.tracks = tracks;
  output.repeats = repeats;
  output.samples = n;
  output.scores.assign(input.layers.size() * static_cast<std::size_t>(tracks * repeats * n),
                       std::numeric_limits<double>::quiet_NaN());
  output.max_iterations.assign(input.layers.size(), 0);
  output.unconverged_fits.assign(input.layers.size(), 0);

  // The states as a tensor over the mapping (no copy); blocks of layers are copied out as float32.
  // (Copying the next block on a second thread while one is solved was measured slower on 2 cores.)
  const torch::Tensor states = torch::from_blob(const_cast<void*>(set.states), {n, set.layers, set.dim},
                                                torch::TensorOptions().dtype(torch_type(set.dtype)));
  const auto block = static_cast<std::size_t>(std::min<std::int64_t>(
      layers_per_block(n, set.dim, splits, problems), static_cast<std::int64_t>(input.layers.size())));
  const torch::Tensor buffer = allocate_block_buffer(static_cast<std::int64_t>(block) * n * set.dim);
  for (std::size_t start = 0; start < input.layers.size(); start += block) {
    const std::size_t count = std::min(input.layers.size() - start, block);
    const std::vector<int> layers(input.layers.begin() + static_cast<std::ptrdiff_t>(start),
                                  input.layers.begin() + static_cast<std::ptrdiff_t>(start + count));
    LogisticBatchProblem problem;
    prepare_block(set, states, layers, layout, input.standardize, buffer, problem);
    problem.fit_rows = layout.fit_rows;
    problem.train_mask = layout.train_mask;
    problem.targets = targets;
    problem.split_of = split_of;

    LogisticSolverOptions options;
    options.C = input.C;
    options.tolerance = input.tolerance;
    options.max_iterations = input.max_iterations;
    for (int layer : layers) options.sketch_seeds.push_back(derive_seed(input.seed, "probe/sketch/layer/" + std::to_string(layer)));
    const LogisticBatchSolution solution = solve_logistic_batch(problem, options);

    const torch::Tensor margins = solution.margins.contiguous();  // [Lc, P, N], block rows
    const double* m = margins.data_ptr<double>();
    for (std::size_t c = 0; c < layers.size(); ++c) {
      const std::size_t li = start + c;
      for (std::int64_t p = 0; p < problems; ++p) {
        const std::int64_t t = p / splits;
        const std::int64_t f = p % splits;
        const std::int64_t r = layout.repeat_of_split[static_cast<std::size_t>(f)];
        for (std::int64_t i : *layout.test_of_split[static_cast<std::size_t>(f)]) {
          output.scores[static_cast<std::size_t>(((static_cast<std::int64_t>(li) * tracks + t) * repeats + r) * n + i)] =
              m[(static_cast<std::int64_t>(c) * problems + p) * n + layout.position[static_cast<std::size_t>(i)]];
        }
      }
      const auto ci = static_cast<std::int64_t>(c);
      output.max_iterations[li] = static_cast<int>(solution.iterations[ci].max().item<std::int64_t>());
      output.unconverged_fits[li] = static_cast<int>((~solution.converged[ci]).sum().item<std::int64_t>());
    }
    if (input.on_progress) input.on_progress(start + layers.size());
  }
  return output;
}

}  // namespace privprobe
