// Tiny training fixtures written by the tests: 32x32 PNG scenes of one coloured shape, a LLaVA JSON
// asking its colour, a character-level BPE tokenizer, a tiny model config (patch 16: 4 image
// tokens, widths 16-32, two layers each), objects.json, and an "embedded" copy with a manifest.
#pragma once

#include <cstddef>
#include <filesystem>
#include <string>
#include <vector>

#include "train/train_config.h"

namespace privprobe::test {

struct TinyAlbum {
  std::filesystem::path root;       // image root (images/NNN.png)
  std::filesystem::path data;       // train.json
  std::filesystem::path objects;    // objects.json
  std::filesystem::path tokenizer;  // tokenizer.model
  std::filesystem::path config;     // config.json of the tiny model
  std::vector<std::string> answers;
};

struct AlbumOptions {
  std::size_t images = 8;
  std::size_t text_only = 0;  // extra rows without an image
  std::uint64_t seed = 1;
  int max_position_embeddings = 512;
};

TinyAlbum write_tiny_album(const std::filesystem::path& dir, const AlbumOptions& options = {});

// An embed-like output of `album` in dir: images/<album-relative path> (watermarked ones get a
// white bar), train.json, manifest.jsonl and embed_config.json naming album.root as input root.
// Rows whose index is in `watermarked` are watermarked. Returns the folder.
struct EmbeddedAlbum {
  std::filesystem::path folder;
  std::filesystem::path data;        // folder/train.json
  std::filesystem::path image_root;  // folder/images
  std::filesystem::path manifest;
};
EmbeddedAlbum write_embedded_album(const std::filesystem::path& dir, const TinyAlbum& album,
                                   const std::vector<std::size_t>& watermarked);

// A pretraining config on the album: batch 4, 1 thread, no progress, tokenizer given.
TrainConfig tiny_train_config(const TinyAlbum& album, const std::filesystem::path& out);

// Every file of a checkpoint folder's model.safetensors as bytes (for bit-identity checks).
std::string read_bytes(const std::filesystem::path& path);

// Lines of a text file.
std::vector<std::string> read_lines(const std::filesystem::path& path);

}  // namespace privprobe::test
