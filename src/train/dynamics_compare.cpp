// `privprobe dynamics compare`: reading two dynamics.jsonl files and comparing their sketches.
#include "train/dynamics_compare.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <optional>

#include "util/error.h"
#include "util/json_io.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace privprobe {
namespace {

struct SketchFile {
  fs::path path;
  std::map<int64_t, std::vector<double>> sketches;  // step -> sketch (last row wins)
  std::map<int64_t, std::size_t> lines;             // step -> line it came from
  std::optional<uint64_t> seed;
  int size = 0;
};

SketchFile read_sketches(const fs::path& path) {
  SketchFile file;
  file.path = path;
  std::size_t size_line = 0;
  for_each_jsonl(path, [&](std::size_t line, const json& row) {
    const std::string where = path.string() + ", line " + std::to_string(line);
    if (!row.is_object()) throw DataError(error_message(where, "is not a JSON object"));
    const int64_t step = require_int(row, "step", where);
    const auto it = row.find("sketch");
    if (it == row.end() || it->is_null()) {
      throw DataError(error_message(where, "has no 'sketch'", "the run was trained without --dynamics-every"));
    }
    if (!it->is_array() || it->empty()) throw DataError(error_message(where, "field 'sketch' is not a non-empty array of numbers"));
    std::vector<double> sketch;
    sketch.reserve(it->size());
    for (const auto& v : *it) {
      if (!v.is_number()) throw DataError(error_message(where, "field 'sketch' holds a value that is not a number"));
      const double x = v.get<double>();
      if (!std::isfinite(x)) throw DataError(error_message(where, "field 'sketch' holds a value that is not finite"));
      sketch.push_back(x);
    }
    if (file.size == 0) {
      file.size = static_cast<int>(sketch.size());
      size_line = line;
    } else if (static_cast<int>(sketch.size()) != file.size) {
      throw DataError(error_message(where, "sketch has " + std::to_string(sketch.size()) + " buckets but line " +
                                               std::to_string(size_line) + " has " + std::to_string(file.size)));
    }
    if (const auto seed = row.find("sketch_seed"); seed != row.end() && !seed->is_null()) {
      if (!seed->is_number_unsigned() && !(seed->is_number_integer() && seed->get<int64_t>() >= 0)) {
        throw DataError(error_message(where, "field 'sketch_seed' is not a non-negative integer"));
      }
      const uint64_t value = seed->get<uint64_t>();
      if (file.seed && *file.seed != value) throw DataError(error_message(where, "sketch_seed differs from earlier rows"));
      file.seed = value;
    }
    file.sketches[step] = std::move(sketch);
    file.lines[step] = line;
  });
  if (file.sketches.empty()) throw DataError(error_message(path.string(), "has no rows"));
  return file;
}

double norm(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x * x;
  return std::sqrt(s);
}

}  // namespace

fs::path resolve_dynamics_file(const fs::path& run_or_file) {
  std::error_code ec;
  if (fs::is_directory(run_or_file, ec)) {
    const fs::path file = run_or_file / kDynamicsFileName;
    if (!fs::is_regular_file(file, ec)) {
      throw IoError(error_message(run_or_file.string(), std::string("run folder has no ") + kDynamicsFileName,
                                  "train with --dynamics-every K to log dynamics"));
    }
    return file;
  }
  if (!fs::is_regular_file(run_or_file, ec)) {
    throw IoError(error_message(run_or_file.string(), std::string("no such run folder or ") + kDynamicsFileName + " file"));
  }
  return run_or_file;
}

SketchComparison compare_dynamics(const fs::path& dynamics_a, const fs::path& dynamics_b) {
  const SketchFile a = read_sketches(resolve_dynamics_file(dynamics_a));
  const SketchFile b = read_sketches(resolve_dynamics_file(dynamics_b));
  if (a.size != b.size) {
    throw DataError(error_message(b.path.string(), "sketches have " + std::to_string(b.size) + " buckets but " + a.path.string() +
                                                       " has " + std::to_string(a.size),
                                  "both runs must log sketches of the same size"));
  }
  if (a.seed && b.seed && *a.seed != *b.seed) {
    throw DataError(error_message(b.path.string(), "sketch_seed differs from " + a.path.string() + "'s",
                                  "sketches with different hashing cannot be compared"));
  }
  SketchComparison out;
  out.file_a = a.path;
  out.file_b = b.path;
  out.steps_a = a.sketches.size();
  out.steps_b = b.sketches.size();
  out.sketch_size = a.size;
  for (const auto& [step, sa] : a.sketches) {
    const auto it = b.sketches.find(step);
    if (it == b.sketches.end()) continue;
    const auto& sb = it->second;
    const double na = norm(sa), nb = norm(sb);
    auto require_nonzero = [step = step](const SketchFile& f, double n) {
      if (n > 0) return;
      throw DataError(error_message(f.path.string() + ", line " + std::to_string(f.lines.at(step)),
                                    "the sketch of step " + std::to_string(step) + " is all zeros, so no cosine exists"));
    };
    require_nonzero(a, na);
    require_nonzero(b, nb);
    double dot = 0;
    for (std::size_t i = 0; i < sa.size(); ++i) dot += sa[i] * sb[i];
    out.per_step.emplace_back(step, std::clamp(dot / (na * nb), -1.0, 1.0));
  }
  if (out.per_step.empty()) {
    throw DataError(error_message(b.path.string(), "no step is logged in both this file and " + a.path.string(),
                                  "compare runs with the same --dynamics-every and overlapping steps"));
  }
  double sum = 0;
  out.min = out.per_step.front().second;
  for (const auto& [step, c] : out.per_step) {
    sum += c;
    out.min = std::min(out.min, c);
  }
  out.mean = sum / static_cast<double>(out.per_step.size());
  return out;
}

json sketch_comparison_to_json(const SketchComparison& c) {
  json per_step = json::array();
  for (const auto& [step, cosine] : c.per_step) per_step.push_back({{"step", step}, {"cosine", cosine}});
  json summary = {{"common_steps", c.per_step.size()},
                  {"steps_a", c.steps_a},
                  {"steps_b", c.steps_b},
                  {"mean", c.mean},
                  {"min", c.min},
                  {"first", c.per_step.empty() ? json(nullptr) : json(c.per_step.front().second)},
                  {"last", c.per_step.empty() ? json(nullptr) : json(c.per_step.back().second)},
                  {"sketch_size", c.sketch_size}};
  return {{"format_version", kFormatVersion},
          {"run_a", c.file_a.string()},
          {"run_b", c.file_b.string()},
          {"per_step", per_step},
          {"summary", summary}};
}

std::string format_sketch_comparison(const SketchComparison& c) {
  std::string out = "step      cosine\n";
  char line[96];
  for (const auto& [step, cosine] : c.per_step) {
    std::snprintf(line, sizeof line, "%-9lld %8.5f\n", static_cast<long long>(step), cosine);
    out += line;
  }
  if (!c.per_step.empty()) {
    std::snprintf(line, sizeof line, "%zu common steps (A logged %zu, B %zu): ", c.per_step.size(), c.steps_a, c.steps_b);
    out += line;
    std::snprintf(line, sizeof line, "mean %.5f, min %.5f, first %.5f, last %.5f\n", c.mean, c.min, c.per_step.front().second,
                  c.per_step.back().second);
    out += line;
  }
  return out;
}

}  // namespace privprobe
