// The training set: every row of the LLaVA JSON tokenized up front (answer-only labels, image
// tokens expanded), each image checked once by decoding it (and then dropped: images are decoded
// again per batch, so memory stays bounded by a batch), and each row's watermark status and clean
// source taken from the embed manifest.
//
// Manifest matching: a row's image (image_root / image) must be some manifest row's output
// (manifest folder / output), compared as canonical paths; the row is watermarked when that
// manifest row names a profile, and its clean source is source_root / source. By default the
// manifest is manifest.jsonl beside the data file and source_root is the input root recorded in
// embed_config.json beside the manifest.
//
// Bad rows (missing image, no assistant turn, undecodable image, <image> without an image, an image
// without <image>, a sequence longer than the model's context) throw an error naming the file, the
// sample and the reason, or with OnError::kSkip are dropped and listed in `skipped`. A manifest that
// does not describe a row's image always stops: it belongs to other data.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "data/llava_json.h"
#include "embed/embed.h"
#include "model/chat_template.h"
#include "text/sentencepiece_tokenizer.h"

namespace privprobe {

struct TrainRow {
  std::size_t index = 0;  // position in the data file
  std::string id;
  std::string image;                 // as written in the data ("" for a text-only row)
  std::filesystem::path image_path;  // resolved under the image root
  bool watermarked = false;
  std::filesystem::path clean_path;  // watermarked rows with a known source: the clean image
  std::vector<std::int64_t> input_ids, labels;
  int label_tokens = 0;

  bool has_image() const { return !image.empty(); }
};

struct SkippedRow {
  std::size_t index = 0;
  std::string id;
  std::string reason;
};

struct TrainDataOptions {
  std::filesystem::path data;  // names the file in errors
  std::filesystem::path image_root;
  std::string manifest;  // "", "none" or a path (see TrainConfig)
  std::filesystem::path source_root;
  bool need_sources = false;  // dynamics: every watermarked row must have its clean source on disk
  OnError on_error = OnError::kFail;
  int jobs = 0;  // threads for the image check
};

struct TrainTokenization {
  const SentencePieceTokenizer* tokenizer = nullptr;
  ChatTemplate chat;
  int image_tokens = 0;
  int image_token_id = -1;
  int max_length = 0;  // max_position_embeddings
};

struct TrainDataset {
  std::vector<TrainRow> rows;
  std::vector<SkippedRow> skipped;
  std::filesystem::path manifest;     // the manifest used, or empty
  std::filesystem::path source_root;  // where clean sources were found, or empty

  std::size_t watermarked() const;
  std::size_t text_only() const;
  std::vector<bool> watermark_flags() const;
};

// Throws DataError (empty dataset, bad rows, manifest mismatch), IoError (manifest or image missing)
// or FormatError (undecodable image, malformed manifest) naming the file and the row.
TrainDataset load_train_dataset(const std::vector<LlavaSample>& samples, const TrainDataOptions& options,
                                const TrainTokenization& tokenization);

// The text the tiny model's tokenizer is trained on: every turn of every sample, prompts in the
// template's shape ("USER: ... ASSISTANT:"), one sentence a line.
std::vector<std::string> tokenizer_corpus_lines(const std::vector<LlavaSample>& samples, const ChatTemplate& chat);

}  // namespace privprobe
