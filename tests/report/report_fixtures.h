// A small fake study folder (docs/study-format.md) for the report tests: results.json with a base
// and fine-tuned models over 3 layers, train logs, dynamics, activation files, watermarked images
// with their manifest, study.toml. Each optional part can be left out.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace privprobe::test {

struct FakeStudyOptions {
  bool control = true;    // a positive-control arm (control-s0)
  bool ask = true;        // ask results in results.json
  bool dynamics = true;   // models/<id>/dynamics.jsonl for the fine-tuned models
  bool train_logs = true;
  bool acts = true;       // acts/<id>.safetensors for every model
  bool images = true;     // data/embed/r0.5/ with two watermarked images and one clean
  bool toml = true;       // study.toml
};

// The results.json document the fake study holds (tests mutate it to make bad inputs).
nlohmann::json fake_results(const FakeStudyOptions& options = {});

// Writes the whole folder (results.json from fake_results(options)).
void write_fake_study(const std::filesystem::path& dir, const FakeStudyOptions& options = {});

// Model ids of fake_results(options), in order.
std::vector<std::string> fake_model_ids(const FakeStudyOptions& options = {});

// states [n, layers, dim] F32 and labels [n] I64 (alternating 1, 0); seen samples are shifted
// along the first dimension by `separation`.
void write_fake_activations(const std::filesystem::path& path, int n, int layers, int dim, float separation);

}  // namespace privprobe::test
