// The small LLaVA configurations the model, training and checkpoint tests build: a 32x32 image in
// 4 patches, a 40-token vocabulary, head size 8, grouped-query attention (half as many key/value
// heads as query heads). Tests that need another shape adjust the fields they care about.
#pragma once

#include "model/llava_config.h"

namespace privprobe::test {

inline LlavaConfig small_llava_config(int width = 16, int vision_layers = 2, int text_layers = 2) {
  LlavaConfig c = tiny_llava_config();
  c.vision.hidden_size = width;
  c.vision.intermediate_size = 2 * width;
  c.vision.num_hidden_layers = vision_layers;
  c.vision.num_attention_heads = 2;
  c.vision.image_size = 32;
  c.vision.patch_size = 16;  // 4 image tokens
  c.text.vocab_size = 40;
  c.text.hidden_size = width;
  c.text.intermediate_size = 3 * width / 2;
  c.text.num_hidden_layers = text_layers;
  c.text.head_dim = 8;
  c.text.num_attention_heads = width / 8;
  c.text.num_key_value_heads = width / 16;
  c.image_token_index = 4;
  return c;
}

}  // namespace privprobe::test
