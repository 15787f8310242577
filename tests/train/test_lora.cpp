// LoRA: where adapters go, that they change nothing until trained and train alone, merging
// (W + scale * B A), PEFT's adapter folder layout round trip, and bad adapter folders.
#include <gtest/gtest.h>

#include <functional>
#include <map>

#include "io/safetensors.h"
#include "io/safetensors_writer.h"
#include "model/weights.h"
#include "support/test_support.h"
#include "train/lora.h"
#include "support/small_llava.h"
#include "util/error.h"
#include "util/json_io.h"

namespace fs = std::filesystem;

namespace privprobe {
namespace {

LlavaConfig small_config() { return test::small_llava_config(16, 1, 2); }

LlavaForConditionalGeneration base_model() {
  torch::manual_seed(0);
  LlavaForConditionalGeneration model(small_config());
  model->eval();
  return model;
}

LlavaBatch batch() {
  auto ids = torch::tensor({1, 4, 4, 4, 4, 7, 8, 9, 10, 11}, torch::kInt64).view({1, -1});
  auto labels = ids.clone();
  labels.narrow(1, 0, 7).fill_(kIgnoreIndex);
  torch::manual_seed(42);
  return {ids, torch::ones_like(ids), torch::randn({1, 3, 32, 32}), labels};
}

torch::Tensor logits(LlavaForConditionalGeneration& model) {
  torch::NoGradGuard no_grad;
  ForwardOptions options;
  options.logits = true;
  return model->forward(batch(), options).logits;
}

std::map<std::string, torch::Tensor> snapshot(LlavaForConditionalGeneration& model) {
  std::map<std::string, torch::Tensor> out;
  for (const auto& item : model->named_parameters()) out[item.key()] = item.value().detach().clone();
  return out;
}

// A few SGD steps on the batch, so lora_B (and then lora_A) leave their initial values.
void train_steps(LlavaForConditionalGeneration& model, int steps) {
  std::vector<torch::Tensor> trainable;
  for (auto& p : model->parameters()) {
    if (p.requires_grad()) trainable.push_back(p);
  }
  torch::optim::SGD optimizer(trainable, torch::optim::SGDOptions(0.5));
  model->train();
  for (int i = 0; i < steps; ++i) {
    optimizer.zero_grad();
    model->forward(batch(), {}).loss.backward();
    optimizer.step();
  }
  model->eval();
}

LoraConfig config_qv() {
  LoraConfig c;
  c.rank = 2;
  c.alpha = 8;
  c.dropout = 0.0;
  c.targets = {"q_proj", "v_proj"};
  return c;
}

TEST(Lora, AdaptersGoToTheTargetsUnderTheScope) {
  auto model = base_model();
  LoraConfig all;
  all.rank = 4;
  const auto paths = apply_lora(model, all);
  EXPECT_EQ(paths.size(), 2u * 7u);  // 2 layers x 7 projections, none in the vision tower
  EXPECT_EQ(paths.front(), "language_model.model.layers.0.self_attn.q_proj");
  for (const auto& p : paths) EXPECT_EQ(p.rfind("language_model.", 0), 0u) << p;

  auto other = base_model();
  LoraConfig vision = config_qv();
  vision.scope = "vision_tower";
  EXPECT_EQ(apply_lora(other, vision).size(), 2u);  // q_proj and v_proj of its one layer
  bool found = false;
  for (const auto& item : other->named_parameters()) {
    found |= item.key() == "vision_tower.vision_model.encoder.layers.0.self_attn.q_proj.lora_A.weight";
  }
  EXPECT_TRUE(found);
}

TEST(Lora, BadConfigsAreRejected) {
  auto model = base_model();
  LoraConfig c = config_qv();
  c.targets = {"q_proj", "qproj"};
  EXPECT_THROW(apply_lora(model, c), ConfigError);
  for (const auto& item : model->named_parameters()) EXPECT_EQ(item.key().find("lora_"), std::string::npos) << "model changed";
  c = config_qv();
  c.rank = 0;
  EXPECT_THROW(apply_lora(model, c), ConfigError);
  c = config_qv();
  c.alpha = 0;
  EXPECT_THROW(c.validate(), ConfigError);
  c = config_qv();
  c.dropout = 1.0;
  EXPECT_THROW(c.validate(), ConfigError);
  c = config_qv();
  c.targets = {};
  EXPECT_THROW(c.validate(), ConfigError);
  c = config_qv();
  c.targets = {"self_attn.q_proj"};
  EXPECT_THROW(c.validate(), ConfigError);
  c = config_qv();
  c.scope = "language_model.";
  EXPECT_THROW(c.validate(), ConfigError);
  c.scope = "language..model";
  EXPECT_THROW(c.validate(), ConfigError);
  c.scope = "language_model.model";
  EXPECT_NO_THROW(c.validate());
  c = config_qv();
  c.rank = -1;
  EXPECT_THROW(c.validate(), ConfigError);
  EXPECT_THROW(freeze_all_but_lora(model, false), ConfigError);  // no adapters yet
  apply_lora(model, config_qv());
  EXPECT_THROW(apply_lora(model, config_qv()), ConfigError);  // already adapted
}

TEST(Lora, AdaptersChangeNothingBeforeTraining) {
  auto model = base_model();
  const auto before = logits(model);
  LoraConfig c;
  c.rank = 4;
  c.dropout = 0.1;
  apply_lora(model, c);
  EXPECT_TRUE(torch::equal(logits(model), before));
}

TEST(Lora, AnOptimizerStepChangesOnlyAdapterParameters) {
  auto model = base_model();
  apply_lora(model, config_qv());
  freeze_all_but_lora(model, /*train_projector=*/false);
  const auto before = snapshot(model);
  train_steps(model, 1);
  int changed_b = 0;
  for (const auto& item : model->named_parameters()) {
    const std::string& name = item.key();
    const bool same = torch::equal(item.value(), before.at(name));
    const bool lora = name.find(".lora_") != std::string::npos;
    EXPECT_EQ(item.value().requires_grad(), lora) << name;
    if (!lora) {
      EXPECT_TRUE(same) << name;
    }
    if (name.find(".lora_B.") != std::string::npos && !same) ++changed_b;
  }
  EXPECT_EQ(changed_b, 4);  // 2 layers x (q_proj, v_proj)

  freeze_all_but_lora(model, /*train_projector=*/true);
  EXPECT_TRUE(model->multi_modal_projector->linear_1->weight.requires_grad());
  EXPECT_FALSE(model->vision_tower->parameters().front().requires_grad());
}

TEST(Lora, MergedModelEqualsBasePlusScaledBA) {
  auto model = base_model();
  apply_lora(model, config_qv());
  freeze_all_but_lora(model, false);
  train_steps(model, 3);
  const auto adapted = logits(model);

  std::map<std::string, torch::Tensor> expected;
  for (const auto& item : model->named_modules("", false)) {
    if (auto* linear = item.value()->as<LinearImpl>(); linear && linear->has_lora()) {
      EXPECT_DOUBLE_EQ(linear->lora_scale(), 4.0);  // alpha 8 / r 2
      ASSERT_GT(linear->lora_B->weight.abs().max().item<double>(), 0.0);
      expected[item.key()] =
          (linear->weight + 4.0 * torch::matmul(linear->lora_B->weight, linear->lora_A->weight)).detach();
    }
  }
  ASSERT_EQ(expected.size(), 4u);
  merge_lora(model);
  for (const auto& item : model->named_modules("", false)) {
    if (auto* linear = item.value()->as<LinearImpl>()) {
      EXPECT_FALSE(linear->has_lora()) << item.key();
      if (expected.count(item.key())) {
        EXPECT_TRUE(torch::allclose(linear->weight, expected[item.key()], 1e-6, 1e-7)) << item.key();
      }
    }
  }
  for (const auto& item : model->named_parameters()) EXPECT_EQ(item.key().find("lora_"), std::string::npos) << item.key();
  EXPECT_TRUE(torch::allclose(logits(model), adapted, 1e-4, 1e-5));
}

TEST(Lora, SaveAndLoadReproduceTheAdaptedModel) {
  test::TempDir dir("lora");
  auto model = base_model();
  const LoraConfig c = config_qv();
  apply_lora(model, c);
  freeze_all_but_lora(model, /*train_projector=*/true);
  train_steps(model, 2);
  const auto adapted = logits(model);
  save_lora_adapter(dir / "adapter", model, c, "/models/base");
  EXPECT_TRUE(is_lora_adapter(dir / "adapter"));
  EXPECT_FALSE(is_lora_adapter(dir.path()));

  const auto config = read_json(dir / "adapter" / "adapter_config.json");
  EXPECT_EQ(config["peft_type"], "LORA");
  EXPECT_EQ(config["task_type"], "CAUSAL_LM");
  EXPECT_EQ(config["r"], 2);
  EXPECT_EQ(config["lora_alpha"], 8.0);
  EXPECT_EQ(config["lora_dropout"], 0.0);
  EXPECT_EQ(config["bias"], "none");
  EXPECT_EQ(config["base_model_name_or_path"], "/models/base");
  EXPECT_EQ(config["target_modules"], "(.*\\.)?language_model\\..*\\.(q_proj|v_proj)");
  EXPECT_EQ(config["modules_to_save"], nlohmann::json::array({"multi_modal_projector"}));
  const SafetensorsFile weights(dir / "adapter" / "adapter_model.safetensors");
  EXPECT_EQ(weights.tensors().size(), 8u + 4u);  // 4 adapted layers x (A, B) + the projector's 4 tensors
  EXPECT_EQ(weights.metadata().at("format"), "pt");
  const TensorInfo* a = weights.find("base_model.model.language_model.model.layers.1.self_attn.v_proj.lora_A.weight");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->shape, (std::vector<int64_t>{2, 16}));
  EXPECT_NE(weights.find("base_model.model.multi_modal_projector.linear_2.bias"), nullptr);

  auto fresh = base_model();
  EXPECT_FALSE(torch::allclose(logits(fresh), adapted));
  const LoraConfig loaded = load_lora_adapter(dir / "adapter", fresh);
  EXPECT_EQ(loaded.rank, 2);
  EXPECT_DOUBLE_EQ(loaded.alpha, 8);
  EXPECT_EQ(loaded.targets, (std::vector<std::string>{"q_proj", "v_proj"}));
  EXPECT_EQ(loaded.scope, "language_model");
  EXPECT_TRUE(torch::equal(logits(fresh), adapted));

  // Saving again replaces the folder.
  save_lora_adapter(dir / "adapter", model, c, "/models/base");
  EXPECT_TRUE(is_lora_adapter(dir / "adapter"));
}

// Rewrites an adapter's tensors (renamed, dropped or reshaped) into a new folder.
void rewrite_adapter(const fs::path& from, const fs::path& to,
                     const std::function<bool(std::string&, std::vector<int64_t>&)>& edit, const std::string& config_text = "") {
  fs::create_directories(to);
  const SafetensorsFile file(from / "adapter_model.safetensors");
  std::vector<std::vector<float>> data;
  std::vector<TensorToWrite> tensors;
  for (const auto& info : file.tensors()) {
    std::string name = info.name;
    std::vector<int64_t> shape = info.shape;
    if (!edit(name, shape)) continue;
    int64_t n = 1;
    for (auto d : shape) n *= d;
    data.emplace_back(static_cast<std::size_t>(n), 0.5f);
    tensors.push_back({name, Dtype::F32, shape, data.back().data(), data.back().size() * sizeof(float)});
  }
  write_safetensors(to / "adapter_model.safetensors", tensors);
  test::write_text(to / "adapter_config.json", config_text.empty() ? read_file(from / "adapter_config.json") : config_text);
}

TEST(Lora, NewerTransformersNamesLoad) {
  test::TempDir dir("lora-names");
  auto model = base_model();
  apply_lora(model, config_qv());
  freeze_all_but_lora(model, false);
  save_lora_adapter(dir / "a", model, config_qv(), "base");
  rewrite_adapter(dir / "a", dir / "b", [](std::string& name, std::vector<int64_t>&) {
    const std::string old = "base_model.model.language_model.model.";
    if (name.rfind(old, 0) == 0) name = "base_model.model.model.language_model." + name.substr(old.size());
    return true;
  });
  auto fresh = base_model();
  EXPECT_EQ(load_lora_adapter(dir / "b", fresh).rank, 2);
  const auto params = fresh->named_parameters();
  EXPECT_EQ(params["language_model.model.layers.0.self_attn.q_proj.lora_B.weight"].sum().item<double>(), 0.5 * 16 * 2);
}

TEST(Lora, BadAdapterFoldersGiveClearErrors) {
  test::TempDir dir("lora-bad");
  auto model = base_model();
  apply_lora(model, config_qv());
  freeze_all_but_lora(model, false);
  save_lora_adapter(dir / "good", model, config_qv(), "base");
  const std::string good_config = read_file(dir / "good" / "adapter_config.json");

  auto expect_error = [&](const fs::path& folder, auto error_type, const std::string& fragment) {
    auto fresh = base_model();
    try {
      load_lora_adapter(folder, fresh);
      ADD_FAILURE() << folder << ": no error";
    } catch (const decltype(error_type)& e) {
      EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
    }
    for (const auto& item : fresh->named_parameters()) EXPECT_EQ(item.key().find("lora_"), std::string::npos) << "model changed";
  };

  expect_error(dir / "missing", IoError(""), "no such folder");
  fs::create_directories(dir / "empty");
  expect_error(dir / "empty", IoError(""), "adapter_config.json is missing");
  fs::create_directories(dir / "no-weights");
  test::write_text(dir / "no-weights" / "adapter_config.json", good_config);
  test::write_text(dir / "no-weights" / "adapter_model.bin", "pickle");
  expect_error(dir / "no-weights", IoError(""), "safe_serialization");

  auto with_config = [&](const std::string& name, const std::string& text) {
    rewrite_adapter(dir / "good", dir / name, [](std::string&, std::vector<int64_t>&) { return true; }, text);
    return dir / name;
  };
  expect_error(with_config("not-json", "{"), FormatError(""), "adapter_config.json");
  auto cfg = nlohmann::json::parse(good_config);
  cfg["peft_type"] = "PREFIX_TUNING";
  expect_error(with_config("prefix", cfg.dump()), FormatError(""), "peft_type");
  cfg = nlohmann::json::parse(good_config);
  cfg["fan_in_fan_out"] = true;
  expect_error(with_config("fan", cfg.dump()), FormatError(""), "fan_in_fan_out");
  cfg = nlohmann::json::parse(good_config);
  cfg["r"] = 3;
  expect_error(with_config("rank", cfg.dump()), FormatError(""), "has shape [2, 16]");
  cfg = nlohmann::json::parse(good_config);
  cfg.erase("lora_alpha");
  expect_error(with_config("alpha", cfg.dump()), FormatError(""), "lora_alpha");
  cfg = nlohmann::json::parse(good_config);
  cfg["modules_to_save"] = {"lm_head"};
  expect_error(with_config("save", cfg.dump()), FormatError(""), "modules_to_save");

  rewrite_adapter(dir / "good", dir / "lonely", [](std::string& name, std::vector<int64_t>&) {
    return name != "base_model.model.language_model.model.layers.0.self_attn.q_proj.lora_B.weight";
  });
  expect_error(dir / "lonely", FormatError(""), "no lora_B partner");
  rewrite_adapter(dir / "good", dir / "unknown", [](std::string& name, std::vector<int64_t>&) {
    const auto at = name.find("q_proj");
    if (at != std::string::npos) name.replace(at, 6, "x_proj");
    return true;
  });
  expect_error(dir / "unknown", FormatError(""), "names no linear layer");
  rewrite_adapter(dir / "good", dir / "prefix-less", [](std::string& name, std::vector<int64_t>&) {
    name = name.substr(std::string("base_model.model.").size());
    return true;
  });
  expect_error(dir / "prefix-less", FormatError(""), "does not start with");
  rewrite_adapter(dir / "good", dir / "extra", [](std::string& name, std::vector<int64_t>&) {
    if (name.find("layers.1.self_attn.q_proj.lora_A") != std::string::npos) name = "base_model.model.language_model.lm_head.weight";
    return true;
  });
  expect_error(dir / "extra", FormatError(""), "neither a lora_A/lora_B weight");
  rewrite_adapter(dir / "good", dir / "none", [](std::string&, std::vector<int64_t>&) { return false; });
  expect_error(dir / "none", FormatError(""), "holds no LoRA weights");

  // Loading onto a model that already carries adapters.
  auto adapted = base_model();
  apply_lora(adapted, config_qv());
  EXPECT_THROW(load_lora_adapter(dir / "good", adapted), ConfigError);
}

TEST(Lora, SavingRefusesTrainedWeightsOutsideAnAdapter) {
  test::TempDir dir("lora-save");
  auto model = base_model();
  EXPECT_THROW(save_lora_adapter(dir / "a", model, config_qv(), "base"), ConfigError);  // no adapters
  apply_lora(model, config_qv());
  freeze_all_but_lora(model, false);
  model->language_model->model->norm->weight.set_requires_grad(true);
  EXPECT_THROW(save_lora_adapter(dir / "a", model, config_qv(), "base"), ConfigError);
  EXPECT_FALSE(fs::exists(dir / "a"));
}

}  // namespace
}  // namespace privprobe
