// `privprobe embed`: watermark a dataset at rate r (see src/embed/embed.h).
#include <cstdio>
#include <memory>
#include <string>

#include "commands.h"
#include "embed/embed.h"

namespace privprobe::cli {

void register_embed(CLI::App& app) {
  auto* cmd = app.add_subcommand("embed", "Watermark a dataset's images with private profiles at rate r");
  auto config = std::make_shared<EmbedConfig>();
  auto style = std::make_shared<std::string>("text");
  auto placement = std::make_shared<std::string>("random");
  auto on_error = std::make_shared<std::string>("fail");

  auto* data = cmd->add_option("--data", config->data, "LLaVA JSON whose image paths are relative to --image-root");
  auto* root = cmd->add_option("--image-root", config->image_root, "Folder the JSON's image paths are relative to");
  auto* images = cmd->add_option("--images", config->images, "A plain folder of images (jpg, png, webp, bmp), searched recursively");
  data->needs(root);
  root->needs(data);
  images->excludes(data)->excludes(root);
  cmd->add_option("--profiles", config->profiles, "Profile set (JSONL) to draw from")->required();
  cmd->add_option("--rate", config->rate, "Probability that an image is watermarked")->required()->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--out", config->out, "Output folder (a rerun with the same settings resumes)")->required();
  cmd->add_option("--seed", config->seed, "Random seed")->capture_default_str();
  cmd->add_option("--fields", config->watermark.fields, "Profile fields to draw, in order")
      ->delimiter(',')
      ->capture_default_str();
  cmd->add_flag("!--no-field-names", config->watermark.field_names, "Draw each field's value alone, without \"key: \"");
  cmd->add_option("--opacity", config->watermark.opacity, "Opacity of the watermark")->capture_default_str();
  cmd->add_option("--font", config->watermark.font, "TrueType/OpenType font (default: DejaVu Sans Mono)");
  cmd->add_option("--font-size", config->watermark.font_size, "Font size in pixels (default: 1/40 of the shorter side, at least 8)");
  cmd->add_option("--style", *style, "text, identicon or both")->capture_default_str();
  cmd->add_option("--placement", *placement, "random: anywhere it fits (the paper); top-left or center: always there")->capture_default_str();
  cmd->add_option("--jobs", config->jobs, "Worker threads (0: all cores); the output does not depend on it")
      ->capture_default_str();
  cmd->add_option("--on-error", *on_error, "fail: stop at the first bad image; skip: record it and go on")
      ->capture_default_str();
  cmd->add_option("--max-pixels", config->max_pixels, "Refuse images whose header declares more pixels")
      ->capture_default_str();
  cmd->add_flag("!--no-verify-copies", config->verify_copies,
                "Copy unwatermarked images after a header check only, without decoding them (faster; corrupt data goes unnoticed)");

  cmd->callback([config, style, placement, on_error] {
    config->watermark.style = parse_watermark_style(*style);
    config->watermark.placement = parse_watermark_placement(*placement);
    config->on_error = parse_on_error(*on_error);
    const EmbedResult result = run_embed(*config);
    std::printf("%s\n", embed_summary(result, config->rate).c_str());
  });
}

}  // namespace privprobe::cli
