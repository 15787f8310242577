#include "study/study_stages.h"

#include <map>
#include <system_error>

#include "data/llava_json.h"
#include "data/synth.h"
#include "embed/embed.h"
#include "infer/ask.h"
#include "infer/eval.h"
#include "infer/extract.h"
#include "probe/probe_output.h"
#include "probeset/probeset.h"
#include "profiles/generate.h"
#include "study/profile_labels.h"
#include "study/study_data.h"
#include "study/results_builder.h"
#include "study/stage_settings.h"
#include "study/study_train.h"
#include "util/atomic_file.h"
#include "util/error.h"
#include "util/json_io.h"
#include "util/log.h"
#include "util/rng.h"

#ifdef PRIVPROBE_WITH_REPORT
#include "report/report.h"
#endif

namespace fs = std::filesystem;
using nlohmann::json;

namespace privprobe {
namespace {

// Seconds per unit on an idle 2-core machine (measured on the default study), for the ETA only.
constexpr double kTrainSecondsPerSample = 0.0105;
constexpr double kInferSecondsPerSample = 0.005;
constexpr double kAskSecondsPerSample = 0.045;

}  // namespace

fs::path study_checkpoint(const StudyContext& context, const ModelPlan& model) {
  if (model.base && !context.config.pretrains()) return context.config.model.checkpoint;
  return context.folder / "models" / model.id / "checkpoint";
}

std::string model_stage(const StudyContext& context, const ModelPlan& model) {
  if (model.base) return context.config.pretrains() ? "pretrain" : "";
  return "finetune:" + model.id;
}

std::vector<Stage> build_study_stages(const StudyContext& ctx) {
  const StudyConfig& c = ctx.config;
  const fs::path& S = ctx.folder;
  const fs::path album_root = c.synthetic() ? S / "data" / "album" : fs::path(c.data.image_root);
  const fs::path profiles_dir = S / "data" / "profiles";
  const fs::path u1 = profiles_dir / "u1.jsonl", u2 = profiles_dir / "u2.jsonl", u0 = profiles_dir / "u0.jsonl";
  const std::int64_t probe_samples = 2 * probe_images(c);
  std::vector<Stage> stages;
  const auto inputs_with = [](std::vector<std::string> inputs, const std::string& extra) {
    if (!extra.empty()) inputs.push_back(extra);
    return inputs;
  };

  // --- data ---
  std::vector<std::string> data_inputs;
  if (c.synthetic()) {
    const std::int64_t total = c.album.pretrain + c.album.finetune + c.album.heldout;
    stages.push_back({"synth",
                      {{"count", total}, {"size", c.album.size}, {"format", c.album.format}, {"seed", c.study.seed}},
                      {},
                      {"data/album"},
                      0.002 * static_cast<double>(total),
                      false,
                      [=](bool) {
                        SynthConfig s;
                        s.out = S / "data" / "album";
                        s.count = static_cast<std::size_t>(total);
                        s.size = c.album.size;
                        s.seed = c.study.seed;
                        s.format = c.album.format;
                        run_synth(s);
                      }});
    data_inputs.push_back("synth");
  }
  std::vector<std::string> split_outputs = {"data/finetune.json", "data/heldout.json"};
  if (c.pretrains()) split_outputs.insert(split_outputs.begin(), "data/pretrain.json");
  stages.push_back({"split",
                    {{"pretrain", c.pretrains() ? c.album.pretrain : 0},
                     {"finetune", c.album.finetune},
                     {"heldout", c.album.heldout},
                     {"seed", c.study.seed},
                     {"llava_json", user_input_fingerprint(c.data.llava_json)},
                     {"heldout_json", user_input_fingerprint(c.data.heldout_json)},
                     {"pretrain_json", user_input_fingerprint(c.data.pretrain_json)},
                     {"image_root", c.data.image_root}},
                    data_inputs,
                    split_outputs,
                    0.5,
                    false,
                    [=](bool) {
                      if (c.synthetic()) {
                        SplitCounts counts{static_cast<std::size_t>(c.pretrains() ? c.album.pretrain : 0),
                                           static_cast<std::size_t>(c.album.finetune),
                                           static_cast<std::size_t>(c.album.heldout)};
                        split_album_rows(S / "data" / "album", counts, c.study.seed, S / "data");
                        return;
                      }
                      write_llava_json(S / "data" / "finetune.json", load_llava_json(c.data.llava_json));
                      write_llava_json(S / "data" / "heldout.json", load_llava_json(c.data.heldout_json));
                      if (c.pretrains()) write_llava_json(S / "data" / "pretrain.json", load_llava_json(c.data.pretrain_json));
                    }});

  stages.push_back({"profiles",
                    {{"count", c.profiles.count},
                     {"seed", c.study.seed},
                     {"u1", user_input_fingerprint(c.profiles.u1)},
                     {"u2", user_input_fingerprint(c.profiles.u2)}},
                    {},
                    {"data/profiles/u1.jsonl", "data/profiles/u2.jsonl", "data/profiles/u0.jsonl"},
                    0.5,
                    false,
                    [=](bool) {
                      fs::create_directories(profiles_dir);
                      const auto generate = [&](const fs::path& out, const char* set, std::vector<fs::path> exclude,
                                                const fs::path& match) {
                        ProfilesConfig p;
                        p.count = static_cast<std::size_t>(c.profiles.count);
                        p.seed = derive_seed(c.study.seed, std::string("study/profiles/") + set);
                        p.out = out;
                        p.exclude = std::move(exclude);
                        p.match = match;
                        p.id_prefix = std::string(set) + "-";
                        run_profiles(p);
                      };
                      if (c.profiles.u1.empty()) {
                        generate(u1, "u1", {}, {});
                      } else {
                        write_file_atomic(u1, read_file(c.profiles.u1));
                      }
                      if (c.profiles.u2.empty()) {
                        generate(u2, "u2", {u1}, u1);  // disjoint from U1, usernames length-matched to it
                      } else {
                        write_file_atomic(u2, read_file(c.profiles.u2));
                      }
                      generate(u0, "u0", {u1, u2}, {});
                    }});

  // --- watermarked fine-tuning data, one folder per rate (and the control) ---
  for (const EmbedPlan& e : ctx.plan.embeds) {
    const fs::path out = S / "data" / "embed" / e.id;
    json settings = {{"rate", e.rate}, {"seed", c.study.seed}, {"watermark", watermark_json(c)}};
    if (e.control) settings["control"] = {{"share", c.arms.control_share}, {"question", c.probe.question}};
    stages.push_back({"embed:" + e.id, settings, {"split", "profiles"}, {"data/embed/" + e.id},
                      0.002 * static_cast<double>(c.album.finetune), true, [=](bool) {
                        EmbedConfig config;
                        config.data = S / "data" / "finetune.json";
                        config.image_root = album_root;
                        config.profiles = u1;
                        config.out = out;
                        config.rate = e.rate;
                        config.seed = c.study.seed;  // the same seed for every arm: r = 0.5 and the control share images
                        config.watermark = watermark_config(c);
                        run_embed(config);
                        // The folder's data file is train.json (docs/study-format.md).
                        commit_rename(out / "finetune.json", out / "train.json");
                        if (e.control) add_username_questions(out, u1, c.arms.control_share, c.study.seed, c.probe.question);
                      }});
  }

  // --- the base model: pretraining data, with U0 profiles to learn to perceive them ---
  const bool perception_task = c.pretrains() && c.pretrain.perception_rate > 0;
  if (perception_task) {
    const fs::path out = S / "data" / "embed_pretrain";
    json settings = {{"rate", c.pretrain.perception_rate},
                     {"share", c.pretrain.perception_share},
                     {"question", c.probe.question},
                     {"seed", c.study.seed},
                     {"watermark", watermark_json(c)}};
    if (c.pretrain.identicon_labels) settings["identicon_labels"] = true;  // absent when off: older caches stay valid
    if (c.pretrain.character_labels) settings["character_labels"] = true;
    stages.push_back({"embed:pretrain",
                      settings,
                      {"split", "profiles"},
                      {"data/embed_pretrain"},
                      0.002 * static_cast<double>(c.album.pretrain),
                      true,
                      [=](bool) {
                        EmbedConfig config;
                        config.data = S / "data" / "pretrain.json";
                        config.image_root = album_root;
                        config.profiles = u0;
                        config.out = out;
                        config.rate = c.pretrain.perception_rate;
                        config.seed = c.study.seed;
                        config.watermark = watermark_config(c);
                        run_embed(config);
                        commit_rename(out / "pretrain.json", out / "train.json");
                        if (c.pretrain.perception_share > 0) {
                          add_username_questions(out, u0, c.pretrain.perception_share, derive_seed(c.study.seed, "pretrain"),
                                                 c.probe.question);
                        }
                        if (c.pretrain.identicon_labels) {
                          const IdenticonLabelCounts labelled =
                              write_identicon_objects(album_root / "objects.json", out, u0, out / "objects.json");
                          spdlog::info("study: {} pretraining pictures labelled cell by cell ({} cells)", labelled.images,
                                       labelled.cells);
                        }
                        if (c.pretrain.character_labels) {
                          const CharacterLabelCounts labelled = write_character_objects(
                              album_root / "objects.json", out, u0, watermark_config(c), out / "objects.json");
                          spdlog::info("study: {} pretraining texts labelled glyph by glyph ({} glyphs, {} characters)",
                                       labelled.images, labelled.glyphs, labelled.characters);
                        }
                      }});
  }
  if (c.pretrains()) {
    StudyTrainJob job = train_job(c, ctx.progress);
    job.data = perception_task ? S / "data" / "embed_pretrain" / "train.json" : S / "data" / "pretrain.json";
    job.image_root = perception_task ? S / "data" / "embed_pretrain" / "images" : album_root;
    job.out = S / "models" / kBaseModel;
    job.model_config = c.model.config;
    job.tokenizer_profiles = {u1, u2, u0};  // every name the study draws tokenizes the same way
    if (c.synthetic()) {
      job.aux_objects = c.pretrain.identicon_labels || c.pretrain.character_labels
                            ? S / "data" / "embed_pretrain" / "objects.json"
                            : S / "data" / "album" / "objects.json";
    }
    job.aux_weight = c.pretrain.aux_weight;
    job.steps = c.pretrain.steps;
    job.batch_size = c.pretrain.batch_size;
    job.lr = c.pretrain.lr;
    job.seed = c.study.seed;
    job.save_every = c.pretrain.save_every;
    job.freeze = std::vector<std::string>{};
    std::vector<std::string> inputs = inputs_with({"split", "profiles"}, c.synthetic() ? "synth" : "");
    if (perception_task) inputs.push_back("embed:pretrain");
    json settings = train_job_settings(job);
    if (c.pretrain.identicon_labels) settings["identicon_labels"] = true;  // absent when off: older caches stay valid
    if (c.pretrain.character_labels) settings["character_labels"] = true;
    stages.push_back({"pretrain", settings, inputs,
                      {"models/base"}, kTrainSecondsPerSample * static_cast<double>(job.steps * job.batch_size), true,
                      [=](bool resume) {
                        StudyTrainJob j = job;
                        j.resume = resume && fs::exists(j.out / "train_config.json");
                        run_study_train(j);
                      }});
  }
  // Fine-tuning stages run just before their model's measurements.
  const ModelPlan& base = ctx.plan.models.front();
  std::map<std::string, Stage> finetune_stages;
  const std::string base_fingerprint = c.pretrains() ? std::string() : user_input_fingerprint(c.model.checkpoint);
  for (const ModelPlan& m : ctx.plan.models) {
    if (m.base) continue;
    const fs::path data_dir = S / "data" / "embed" / m.embed;
    StudyTrainJob job = train_job(c, ctx.progress);
    job.data = data_dir / "train.json";
    job.image_root = data_dir / "images";
    job.out = S / "models" / m.id;
    job.init = study_checkpoint(ctx, base);
    job.steps = c.finetune.steps;
    job.batch_size = c.finetune.batch_size;
    job.lr = c.finetune.lr;
    job.seed = *m.seed;
    job.save_every = c.finetune.save_every;
    job.dynamics_every = c.finetune.dynamics_every;
    job.augment = m.augment;
    job.wm_per_batch = m.wm_per_batch > 0 ? m.wm_per_batch : -1;
    job.lora_rank = m.lora_rank > 0 ? m.lora_rank : c.finetune.lora_rank;
    job.lora_alpha = c.finetune.lora_alpha;
    job.lora_dropout = c.finetune.lora_dropout;
    job.projector_lr = c.finetune.projector_lr;
    job.warmup_ratio = c.finetune.warmup_ratio;
    job.grad_accum = c.finetune.grad_accum;
    job.gradient_checkpointing = c.finetune.gradient_checkpointing;
    job.freeze = c.finetune.freeze;
    json settings = train_job_settings(job);
    settings["base"] = base_fingerprint;
    const double dynamics = c.finetune.dynamics_every > 0 ? 1.0 + 2.0 / static_cast<double>(c.finetune.dynamics_every) : 1.0;
    finetune_stages.emplace(m.id, Stage{"finetune:" + m.id, settings, inputs_with({"embed:" + m.embed}, model_stage(ctx, base)),
                      {"models/" + m.id}, kTrainSecondsPerSample * dynamics * static_cast<double>(job.steps * job.batch_size),
                      true, [=](bool resume) {
                        StudyTrainJob j = job;
                        j.resume = resume && fs::exists(j.out / "train_config.json");
                        run_study_train(j);
                      }});
  }

  // --- probe set ---
  ProbesetConfig u1_probeset;
  u1_probeset.data = S / "data" / "heldout.json";
  u1_probeset.image_root = album_root;
  u1_probeset.seen = u1;
  u1_probeset.unseen = u2;
  u1_probeset.out = S / "probeset";
  u1_probeset.count = static_cast<std::size_t>(c.probe.images);
  u1_probeset.question = c.probe.question;
  u1_probeset.seed = c.study.seed;
  u1_probeset.watermark = watermark_config(c);
  // A guard: no fine-tuning image may enter the probe set.
  u1_probeset.exclude_manifest = S / "data" / "embed" / ctx.plan.embeds.front().id / "manifest.jsonl";
  const bool naming_check = perception_task && c.pretrain.perception_share > 0;
  stages.push_back({"probeset",
                    {{"images", c.probe.images}, {"question", c.probe.question}, {"seed", c.study.seed}, {"watermark", watermark_json(c)}},
                    {"split", "profiles", "embed:" + ctx.plan.embeds.front().id},
                    {"probeset"},
                    0.004 * static_cast<double>(probe_samples),
                    false,
                    [=](bool) { run_probeset(u1_probeset); }});
  const fs::path probeset_file = S / "probeset" / kProbesetFile;
  const fs::path base_profile_folds = S / "probe" / "profile_folds.json";
  const json probe_settings = {{"folds", c.probe.folds},         {"repeats", c.probe.repeats}, {"C", c.probe.C},
                               {"bootstrap", c.probe.bootstrap}, {"seed", c.study.seed},       {"permutations", c.probe.permutations}};

  stages.push_back({"folds", {{"folds", c.probe.folds}, {"repeats", c.probe.repeats}, {"seed", c.study.seed}}, {"probeset"},
                    {"probe/profile_folds.json"}, 0.1, false, [=](bool) {
                      write_profile_folds(probeset_file, base_profile_folds, c.probe.folds, c.probe.repeats, c.study.seed);
                    }});

  // --- measurements, model by model (the base first, so a broken pipeline shows early) ---
  // Two models' profile-grouped probes on the base's folds (fine-tuned vs base, or r0.5 vs r1).
  const auto compare_stage = [&](const ComparisonPlan& cmp) {
    return Stage{"compare:" + cmp.folder, probe_settings, {"extract:" + cmp.base, "extract:" + cmp.tuned, "folds"},
                  {"compare/" + cmp.folder}, 0.003 * static_cast<double>(probe_samples), false, [=](bool) {
                    CompareJob job;
                    job.base = S / "acts" / (cmp.base + ".safetensors");
                    job.tuned = S / "acts" / (cmp.tuned + ".safetensors");
                    job.out = S / "compare" / cmp.folder;
                    job.folds_from = base_profile_folds;
                    job.config = probe_config(c, ProbeGroupBy::kProfile);
                    run_compare_job(job);
                  }};
  };
  for (const ModelPlan& m : ctx.plan.models) {
    const fs::path checkpoint = study_checkpoint(ctx, m);
    const std::string trained = model_stage(ctx, m);
    const std::string acts_rel = "acts/" + m.id + ".safetensors";
    if (!m.base) stages.push_back(finetune_stages.at(m.id));
    json extract_settings = {{"position", c.probe.position}, {"vision", m.base}, {"threads", c.study.threads},
                             {"device", c.study.device}, {"dtype", c.study.dtype}};
    if (m.base && !c.pretrains()) extract_settings["checkpoint"] = base_fingerprint;
    stages.push_back({"extract:" + m.id, extract_settings, inputs_with({"probeset"}, trained),
                      {acts_rel, "acts/" + m.id + ".json"}, kInferSecondsPerSample * static_cast<double>(probe_samples), false,
                      [=](bool) {
                        ExtractConfig e;
                        e.model = checkpoint;
                        e.probeset = probeset_file;
                        e.out = S / acts_rel;
                        e.position = c.probe.position;
                        e.vision = m.base;
                        e.inference = inference_options(c);
                        run_extract(e);
                      }});
    std::vector<std::string> probe_inputs = {"extract:" + m.id, "folds"};
    if (!m.base) probe_inputs.push_back("probe:base");
    stages.push_back({"probe:" + m.id, probe_settings, probe_inputs, {"probe/" + m.id + "/profile", "probe/" + m.id + "/image"},
                      0.004 * static_cast<double>(probe_samples), false, [=](bool) {
                        for (const ProbeGroupBy g : {ProbeGroupBy::kProfile, ProbeGroupBy::kImage}) {
                          ProbeJob job;
                          job.acts = S / acts_rel;
                          job.out = S / "probe" / m.id / probe_group_by_name(g);
                          // Profile-grouped: the study's folds (twins kept together); image-grouped: the base's.
                          if (g == ProbeGroupBy::kProfile) {
                            job.folds_from = base_profile_folds;
                          } else if (!m.base) {
                            job.folds_from = S / "probe" / kBaseModel / "image" / "folds.json";
                          }
                          job.config = probe_config(c, g);
                          run_probe_job(job);
                        }
                      }});
    if (m.base) {
      stages.push_back({"perception", probe_settings, {"extract:base"}, {"acts/base.vision.safetensors", "probe/base.vision/image"},
                        0.002 * static_cast<double>(probe_samples), false, [=](bool) {
                          write_vision_activations(S / acts_rel, S / "acts" / "base.vision.safetensors");
                          ProbeJob job;
                          job.acts = S / "acts" / "base.vision.safetensors";
                          job.out = S / "probe" / "base.vision" / "image";
                          job.config = probe_config(c, ProbeGroupBy::kImage);
                          run_probe_job(job);
                        }});
      // The base's own perception task on new images: U0 (the names it learnt to give) drawn on the
      // held-out images, U2 as their twins; `naming` asks the base for the username.
      if (naming_check) {
        json naming_settings = ask_settings(c);
        naming_settings["folds"] = c.probe.folds;
        naming_settings["repeats"] = c.probe.repeats;
        stages.push_back({"probeset:u0",
                          {{"images", c.probe.images}, {"question", c.probe.question}, {"seed", c.study.seed},
                           {"watermark", watermark_json(c)}},
                          {"split", "profiles"}, {"probeset_u0"}, 0.004 * static_cast<double>(probe_samples), false,
                          [=](bool) {
                            ProbesetConfig p = u1_probeset;
                            p.seen = u0;
                            p.out = S / "probeset_u0";
                            p.exclude_manifest.clear();
                            run_probeset(p);
                          }});
        stages.push_back({"naming", naming_settings, inputs_with({"probeset:u0"}, trained), {"ask/base.u0"},
                          kAskSecondsPerSample * static_cast<double>(probe_samples), false, [=](bool) {
                            AskConfig a = ask_config(c);
                            a.model = checkpoint;
                            a.probeset = S / "probeset_u0" / kProbesetFile;
                            a.out = S / "ask" / "base.u0";
                            a.fold_count = c.probe.folds;
                            a.repeats = c.probe.repeats;
                            run_ask(a);
                          }});
      }
    }
    for (const ComparisonPlan& cmp : ctx.plan.comparisons) {
      if (cmp.tuned != m.id || cmp.base != kBaseModel) continue;
      stages.push_back(compare_stage(cmp));
    }
    stages.push_back({"ask:" + m.id, ask_settings(c), inputs_with({"probeset", "folds"}, trained), {"ask/" + m.id},
                      kAskSecondsPerSample * static_cast<double>(probe_samples), false, [=](bool) {
                        AskConfig a = ask_config(c);
                        a.model = checkpoint;
                        a.probeset = probeset_file;
                        a.out = S / "ask" / m.id;
                        a.folds = base_profile_folds;
                        a.group_by = "profile";
                        run_ask(a);
                      }});
    const std::int64_t eval_items = c.eval.count > 0 ? c.eval.count : c.album.heldout;
    stages.push_back({"eval:" + m.id,
                      {{"count", c.eval.count},
                       {"max_new_tokens", c.eval.max_new_tokens},
                       {"batch_size", c.eval.batch_size},
                       {"threads", c.study.threads}, {"device", c.study.device}, {"dtype", c.study.dtype}},
                      inputs_with({"split"}, trained),
                      {"eval/" + m.id},
                      kInferSecondsPerSample * static_cast<double>(eval_items),
                      false,
                      [=](bool) {
                        EvalConfig e;
                        e.model = checkpoint;
                        e.data = S / "data" / "heldout.json";
                        e.image_root = album_root;
                        e.out = S / "eval" / m.id;
                        e.batch_size = c.eval.batch_size;
                        e.max_new_tokens = c.eval.max_new_tokens;
                        e.count = static_cast<std::size_t>(c.eval.count);
                        e.inference = inference_options(c);
                        run_eval(e);
                      }});
  }
  // Comparisons between two fine-tuned models (r0.5 vs r1), once both exist.
  for (const ComparisonPlan& cmp : ctx.plan.comparisons) {
    if (cmp.base == kBaseModel) continue;
    stages.push_back(compare_stage(cmp));
  }

  // --- results and report ---
  std::vector<std::string> all;
  for (const Stage& s : stages) all.push_back(s.name);
  json results_settings = study_config_to_json(c);
  results_settings["quick"] = ctx.quick;
  stages.push_back({"results", results_settings, all, {"results.json"}, 0.2, false, [ctx](bool) {
                      write_json_atomic(ctx.folder / "results.json", build_study_results(ctx));
                    }});
#ifdef PRIVPROBE_WITH_REPORT
  stages.push_back({"report", json::object(), {"results"}, {"report.html", "figures"}, 10, false, [=](bool) {
                      ReportConfig r;
                      r.study = S;
                      r.progress = ctx.progress;
                      run_report(r);
                    }});
#endif
  return stages;
}

}  // namespace privprobe
