// The only file of the study that includes libtorch's headers (through train/trainer.h).
#include "study/study_train.h"

#include "train/trainer.h"

namespace privprobe {

StudyTrainOutcome run_study_train(const StudyTrainJob& job) {
  TrainConfig config;
  config.data = job.data;
  config.image_root = job.image_root;
  config.out = job.out;
  config.model_config = job.model_config;
  config.init = job.init;
  config.tokenizer_profiles = job.tokenizer_profiles;
  config.aux_objects = job.aux_objects;
  config.aux_weight = job.aux_weight;
  config.steps = job.steps;
  config.batch_size = job.batch_size;
  config.lr = job.lr;
  config.seed = job.seed;
  config.save_every = job.save_every;
  config.dynamics_every = job.dynamics_every;
  config.augment = job.augment;
  config.wm_per_batch = job.wm_per_batch;
  config.lora.rank = job.lora_rank;
  config.lora.alpha = job.lora_alpha;
  config.lora.dropout = job.lora_dropout;
  if (job.projector_lr > 0) config.projector_lr = job.projector_lr;
  config.warmup_ratio = job.warmup_ratio;
  config.grad_accum = job.grad_accum;
  config.gradient_checkpointing = job.gradient_checkpointing;
  config.device = job.device;
  config.dtype = job.dtype;
  config.freeze = job.freeze;
  config.threads = job.threads;
  config.resume = job.resume;
  config.progress = job.progress;
  const TrainResult result = run_train(config);
  return {result.total_steps, result.last_loss, result.already_complete};
}

}  // namespace privprobe
