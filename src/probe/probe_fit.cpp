#include "probe/probe_fit.h"

#include <fcntl.h>
#include <malloc.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <mutex>
#include <new>
#include <numeric>
#include <string>

#include "io/half_float.h"
#include "probe/activations.h"
#include "probe/logistic_batch.h"
#include "util/blas_threads.h"
#include "util/parallel.h"
#include "util/rng.h"

namespace privprobe {
namespace {

// A feature whose spread is below this fraction of the layer's largest is treated as constant
// (scale 1), as scikit-learn's StandardScaler does for zero variance.
constexpr double kRelativeScaleFloor = 1e-6;

// Spread with the floor applied: features that do not vary get scale 1.
std::vector<float> floored_scale(const std::vector<double>& variance) {
  std::vector<double> spread(variance.size());
  double largest = 0;
  for (std::size_t j = 0; j < variance.size(); ++j) {
    spread[j] = std::sqrt(std::max(variance[j], 0.0));
    largest = std::max(largest, spread[j]);
  }
  std::vector<float> scale(variance.size());
  for (std::size_t j = 0; j < variance.size(); ++j) {
    scale[j] = static_cast<float>(spread[j] > kRelativeScaleFloor * largest ? spread[j] : 1.0);
  }
  return scale;
}

// One buffer for the blocks of layers, allocated once and reused. First touches of fresh memory
// are expensive on some virtual machines (measured here: 36 us per 4 KiB page, 4.7 s for 512 MiB;
// 0.7 s with 2 MiB pages), so the buffer asks for transparent huge pages.
struct FreeDeleter {
  void operator()(float* p) const { std::free(p); }
};
using BlockBuffer = std::unique_ptr<float[], FreeDeleter>;

BlockBuffer allocate_block_buffer(std::int64_t elements) {
  constexpr std::size_t kHugePage = std::size_t{2} << 20;
  const std::size_t bytes = (static_cast<std::size_t>(elements) * sizeof(float) + kHugePage - 1) / kHugePage * kHugePage;
  void* data = nullptr;
  if (posix_memalign(&data, kHugePage, bytes) != 0) throw std::bad_alloc();
#ifdef MADV_HUGEPAGE
  madvise(data, bytes, MADV_HUGEPAGE);  // advice only: without it the buffer still works
#endif
  return BlockBuffer(static_cast<float*>(data));
}

// Freed memory is kept for reuse instead of being returned to the system: first touches of fresh
// pages are expensive on some virtual machines (measured here: 36 us per 4 KiB page), and the
// solver's temporaries of a few MiB each were otherwise unmapped and faulted in again every
// iteration (glibc maps blocks above its threshold separately). Process-wide, set once.
void keep_freed_memory() {
  static std::once_flag once;
  std::call_once(once, [] {
    mallopt(M_MMAP_THRESHOLD, 32 << 20);  // glibc's largest: bigger blocks are still mapped
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
  });
}

// OpenBLAS's thread count, set to 1 while the layers are fitted in parallel.
int single_threaded_blas() {
  const int saved = openblas_threads();
  set_openblas_threads(1);
  return saved;
}

void restore_blas_threads(int saved) {
  if (saved > 0) set_openblas_threads(saved);
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
  std::vector<double> train_mask;                     // [F, N] in block rows
  std::vector<std::vector<std::int64_t>> test_rows;  // per split, its test samples' block rows
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
  layout.train_mask.assign(static_cast<std::size_t>(layout.splits() * n), 1.0);
  for (std::int64_t f = 0; f < layout.splits(); ++f) {
    std::vector<std::int64_t> rows;
    for (std::int64_t i : *layout.test_of_split[static_cast<std::size_t>(f)]) {
      rows.push_back(layout.position[static_cast<std::size_t>(i)]);
      layout.train_mask[static_cast<std::size_t>(f * n + rows.back())] = 0.0;
    }
    layout.test_rows.push_back(rows);
    layout.train_count.push_back(static_cast<double>(n - static_cast<std::int64_t>(rows.size())));
  }
  return layout;
}

// One layer's states, copied into `target` [N, D] float32 in block-row order and centred, with the
// column sums (and sums of squares) of what was written, accumulated in double.
struct CopiedLayer {
  std::vector<double> sum, squares;  // [D]; squares only when standardising
};

// Rows evenly spaced over the samples that fix the centre: it only has to be near the mean (the
// intercept absorbs any shift; each split's exact mean is computed below), so a subsample does.
constexpr std::int64_t kCentreRows = 64;

// The states file opened for pread, shared by the workers (pread takes its own offset). Rows read
// with pread skip the first touches of mapped pages, which cost more than the copy itself on some
// virtual machines and serialise the workers on the address space. Without a file, or where a
// read fails, rows come from the mapping.
class StatesReader {
 public:
  explicit StatesReader(const ActivationSet& set) : set_(set) {
    if (set.dtype == Dtype::F32 && !set.states_file.empty()) fd_ = ::open(set.states_file.c_str(), O_RDONLY | O_CLOEXEC);
  }
  ~StatesReader() {
    if (fd_ >= 0) ::close(fd_);
  }
  StatesReader(const StatesReader&) = delete;
  StatesReader& operator=(const StatesReader&) = delete;

  bool active() const { return fd_ >= 0; }

  // The float32 state of (sample, layer) into out[0, D).
  void read_row(std::int64_t sample, int layer, float* out) const {
    const std::int64_t element = (sample * set_.layers + layer) * set_.dim;
    const std::size_t bytes = static_cast<std::size_t>(set_.dim) * sizeof(float);
    const std::uint64_t offset = set_.states_offset + static_cast<std::uint64_t>(element) * sizeof(float);
    std::size_t done = 0;
    while (done < bytes) {
      const ssize_t got = ::pread(fd_, reinterpret_cast<char*>(out) + done, bytes - done, static_cast<off_t>(offset + done));
      if (got <= 0) break;
      done += static_cast<std::size_t>(got);
    }
    if (done < bytes) std::memcpy(out, static_cast<const float*>(set_.states) + element, bytes);
  }

 private:
  const ActivationSet& set_;
  int fd_ = -1;
};

// Copies one layer's rows into `target` [N, D] float32 in block-row order, centred, and sums what
// is written in double. A layer's states are scattered over the file (a row of D values every
// L x D): float32 rows are read into place with pread and centred there, while they are still in
// the cache; other dtypes are converted first.
CopiedLayer copy_layer(const ActivationSet& set, const StatesReader& reader, int layer, const SplitLayout& layout, bool standardize,
                       float* target) {
  const std::int64_t n = layout.samples;
  const std::int64_t dim = set.dim;
  std::vector<float> converted;  // other dtypes: the layer as float32 first
  const float* base = nullptr;
  std::int64_t row_stride = 0;
  if (set.dtype == Dtype::F32 && reader.active()) {
    // Raw rows straight into place; the centring below then reads them from there.
    for (std::int64_t row = 0; row < n; ++row) reader.read_row(layout.order[static_cast<std::size_t>(row)], layer, target + row * dim);
    base = target;
    row_stride = dim;
  } else if (set.dtype == Dtype::F32) {
    base = static_cast<const float*>(set.states) + static_cast<std::int64_t>(layer) * dim;
    row_stride = set.layers * dim;
  } else {
    converted.resize(static_cast<std::size_t>(n * dim));
    for (std::int64_t sample = 0; sample < n; ++sample) {
      const std::int64_t element = (sample * set.layers + layer) * dim;
      float* out = converted.data() + sample * dim;
      if (set.dtype == Dtype::F64) {
        const double* in = static_cast<const double*>(set.states) + element;
        for (std::int64_t j = 0; j < dim; ++j) out[j] = static_cast<float>(in[j]);
      } else {
        const std::uint16_t* in = static_cast<const std::uint16_t*>(set.states) + element;
        if (set.dtype == Dtype::F16) {
          f16_to_f32(in, out, static_cast<std::size_t>(dim));
        } else {
          bf16_to_f32(in, out, static_cast<std::size_t>(dim));
        }
      }
    }
    base = converted.data();
    row_stride = dim;
  }
  const bool in_place = base == target;  // then rows sit in block-row order already
  const auto row_of = [&](std::int64_t sample) {
    return base + (in_place ? layout.position[static_cast<std::size_t>(sample)] : sample) * row_stride;
  };

  std::vector<double> centre_sum(static_cast<std::size_t>(dim), 0.0);
  const std::int64_t centre_rows = std::min(n, kCentreRows);
  for (std::int64_t k = 0; k < centre_rows; ++k) {
    const float* row = row_of(k * n / centre_rows);
    for (std::int64_t j = 0; j < dim; ++j) centre_sum[static_cast<std::size_t>(j)] += row[j];
  }
  std::vector<float> centre(static_cast<std::size_t>(dim));
  for (std::int64_t j = 0; j < dim; ++j) {
    centre[static_cast<std::size_t>(j)] =
        static_cast<float>(centre_sum[static_cast<std::size_t>(j)] / static_cast<double>(centre_rows));
  }

  CopiedLayer copied;
  copied.sum.assign(static_cast<std::size_t>(dim), 0.0);
  if (standardize) copied.squares.assign(static_cast<std::size_t>(dim), 0.0);
  double* sum = copied.sum.data();
  double* squares = standardize ? copied.squares.data() : nullptr;
  const float* c = centre.data();
  for (std::int64_t row = 0; row < n; ++row) {
    const float* source = row_of(layout.order[static_cast<std::size_t>(row)]);
    float* out = target + row * dim;
    for (std::int64_t j = 0; j < dim; ++j) {
      const float value = source[j] - c[j];  // source may be out itself
      out[j] = value;
      sum[j] += value;
    }
    if (squares) {
      for (std::int64_t j = 0; j < dim; ++j) squares[j] += static_cast<double>(out[j]) * out[j];
    }
  }
  return copied;
}

// Copies one layer out of the states (float32, block row order, centred) and computes each
// split's standardisation. Fills the problem's features, mean, scale and sketch fields.
void prepare_layer(const ActivationSet& set, const StatesReader& reader, int layer, const SplitLayout& layout, bool standardize,
                   float* buffer, LogisticBatchProblem& problem) {
  const std::int64_t n = layout.samples;
  const std::int64_t dim = set.dim;
  const auto d = static_cast<std::size_t>(dim);
  const CopiedLayer copied = copy_layer(set, reader, layer, layout, standardize, buffer);
  // A NaN or infinity anywhere makes a sum non-finite: only then is the layer searched, to name the sample.
  const auto finite = [](const std::vector<double>& values) {
    return std::all_of(values.begin(), values.end(), [](double v) { return std::isfinite(v); });
  };
  if (!finite(copied.sum) || (standardize && !finite(copied.squares))) check_finite_states(set, {layer});
  // Per split, the training rows' mean and spread from (all rows - test rows): only the test rows
  // are read again.
  const std::int64_t splits = layout.splits();
  problem.mean.resize(static_cast<std::size_t>(splits) * d);
  problem.scale.assign(static_cast<std::size_t>(splits) * d, 1.0F);
  std::vector<double> mean(d), test_sum(d), test_squares(d), variance(d);
  for (std::int64_t f = 0; f < splits; ++f) {
    std::fill(test_sum.begin(), test_sum.end(), 0.0);
    std::fill(test_squares.begin(), test_squares.end(), 0.0);
    for (std::int64_t row : layout.test_rows[static_cast<std::size_t>(f)]) {
      const float* values = buffer + row * dim;
      for (std::size_t j = 0; j < d; ++j) test_sum[j] += values[j];
      if (standardize) {
        for (std::size_t j = 0; j < d; ++j) test_squares[j] += static_cast<double>(values[j]) * values[j];
      }
    }
    const double train_rows = layout.train_count[static_cast<std::size_t>(f)];
    for (std::size_t j = 0; j < d; ++j) {
      mean[j] = (copied.sum[j] - test_sum[j]) / train_rows;
      problem.mean[static_cast<std::size_t>(f) * d + j] = static_cast<float>(mean[j]);
    }
    if (standardize) {
      for (std::size_t j = 0; j < d; ++j) variance[j] = (copied.squares[j] - test_squares[j]) / train_rows - mean[j] * mean[j];
      const std::vector<float> scale = floored_scale(variance);
      std::copy(scale.begin(), scale.end(), problem.scale.begin() + f * dim);
    }
  }
  problem.features = buffer;
  problem.layers = 1;
  problem.rows = n;
  problem.dim = dim;
  problem.splits = splits;
  problem.sketch_mean.resize(d);
  for (std::size_t j = 0; j < d; ++j) {
    mean[j] = copied.sum[j] / static_cast<double>(n);
    problem.sketch_mean[j] = static_cast<float>(mean[j]);
  }
  if (standardize) {
    for (std::size_t j = 0; j < d; ++j) variance[j] = copied.squares[j] / static_cast<double>(n) - mean[j] * mean[j];
    problem.sketch_scale = floored_scale(variance);
  } else {
    problem.sketch_scale.assign(d, 1.0F);
  }
}

}  // namespace

ProbeFitOutput fit_probes(const ActivationSet& set, const ProbeFitInput& input) {
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

  ProbeFitOutput output;
  output.tracks = tracks;
  output.repeats = repeats;
  output.samples = n;
  output.scores.assign(input.layers.size() * static_cast<std::size_t>(tracks * repeats * n),
                       std::numeric_limits<double>::quiet_NaN());
  output.max_iterations.assign(input.layers.size(), 0);
  output.unconverged_fits.assign(input.layers.size(), 0);

  // Each layer is fitted on its own, with single-threaded BLAS, one worker per core:
  // the passes over one layer's features (13 MiB on the benchmark) stay in the cache and no call
  // waits on another thread. Measured on the benchmark's 2 cores: 0.8-0.9 s in process with two
  // workers, 1.5 s with one, 1.7-2.0 s with one worker and two BLAS threads (the old split); while
  // another program kept a core busy, one worker did better (1.5 s against 1.9 s), but that cannot
  // be known in advance. A layer's result is the same whichever worker fits it, and in any order.
  keep_freed_memory();
  const StatesReader reader(set);
  const int workers = static_cast<int>(
      std::min<std::size_t>(static_cast<std::size_t>(resolve_jobs(0)), input.layers.size()));
  const int saved_threads = single_threaded_blas();
  std::mutex progress_mutex;
  std::size_t layers_done = 0;
  std::atomic<std::size_t> next_layer{0};
  std::atomic<bool> failed{false};
  const auto fit_layer = [&](std::size_t li, BlockBuffer& buffer) {
    if (!buffer) buffer = allocate_block_buffer(n * set.dim);
    const int layer = input.layers[li];
    LogisticBatchProblem problem;
    prepare_layer(set, reader, layer, layout, input.standardize, buffer.get(), problem);
    problem.fit_rows = layout.fit_rows;
    problem.train_mask = layout.train_mask;
    problem.targets = target_values;
    problem.split_of = split_of;

    LogisticSolverOptions options;
    options.C = input.C;
    options.tolerance = input.tolerance;
    options.max_iterations = input.max_iterations;
    options.sketch_seeds.push_back(derive_seed(input.seed, "probe/sketch/layer/" + std::to_string(layer)));
    const LogisticBatchSolution solution = solve_logistic_batch(problem, options);

    const double* m = solution.margins.data();  // [1, P, N], block rows
    for (std::int64_t p = 0; p < problems; ++p) {
      const std::int64_t t = p / splits;
      const std::int64_t f = p % splits;
      const std::int64_t r = layout.repeat_of_split[static_cast<std::size_t>(f)];
      for (std::int64_t i : *layout.test_of_split[static_cast<std::size_t>(f)]) {
        output.scores[static_cast<std::size_t>(((static_cast<std::int64_t>(li) * tracks + t) * repeats + r) * n + i)] =
            m[p * n + layout.position[static_cast<std::size_t>(i)]];
      }
    }
    output.max_iterations[li] = static_cast<int>(*std::max_element(solution.iterations.begin(), solution.iterations.end()));
    output.unconverged_fits[li] = static_cast<int>(std::count(solution.converged.begin(), solution.converged.end(), 0));
    if (input.on_progress) {
      const std::lock_guard<std::mutex> lock(progress_mutex);
      input.on_progress(++layers_done);
    }
  };
  try {
    parallel_for(static_cast<std::size_t>(workers), workers, [&](std::size_t) {
      BlockBuffer buffer;  // this worker's copy of one layer's features
      for (std::size_t li = next_layer++; li < input.layers.size() && !failed; li = next_layer++) {
        try {
          fit_layer(li, buffer);
        } catch (...) {
          failed = true;
          throw;
        }
      }
    });
  } catch (...) {
    restore_blas_threads(saved_threads);
    throw;
  }
  restore_blas_threads(saved_threads);
  return output;
}

}  // namespace privprobe
