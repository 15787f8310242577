// Conversation -> token ids and labels. Named templates, recorded in the checkpoint:
//   vicuna_v1  "<system> USER: <image>\n{q} ASSISTANT: {a}</s>USER: {q2} ASSISTANT: {a2}</s>"
//              (LLaVA's training template, system prompt as in DESIGN.md)
//   llava_hf   "USER: <image>\n{q} ASSISTANT: {a}</s>" (the llava-hf model cards; no system prompt)
//   tiny       the llava_hf layout, for the embedded tiny model
// Each prompt part ("USER: ... ASSISTANT:") and each answer is encoded separately, so the
// boundary between what the model reads and what it must predict is exact; labels are
// kIgnoreIndex everywhere except the answers and the end-of-sequence token that closes each one.
// One <image> in the text becomes `image_tokens` copies of the image token id.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "data/llava_json.h"
#include "text/sentencepiece_tokenizer.h"

namespace privprobe {

struct ChatTemplate {
  std::string name;
  std::string system;  // empty: no system prompt
  std::string user_role = "USER";
  std::string assistant_role = "ASSISTANT";
};

// Throws ConfigError for an unknown name.
ChatTemplate chat_template(const std::string& name);

struct TokenizedInputs {
  std::vector<int64_t> input_ids;
  std::vector<int64_t> labels;     // same length; -100 where no loss
  int images = 0;                  // number of <image> placeholders expanded
  std::size_t prompt_length = 0;   // tokens up to and including the last "ASSISTANT:" (generation and capture)
  std::string prompt_text;         // the rendered text of the whole sequence, for metadata
};

struct TokenizeOptions {
  int image_tokens = 0;        // copies of the image token per <image>
  int image_token_id = -1;
  bool add_bos = true;
  // Drop the last assistant answer and end with "ASSISTANT:", ready for generation or capture.
  bool generation_prompt = false;
};

// Tokenizes a LLaVA conversation (alternating human / gpt turns, human first). Throws DataError
// naming `where` for a conversation that does not alternate or has no human turn.
TokenizedInputs tokenize_conversation(const SentencePieceTokenizer& tokenizer, const ChatTemplate& chat,
                                      const std::vector<Turn>& turns, const TokenizeOptions& options,
                                      const std::string& where);

// Prompt for a single question followed by a given answer (teacher forcing): labels on the
// answer and its end token only.
TokenizedInputs tokenize_question(const SentencePieceTokenizer& tokenizer, const ChatTemplate& chat,
                                  const std::string& question, const std::string& answer, bool with_image,
                                  const TokenizeOptions& options);

}  // namespace privprobe
