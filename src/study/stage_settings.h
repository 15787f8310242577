// How the study's config becomes each stage's own config struct, and the settings that enter a
// stage's cache key. Shared by the stage list (study_stages.cpp); torch-free.
#pragma once

#include <cstdint>

#include <nlohmann/json.hpp>

#include "embed/watermark.h"
#include "infer/ask.h"
#include "infer/inference_options.h"
#include "probe/probe_config.h"
#include "study/study_config.h"
#include "study/study_train.h"

namespace privprobe {

WatermarkConfig watermark_config(const StudyConfig& c);
// The watermark keys that decide an embed stage's output (its cache key).
nlohmann::json watermark_json(const StudyConfig& c);
ProbeConfig probe_config(const StudyConfig& c, ProbeGroupBy group_by);
// A training run with the study's runtime settings (threads, device, dtype, progress).
StudyTrainJob train_job(const StudyConfig& c, bool progress);
InferenceOptions inference_options(const StudyConfig& c);
// A prompt-baseline run with the study's [ask] settings and runtime (the caller sets the paths).
AskConfig ask_config(const StudyConfig& c);
// What decides an ask stage's output (its cache key).
nlohmann::json ask_settings(const StudyConfig& c);
// Everything of a training job that decides its checkpoint (its cache key).
nlohmann::json train_job_settings(const StudyTrainJob& j);
// Base images of the probe set: probe.images, else every held-out image (500 for a user's data,
// whose size is unknown until read).
std::int64_t probe_images(const StudyConfig& c);

}  // namespace privprobe
