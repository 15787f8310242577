// `privprobe train`: pretrain from a config or fine-tune a checkpoint (see src/train/trainer.h).
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "commands.h"
#include "train/trainer.h"

namespace privprobe::cli {

void register_train(CLI::App& app) {
  auto* cmd = app.add_subcommand("train", "Pretrain a model from a config or fine-tune a checkpoint (full or LoRA)");
  auto config = std::make_shared<TrainConfig>();
  auto lr = std::make_shared<double>(0.0);
  auto projector_lr = std::make_shared<double>(0.0);
  auto freeze = std::make_shared<std::string>();
  auto on_error = std::make_shared<std::string>("fail");
  auto lora_targets = std::make_shared<std::vector<std::string>>();

  // I/O
  cmd->add_option("--data", config->data, "LLaVA JSON; rows without an image train as text-only")->required();
  cmd->add_option("--image-root", config->image_root, "Folder the JSON's image paths are relative to")->required();
  cmd->add_option("--out", config->out, "Run folder: checkpoint/, train_log.jsonl, state/ ...")->required();
  auto* model_config = cmd->add_option("--config", config->model_config, "Pretrain: tiny, tiny-reading, bench, or a config.json");
  auto* init = cmd->add_option("--init", config->init, "Fine-tune this checkpoint folder");
  model_config->excludes(init);
  cmd->add_option("--tokenizer", config->tokenizer, "Pretrain: a tokenizer.model (default: train one on the data)");
  cmd->add_option("--tokenizer-profiles", config->tokenizer_profiles,
                  "Pretrain without --tokenizer: profile files whose usernames join the tokenizer corpus (give U1 and U2 alike)")
      ->delimiter(',');
  // schedule
  auto* steps = cmd->add_option("--steps", config->steps, "Optimizer steps");
  auto* epochs = cmd->add_option("--epochs", config->epochs, "Epochs (default 1 when --steps is not given)");
  steps->excludes(epochs);
  cmd->add_option("--batch-size", config->batch_size, "Samples per forward pass")->capture_default_str();
  cmd->add_option("--grad-accum", config->grad_accum, "Forward passes per optimizer step")->capture_default_str();
  auto* lr_option = cmd->add_option("--lr", *lr, "Peak learning rate (default 1e-3 pretraining, 3e-4 fine-tuning)");
  auto* projector_lr_option = cmd->add_option("--projector-lr", *projector_lr, "Learning rate of the projector (default --lr)");
  cmd->add_option("--warmup-ratio", config->warmup_ratio, "Share of steps with linear warmup, then cosine decay")
      ->capture_default_str();
  cmd->add_option("--weight-decay", config->weight_decay, "AdamW weight decay on weight matrices")->capture_default_str();
  cmd->add_option("--clip", config->clip, "Gradient norm clipping (<= 0: off)")->capture_default_str();
  cmd->add_option("--seed", config->seed, "Random seed: model init, data order, augmentation")->capture_default_str();
  cmd->add_option("--save-every", config->save_every, "Save the resumable state every N steps (0: only at the end)")
      ->capture_default_str();
  cmd->add_flag("--resume", config->resume, "Continue the run in --out from its last saved state");
  // data
  cmd->add_option("--manifest", config->manifest,
                  "Embed manifest (default: manifest.jsonl beside --data if present; 'none': no watermark information)");
  cmd->add_option("--source-root", config->source_root,
                  "Folder of the clean source images (default: the input root recorded in embed_config.json)");
  cmd->add_option("--wm-per-batch", config->wm_per_batch, "Exactly K watermarked samples in every batch (-1: random batches)")
      ->capture_default_str();
  cmd->add_flag("--augment", config->augment, "Random rotation (+-30 deg, canvas expanded), flip, brightness and contrast");
  cmd->add_option("--aux-objects", config->aux_objects, "objects.json of the synthetic album: per-patch auxiliary loss");
  cmd->add_option("--aux-weight", config->aux_weight, "Weight of the auxiliary loss")->capture_default_str();
  cmd->add_option("--on-error", *on_error, "Bad data rows: fail (stop) or skip (count, list in train_config.json)")
      ->capture_default_str();
  // model
  cmd->add_option("--freeze", *freeze,
                  "Parts not to train: vision_tower, multi_modal_projector, language_model, or none "
                  "(default: vision_tower when fine-tuning, none when pretraining)");
  cmd->add_option("--lora-rank", config->lora.rank, "LoRA rank (0: full fine-tuning)")->capture_default_str();
  cmd->add_option("--lora-alpha", config->lora.alpha, "LoRA alpha")->capture_default_str();
  cmd->add_option("--lora-dropout", config->lora.dropout, "LoRA dropout")->capture_default_str();
  auto* targets = cmd->add_option("--lora-targets", *lora_targets, "Module names that get adapters (default: all Llama projections)")
                      ->delimiter(',');
  cmd->add_option("--lora-save", config->lora_save, "merged (a full checkpoint) or adapter (PEFT layout)")->capture_default_str();
  // measurement and runtime
  cmd->add_option("--dynamics-every", config->dynamics_every, "Measure the gradient dynamics every K steps (0: off)")
      ->capture_default_str();
  cmd->add_option("--threads", config->threads, "libtorch/BLAS threads (0: the measured best split)")->capture_default_str();
  cmd->add_option("--device", config->device, "cpu, cuda or cuda:N")->capture_default_str();
  cmd->add_option("--dtype", config->dtype,
                  "f32, or bf16: frozen weights in bf16 and bf16 autocast, trained weights float32")
      ->capture_default_str();
  cmd->add_flag("--gradient-checkpointing", config->gradient_checkpointing,
                "Rerun each decoder layer in backward instead of keeping its activations (less memory, one more decoder forward)");

  cmd->callback([=] {
    if (lr_option->count() > 0) config->lr = *lr;
    if (projector_lr_option->count() > 0) config->projector_lr = *projector_lr;
    if (!freeze->empty()) config->freeze = parse_freeze_list(*freeze);
    if (targets->count() > 0) config->lora.targets = *lora_targets;
    config->on_error = parse_on_error(*on_error);
    const TrainResult result = run_train(*config);
    if (result.already_complete) {
      std::printf("train: %s already finished all %lld steps\n", config->out.string().c_str(),
                  static_cast<long long>(result.total_steps));
      return;
    }
    std::printf("train: %lld steps (%lld this run) on %zu rows (%zu watermarked, %zu skipped), final loss %.4f -> %s\n",
                static_cast<long long>(result.total_steps), static_cast<long long>(result.steps_run), result.rows,
                result.watermarked, result.skipped, result.last_loss,
                result.checkpoint.empty() ? "(halted)" : result.checkpoint.string().c_str());
  });
}

}  // namespace privprobe::cli
