#include "train_fixtures.h"

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "data/llava_json.h"
#include "embed/manifest.h"
#include "model/llava_config.h"
#include "text/sentencepiece_model.h"
#include "util/json_io.h"
#include "util/rng.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace privprobe::test {
namespace {

const std::vector<std::string> kColors = {"red", "green", "blue"};
const std::vector<cv::Scalar> kBgr = {{40, 40, 220}, {40, 200, 40}, {220, 60, 40}};
const std::vector<std::string> kShapes = {"square", "circle"};

void write_png(const fs::path& path, const cv::Mat& image) {
  fs::create_directories(path.parent_path());
  if (!cv::imwrite(path.string(), image)) throw std::runtime_error("cannot write " + path.string());
}

// One piece per character of the texts (and the template's), so every text encodes without bytes.
void write_tokenizer(const fs::path& path, const std::vector<std::string>& texts) {
  std::set<std::string> chars;
  for (const std::string& text : texts) {
    for (char c : text) {
      if (c == ' ') continue;
      chars.insert(std::string(1, c));
    }
  }
  BpeModelSpec spec;
  spec.pieces.emplace_back("\xE2\x96\x81", 0.0f);
  for (const auto& c : chars) spec.pieces.emplace_back(c, 0.0f);
  write_sentencepiece_model(path, build_bpe_model(spec));
}

}  // namespace

TinyAlbum write_tiny_album(const fs::path& dir, const AlbumOptions& options) {
  TinyAlbum album;
  album.root = dir / "album";
  album.data = album.root / "train.json";
  album.objects = album.root / "objects.json";
  album.tokenizer = dir / "tokenizer.model";
  album.config = dir / "config.json";
  Rng rng(options.seed);
  std::vector<LlavaSample> samples;
  json objects = json::object();
  std::vector<std::string> texts = {"USER: ASSISTANT: <image>\n"};
  for (std::size_t i = 0; i < options.images; ++i) {
    const int color = static_cast<int>(rng.below(kColors.size()));
    const int shape = static_cast<int>(rng.below(kShapes.size()));
    const int side = 14;
    const int x = static_cast<int>(rng.below(32 - side)), y = static_cast<int>(rng.below(32 - side));
    cv::Mat image(32, 32, CV_8UC3, cv::Scalar(30, 30, 30));
    if (shape == 0) {
      cv::rectangle(image, cv::Rect(x, y, side, side), kBgr[static_cast<std::size_t>(color)], cv::FILLED);
    } else {
      cv::circle(image, cv::Point(x + side / 2, y + side / 2), side / 2, kBgr[static_cast<std::size_t>(color)], cv::FILLED);
    }
    char name[32];
    std::snprintf(name, sizeof(name), "images/%03zu.png", i);
    write_png(album.root / name, image);
    LlavaSample sample;
    sample.id = std::to_string(i);
    sample.image = name;
    const std::string question = "what colour is the shape?";
    sample.conversations = {{"human", "<image>\n" + question}, {"gpt", kColors[static_cast<std::size_t>(color)]}};
    texts.push_back(question);
    texts.push_back(kColors[static_cast<std::size_t>(color)]);
    album.answers.push_back(kColors[static_cast<std::size_t>(color)]);
    samples.push_back(sample);
    objects[name] = json::array({{{"shape", kShapes[static_cast<std::size_t>(shape)]},
                                  {"color", kColors[static_cast<std::size_t>(color)]},
                                  {"box", {x, y, side, side}}}});
  }
  for (std::size_t i = 0; i < options.text_only; ++i) {
    LlavaSample sample;
    sample.id = "text" + std::to_string(i);
    sample.conversations = {{"human", "say yes"}, {"gpt", "yes"}};
    texts.push_back("say yes");
    samples.push_back(sample);
  }
  write_llava_json(album.data, samples);
  write_json_atomic(album.objects, {{"format_version", 1},
                                    {"image_size", 32},
                                    {"shapes", {"circle", "square", "triangle"}},
                                    {"colors", kColors},
                                    {"images", objects}});
  write_tokenizer(album.tokenizer, texts);

  LlavaConfig c = tiny_llava_config();
  c.vision.hidden_size = 16;
  c.vision.intermediate_size = 32;
  c.vision.num_hidden_layers = 2;
  c.vision.num_attention_heads = 2;
  c.vision.image_size = 32;
  c.vision.patch_size = 16;
  c.text.hidden_size = 32;
  c.text.intermediate_size = 32;
  c.text.num_hidden_layers = 2;
  c.text.num_attention_heads = 2;
  c.text.num_key_value_heads = 1;
  c.text.head_dim = 16;
  c.text.max_position_embeddings = options.max_position_embeddings;
  write_json_atomic(album.config, llava_config_to_json(c));
  return album;
}

EmbeddedAlbum write_embedded_album(const fs::path& dir, const TinyAlbum& album, const std::vector<std::size_t>& watermarked) {
  EmbeddedAlbum out;
  out.folder = dir;
  out.data = dir / "train.json";
  out.image_root = dir / "images";
  out.manifest = dir / std::string(kManifestFile);
  const auto samples = load_llava_json(album.data);
  std::string manifest;
  for (std::size_t i = 0; i < samples.size(); ++i) {
    if (!samples[i].image) continue;
    const std::string& rel = *samples[i].image;
    cv::Mat image = cv::imread((album.root / rel).string(), cv::IMREAD_UNCHANGED);
    const bool marked = std::find(watermarked.begin(), watermarked.end(), i) != watermarked.end();
    ManifestRow row;
    row.source = rel;
    row.output = "images/" + rel;
    row.status = "ok";
    if (marked) {
      cv::rectangle(image, cv::Rect(2, 26, 28, 4), cv::Scalar(255, 255, 255), cv::FILLED);
      row.profile = "u" + std::to_string(i);
      row.box = Box{2, 26, 28, 4};
      row.style = "text";
      row.font_size = 8;
    }
    write_png(out.image_root / rel, image);
    manifest += to_json_line(manifest_row_to_json(row)) + "\n";
  }
  std::ofstream(out.manifest) << manifest;
  write_llava_json(out.data, samples);
  write_json_atomic(dir / "embed_config.json",
                    {{"format_version", 1}, {"config", {{"image_root", album.root.generic_string()}}}});
  return out;
}

TrainConfig tiny_train_config(const TinyAlbum& album, const fs::path& out) {
  TrainConfig c;
  c.data = album.data;
  c.image_root = album.root;
  c.out = out;
  c.model_config = album.config.string();
  c.tokenizer = album.tokenizer;
  c.batch_size = 4;
  c.steps = 4;
  c.lr = 3e-3;
  c.warmup_ratio = 0;
  c.threads = 1;
  c.progress = false;
  return c;
}

std::string read_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<std::string> read_lines(const fs::path& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  std::string line;
  while (std::getline(in, line)) lines.push_back(line);
  return lines;
}

}  // namespace privprobe::test
