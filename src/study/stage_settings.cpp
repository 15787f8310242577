#include "study/stage_settings.h"

using nlohmann::json;

namespace privprobe {

WatermarkConfig watermark_config(const StudyConfig& c) {
  WatermarkConfig w;
  w.style = parse_watermark_style(c.study.style);
  w.fields = c.watermark.fields;
  w.field_names = c.watermark.field_names;
  w.opacity = c.watermark.opacity;
  w.font_size = c.watermark.font_size;
  w.identicon_cell = c.watermark.identicon_cell;
  w.placement = parse_watermark_placement(c.watermark.placement);
  return w;
}

json watermark_json(const StudyConfig& c) {
  json w = {{"style", c.study.style},
            {"fields", c.watermark.fields},
            {"opacity", c.watermark.opacity},
            {"font_size", c.watermark.font_size},
            {"identicon_cell", c.watermark.identicon_cell}};
  // Absent when random (the default): studies cached before the key existed stay valid.
  if (c.watermark.placement != "random") w["placement"] = c.watermark.placement;
  if (!c.watermark.field_names) w["field_names"] = false;  // likewise absent when on
  return w;
}

ProbeConfig probe_config(const StudyConfig& c, ProbeGroupBy group_by) {
  ProbeConfig p;
  p.folds = c.probe.folds;
  p.repeats = c.probe.repeats;
  p.C = c.probe.C;
  p.group_by = group_by;
  p.seed = c.study.seed;
  p.bootstrap = c.probe.bootstrap;
  p.permutations = c.probe.permutations;
  return p;
}

StudyTrainJob train_job(const StudyConfig& c, bool progress) {
  StudyTrainJob job;
  job.threads = c.study.threads;
  job.device = c.study.device;
  job.dtype = c.study.dtype;
  job.progress = progress;
  return job;
}

InferenceOptions inference_options(const StudyConfig& c) {
  InferenceOptions o;
  o.threads = c.study.threads;
  o.device = c.study.device;
  o.dtype = c.study.dtype;
  return o;
}

AskConfig ask_config(const StudyConfig& c) {
  AskConfig a;
  a.max_new_tokens = c.ask.max_new_tokens;
  a.batch_size = c.ask.batch_size;
  a.seed = c.study.seed;
  a.inference = inference_options(c);
  return a;
}

json ask_settings(const StudyConfig& c) {
  return {{"max_new_tokens", c.ask.max_new_tokens}, {"batch_size", c.ask.batch_size}, {"seed", c.study.seed},
          {"threads", c.study.threads},           {"device", c.study.device},         {"dtype", c.study.dtype}};
}

json train_job_settings(const StudyTrainJob& j) {
  json profiles = json::array();
  for (const auto& p : j.tokenizer_profiles) profiles.push_back(p.filename().string());
  return {{"model_config", j.model_config},
          {"init", j.init.empty() ? "" : j.init.filename().string()},
          {"tokenizer_profiles", profiles},
          {"aux_objects", !j.aux_objects.empty()},
          {"aux_weight", j.aux_weight},
          {"steps", j.steps},
          {"batch_size", j.batch_size},
          {"lr", j.lr},
          {"seed", j.seed},
          {"dynamics_every", j.dynamics_every},
          {"augment", j.augment},
          {"wm_per_batch", j.wm_per_batch},
          {"lora_rank", j.lora_rank},
          {"lora_alpha", j.lora_alpha},
          {"lora_dropout", j.lora_dropout},
          {"projector_lr", j.projector_lr},
          {"warmup_ratio", j.warmup_ratio},
          {"grad_accum", j.grad_accum},
          {"gradient_checkpointing", j.gradient_checkpointing},
          {"device", j.device},
          {"dtype", j.dtype},
          {"freeze", j.freeze ? json(*j.freeze) : json(nullptr)},
          {"threads", j.threads}};
}

std::int64_t probe_images(const StudyConfig& c) {
  if (c.probe.images > 0) return c.probe.images;
  return c.synthetic() ? c.album.heldout : 500;  // a user's held-out size is unknown until read
}

}  // namespace privprobe
