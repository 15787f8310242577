// The tokenizer of a Hugging Face checkpoint folder (llava-hf layout): the SentencePiece
// tokenizer.model, plus the tokens Hugging Face adds on top of it ("<image>" = 32000 and
// "<pad>" = 32001 in llava-1.5-hf), which never appear in tokenizer.model.
#pragma once

#include <filesystem>

#include "text/sentencepiece_tokenizer.h"

namespace privprobe {

// Reads folder/tokenizer.model, then added tokens from folder/added_tokens.json ({"<image>": 32000})
// and folder/tokenizer_config.json ("added_tokens_decoder": {"32000": {"content": "<image>",
// "lstrip": false, "rstrip": false, ...}}), both optional and merged; from tokenizer_config.json also
// "legacy" (default true, as Hugging Face), "add_bos_token", "add_eos_token" and the names in
// "bos_token", "eos_token", "pad_token".
// Throws IoError when tokenizer.model is missing, FormatError naming the file when the folder has
// only tokenizer.json (a format privprobe does not read), when tokenizer_config.json names a
// tokenizer class outside the Llama family, or when either JSON file is malformed or contradicts
// the model.
SentencePieceTokenizer load_hf_tokenizer(const std::filesystem::path& folder);

}  // namespace privprobe
