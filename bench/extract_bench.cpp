// extract throughput and the cost of capturing every layer's state.
//
//   extract_bench setup DIR N [CONFIG]   write a random checkpoint (CONFIG: tiny (default) or bench,
//                                        model/llava_config.h) and a paired probe set of N samples
//   extract_bench extract DIR [B] [T]    time `extract` on it (batch B, T threads): samples/s
//   extract_bench overhead DIR [B] [T]   time the forward pass alone with and without capture
//                                        (every language state at the last prompt token)
// Peak memory: run `extract` under /usr/bin/time -v for two N (bench/extract_bench.sh does).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "infer/extract.h"
#include "infer/inference.h"
#include "model/capture.h"
#include "probeset/probeset.h"
#include "profiles/profile.h"
#include "text/sentencepiece_model.h"
#include "util/atomic_file.h"
#include "util/error.h"
#include "util/rng.h"

#include <opencv2/core.hpp>

namespace fs = std::filesystem;
using namespace privprobe;

namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

void setup(const fs::path& dir, int samples, const std::string& config_name) {
  BpeModelSpec spec;
  spec.pieces.emplace_back("\xE2\x96\x81", 0.0f);
  for (char c = '!'; c <= '~'; ++c) spec.pieces.emplace_back(std::string(1, c), 0.0f);
  fs::create_directories(dir);
  write_sentencepiece_model(dir / "tokenizer.model", build_bpe_model(spec));
  const auto tokenizer = SentencePieceTokenizer::load(dir / "tokenizer.model");
  LlavaConfig config = resolve_llava_config(config_name);
  config.text.vocab_size = tokenizer.vocab_size();
  torch::manual_seed(0);
  LlavaForConditionalGeneration model(config);
  save_checkpoint(dir / "ckpt", model, config, dir / "tokenizer.model", tokenizer,
                  ImageProcessorConfig::for_size(config.vision.image_size), {{"bench", true}});

  const int size = config.vision.image_size;
  Rng rng(1);
  for (int i = 0; i < samples / 2; ++i) {
    cv::Mat image(size, size, CV_8UC3);
    for (int y = 0; y < size; ++y) {
      for (int x = 0; x < size; ++x) {
        image.at<cv::Vec3b>(y, x) = cv::Vec3b(static_cast<uchar>(rng.below(256)), static_cast<uchar>(x), static_cast<uchar>(y));
      }
    }
    const fs::path path = dir / "images" / ("img_" + std::to_string(i) + ".png");
    write_file_atomic(path, encode_image(image, ImageFormat::kPng, path));
  }
  std::vector<Profile> seen, unseen;
  for (int i = 0; i < 5; ++i) {
    Profile p;
    p.id = std::to_string(i);
    p.username = std::string("user") + static_cast<char>('a' + i);
    p.user_id = 1000000000 + i;
    p.gender = "female";
    p.age = 30;
    p.capture_time = "2024-01-01 10:00:00";
    p.capture_location = "Oslo, Norway";
    seen.push_back(p);
    p.username[0] = 'U';
    p.user_id += 100;
    unseen.push_back(p);
  }
  write_profiles(dir / "u1.jsonl", seen);
  write_profiles(dir / "u2.jsonl", unseen);
  ProbesetConfig ps;
  ps.images = dir / "images";
  ps.seen = dir / "u1.jsonl";
  ps.unseen = dir / "u2.jsonl";
  ps.out = dir / "probeset";
  ps.watermark.style = WatermarkStyle::kIdenticon;  // fits any image size
  const ProbesetResult r = run_probeset(ps);
  std::printf("setup: %s checkpoint, %zu samples in %s\n", config_name.c_str(), r.samples, dir.string().c_str());
}

void extract(const fs::path& dir, int batch, int threads) {
  ExtractConfig c;
  c.model = dir / "ckpt";
  c.probeset = dir / "probeset" / kProbesetFile;
  c.out = dir / "acts.safetensors";
  c.batch_size = batch;
  c.inference.threads = threads;
  const ExtractResult r = run_extract(c);
  std::printf("extract: %lld samples, batch %d, %d threads: %.2f s, %.1f samples/s\n", static_cast<long long>(r.samples),
              batch, threads, r.seconds, static_cast<double>(r.samples) / r.seconds);
}

void overhead(const fs::path& dir, int batch, int threads) {
  InferenceOptions options;
  options.threads = threads;
  InferenceModel m = open_inference_model(dir / "ckpt", options);
  const ProbeSet set = load_probeset(dir / "probeset" / kProbesetFile);
  const TokenizedInputs prompt = m.question(set.question, true);
  std::vector<LlavaBatch> batches;
  std::vector<torch::Tensor> weights;
  for (std::size_t first = 0; first < set.samples.size(); first += static_cast<std::size_t>(batch)) {
    std::vector<BatchRow> rows;
    for (std::size_t i = first; i < std::min(set.samples.size(), first + static_cast<std::size_t>(batch)); ++i) {
      rows.push_back({&prompt, m.image(set.samples[i].image_path)});
    }
    batches.push_back(left_padded_batch(m, rows));
    weights.push_back(capture_weights(CapturePosition{}, batches.back().input_ids, batches.back().attention_mask,
                                      std::vector<std::int64_t>(rows.size(), static_cast<std::int64_t>(prompt.prompt_length)),
                                      m.image_token_id()));
  }
  torch::NoGradGuard no_grad;
  // Each batch is run plain and with capture, alternately, several rounds; each batch keeps its
  // fastest time per kind, which filters out other processes on a shared machine.
  std::vector<double> plain(batches.size(), 1e30), captured(batches.size(), 1e30);
  for (int round = 0; round < 7; ++round) {
    for (std::size_t k = 0; k < batches.size(); ++k) {
      // Which kind runs first alternates, so neither always follows the other.
      for (int kind = 0; kind < 2; ++kind) {
        const bool capture = (kind + round) % 2 == 1;
        ForwardOptions fo;
        if (capture) fo.capture_weights = weights[k];
        const auto start = std::chrono::steady_clock::now();
        m.model()->forward(batches[k], fo);
        double& best = capture ? captured[k] : plain[k];
        best = std::min(best, seconds_since(start));
      }
    }
  }
  double plain_total = 0, capture_total = 0;
  for (std::size_t k = 0; k < batches.size(); ++k) {
    plain_total += plain[k];
    capture_total += captured[k];
  }
  // The rest of extract's per-sample work: reading and preprocessing the images.
  double load = 1e30;
  for (int round = 0; round < 3; ++round) {
    const auto start = std::chrono::steady_clock::now();
    for (const auto& s : set.samples) m.image(s.image_path);
    load = std::min(load, seconds_since(start));
  }
  const double n = static_cast<double>(set.samples.size());
  std::printf("forward (best of 7 per batch of %d): plain %.1f samples/s, with capture %.1f samples/s, capture overhead %.1f %%\n",
              batch, n / plain_total, n / capture_total, 100.0 * (capture_total - plain_total) / plain_total);
  std::printf("image loading and preprocessing: %.2f ms per sample\n", 1000.0 * load / n);
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const std::vector<std::string> args(argv + 1, argv + argc);
    if (args.size() >= 3 && args[0] == "setup") {
      setup(args[1], std::stoi(args[2]), args.size() > 3 ? args[3] : "tiny");
    } else if (args.size() >= 2 && (args[0] == "extract" || args[0] == "overhead")) {
      const int batch = args.size() > 2 ? std::stoi(args[2]) : 8;
      const int threads = args.size() > 3 ? std::stoi(args[3]) : 0;
      (args[0] == "extract" ? extract : overhead)(args[1], batch, threads);
    } else {
      std::fprintf(stderr, "usage: extract_bench setup DIR N [tiny|bench] | extract DIR [B] [T] | overhead DIR [B] [T]\n");
      return 2;
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "extract_bench: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
