// `privprobe synth`: the embedded default VQA album (see data/synth.h).
#include <cstdio>
#include <memory>

#include "commands.h"
#include "data/synth.h"

namespace privprobe::cli {

void register_synth(CLI::App& app) {
  auto config = std::make_shared<SynthConfig>();
  CLI::App* cmd = app.add_subcommand(
      "synth", "Generate the synthetic VQA album: scenes of shapes, questions with one-word answers, train/test split");
  cmd->add_option("--out", config->out, "Output folder (images/, train.json, test.json, objects.json)")->required();
  cmd->add_option("--count", config->count, "Images in all, train and test")->capture_default_str();
  cmd->add_option("--size", config->size, "Side of the square images in pixels")->capture_default_str();
  cmd->add_option("--seed", config->seed, "Random seed; the same seed gives the same bytes")->capture_default_str();
  cmd->add_option("--test-fraction", config->test_fraction, "Share of images held out for test.json")
      ->capture_default_str();
  cmd->add_option("--min-objects", config->min_objects, "Fewest shapes in a scene")->capture_default_str();
  cmd->add_option("--max-objects", config->max_objects, "Most shapes in a scene")->capture_default_str();
  cmd->add_option("--turns", config->turns, "Question/answer turns per sample, each of a different type")
      ->capture_default_str();
  cmd->add_option("--format", config->format, "Image format: png or jpg")->capture_default_str();
  cmd->add_option("--jobs", config->jobs, "Worker threads (0: all cores); the output does not depend on it")
      ->capture_default_str();
  cmd->callback([config] {
    const SynthResult result = run_synth(*config);
    std::printf("synth: %zu images %dx%d %s (%zu train, %zu test), %d turn%s each -> %s\n", result.train + result.test,
                config->size, config->size, config->format.c_str(), result.train, result.test, config->turns,
                config->turns == 1 ? "" : "s", config->out.string().c_str());
  });
}

}  // namespace privprobe::cli
