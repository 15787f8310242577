// `privprobe probeset`: held-out images x (U1 -> seen, U2 -> unseen) (see src/probeset/probeset.h).
#include <cstdio>
#include <memory>
#include <string>

#include "commands.h"
#include "probeset/probeset.h"

namespace privprobe::cli {

void register_probeset(CLI::App& app) {
  auto* cmd = app.add_subcommand("probeset", "Build a probe set: held-out images watermarked with seen and unseen profiles");
  auto config = std::make_shared<ProbesetConfig>();
  auto style = std::make_shared<std::string>("text");
  auto placement = std::make_shared<std::string>("random");

  auto* data = cmd->add_option("--data", config->data, "LLaVA JSON of held-out samples (paths relative to --image-root)");
  auto* root = cmd->add_option("--image-root", config->image_root, "Folder the JSON's image paths are relative to");
  auto* images = cmd->add_option("--images", config->images, "A plain folder of held-out images, searched recursively");
  data->needs(root);
  root->needs(data);
  images->excludes(data)->excludes(root);
  cmd->add_option("--seen", config->seen, "Seen profiles U1 (JSONL), label 1")->required();
  cmd->add_option("--unseen", config->unseen, "Unseen profiles U2 (JSONL), label 0")->required();
  cmd->add_option("--out", config->out, "Output folder")->required();
  cmd->add_option("--count", config->count, "Base images to use (0: all)")->capture_default_str();
  cmd->add_option("--exclude-manifest", config->exclude_manifest,
                  "A training run's embed manifest.jsonl: any of its images among the inputs is refused");
  cmd->add_option("--question", config->question, "The question asked about each image")->capture_default_str();
  cmd->add_flag("--unpaired", config->unpaired, "Each base image used once (disjoint images per label), as the paper");
  cmd->add_option("--seed", config->seed, "Random seed")->capture_default_str();
  cmd->add_option("--style", *style, "text, identicon or both")->capture_default_str();
  cmd->add_option("--placement", *placement, "random: anywhere it fits (the paper); top-left or center: always there")->capture_default_str();
  cmd->add_option("--fields", config->watermark.fields, "Profile fields to draw, in order")->delimiter(',')->capture_default_str();
  cmd->add_flag("!--no-field-names", config->watermark.field_names, "Draw each field's value alone, without \"key: \"");
  cmd->add_option("--opacity", config->watermark.opacity, "Opacity of the watermark")->capture_default_str();
  cmd->add_option("--font", config->watermark.font, "TrueType/OpenType font (default: DejaVu Sans Mono)");
  cmd->add_option("--font-size", config->watermark.font_size, "Font size in pixels (default: 1/40 of the shorter side, at least 8)");
  cmd->add_option("--jobs", config->jobs, "Worker threads (0: all cores); the output does not depend on it")->capture_default_str();
  cmd->add_option("--max-pixels", config->max_pixels, "Refuse images whose header declares more pixels")->capture_default_str();

  cmd->callback([config, style, placement] {
    config->watermark.style = parse_watermark_style(*style);
    config->watermark.placement = parse_watermark_placement(*placement);
    const ProbesetResult r = run_probeset(*config);
    std::string pairing = config->unpaired ? "unpaired" : r.length_matched ? "paired, length-matched twins" : "paired, random twins";
    std::printf("probeset: %zu samples from %zu base images (%s) in %s\n", r.samples, r.base_images, pairing.c_str(),
                config->out.string().c_str());
  });
}

}  // namespace privprobe::cli
