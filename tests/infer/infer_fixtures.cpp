#include "infer_fixtures.h"

#include "model/checkpoint.h"
#include "probeset/probeset.h"
#include "probeset_fixtures.h"
#include "text/sentencepiece_model.h"

namespace fs = std::filesystem;

namespace privprobe::test {

void write_tiny_checkpoint(const fs::path& folder, int seed) {
  BpeModelSpec spec;
  spec.pieces.emplace_back("\xE2\x96\x81", 0.0f);  // the word boundary
  for (char c = '!'; c <= '~'; ++c) spec.pieces.emplace_back(std::string(1, c), 0.0f);
  const fs::path tokenizer_file = folder.parent_path() / (folder.filename().string() + "_tokenizer.model");
  fs::create_directories(folder.parent_path());
  write_sentencepiece_model(tokenizer_file, build_bpe_model(spec));
  const auto tokenizer = SentencePieceTokenizer::load(tokenizer_file);

  LlavaConfig c = tiny_llava_config();  // template "tiny", <image> = 4
  c.vision.hidden_size = 16;
  c.vision.intermediate_size = 32;
  c.vision.num_hidden_layers = 2;
  c.vision.num_attention_heads = 2;
  c.vision.image_size = 32;
  c.vision.patch_size = 16;
  c.text.vocab_size = tokenizer.vocab_size();
  c.text.hidden_size = 16;
  c.text.intermediate_size = 24;
  c.text.num_hidden_layers = 2;
  c.text.num_attention_heads = 2;
  c.text.num_key_value_heads = 1;
  c.text.head_dim = 8;
  torch::manual_seed(static_cast<std::uint64_t>(seed));
  LlavaForConditionalGeneration model(c);
  save_checkpoint(folder, model, c, tokenizer_file, tokenizer, ImageProcessorConfig::for_size(32), {{"seed", seed}});
}

fs::path write_tiny_probeset(const fs::path& dir, int groups, const std::string& name) {
  const ProbesetInputs inputs = write_probeset_inputs(dir / (name + "_inputs"), groups, 200, 120);
  run_probeset(probeset_config(inputs, dir / name));
  return dir / name / kProbesetFile;
}

}  // namespace privprobe::test
