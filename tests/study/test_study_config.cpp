// The study's TOML config: the embedded default is configs/default.toml, every key is documented,
// and bad files fail with a ConfigError naming the file and the key.
#include <gtest/gtest.h>

#include <string>

#include <toml++/toml.h>

#include "study/study_config.h"
#include "support/test_support.h"
#include "util/atomic_file.h"
#include "util/error.h"

namespace fs = std::filesystem;
using privprobe::ConfigError;
using privprobe::StudyConfig;
using privprobe::test::TempDir;
using privprobe::test::write_text;

namespace {

const fs::path kSourceDir = PRIVPROBE_SOURCE_DIR;

// The ConfigError message of loading `text` as a user config (fails the test when none is thrown).
std::string load_error(const TempDir& dir, const std::string& text, bool quick = false) {
  const fs::path file = dir / "bad.toml";
  write_text(file, text);
  try {
    privprobe::load_study_config(file, quick);
  } catch (const ConfigError& e) {
    return e.what();
  }
  ADD_FAILURE() << "no ConfigError for:\n" << text;
  return {};
}

}  // namespace

TEST(StudyConfig, EmbeddedDefaultIsConfigsDefaultToml) {
  // A stale build (the file changed, the binary not rebuilt) fails here.
  EXPECT_EQ(privprobe::read_file(kSourceDir / "configs" / "default.toml"), std::string(privprobe::kDefaultStudyToml));
}

TEST(StudyConfig, EmbeddedReadingPresetIsConfigsReadingToml) {
  EXPECT_EQ(privprobe::read_file(kSourceDir / "configs" / "reading.toml"), std::string(privprobe::kReadingStudyToml));
  EXPECT_EQ(privprobe::study_preset_names(), (std::vector<std::string>{"reading"}));
}

// The reading preset lays its keys over the default; a user's file and --quick go over it in turn.
TEST(StudyConfig, ReadingPresetLiesBetweenTheDefaultAndTheFile) {
  TempDir dir("study-config");
  const StudyConfig reading = privprobe::load_study_config({}, false, "reading");
  EXPECT_EQ(reading.study.style, "text");
  EXPECT_EQ(reading.model.config, "tiny-reading");  // a built-in name, not made a path
  EXPECT_TRUE(reading.pretrain.character_labels);
  EXPECT_FALSE(reading.watermark.field_names);
  EXPECT_EQ(reading.watermark.placement, "top-left");
  EXPECT_EQ(reading.watermark.fields, (std::vector<std::string>{"username"}));
  EXPECT_EQ(reading.pretrain.steps, 2500);
  EXPECT_EQ(reading.finetune.steps, privprobe::default_study_config(false).finetune.steps);  // untouched keys stay

  write_text(dir / "mine.toml", "[pretrain]\nsteps = 40\n");
  const StudyConfig mine = privprobe::load_study_config(dir / "mine.toml", false, "reading");
  EXPECT_EQ(mine.pretrain.steps, 40);
  EXPECT_TRUE(mine.pretrain.character_labels);
  const StudyConfig quick = privprobe::load_study_config({}, true, "reading");
  EXPECT_EQ(quick.pretrain.steps, privprobe::default_study_config(true).pretrain.steps);
  EXPECT_EQ(quick.study.style, "text");

  try {
    privprobe::load_study_config({}, false, "writing");
    ADD_FAILURE() << "an unknown preset was accepted";
  } catch (const ConfigError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("--preset"), std::string::npos) << message;
    EXPECT_NE(message.find("writing"), std::string::npos) << message;
    EXPECT_NE(message.find("reading"), std::string::npos) << message;
  }
}

TEST(StudyConfig, DefaultFileSetsEveryKey) {
  const toml::table table = toml::parse(privprobe::kDefaultStudyToml);
  for (const std::string& key : privprobe::study_config_keys()) {
    EXPECT_TRUE(table.at_path(key)) << key << " is missing from configs/default.toml";
  }
}

TEST(StudyConfig, EveryKeyIsDocumented) {
  const std::string docs = privprobe::read_file(kSourceDir / "docs" / "study.md");
  for (const std::string& key : privprobe::study_config_keys()) {
    EXPECT_NE(docs.find("`" + key + "`"), std::string::npos) << key << " is not documented in docs/study.md";
  }
}

TEST(StudyConfig, DefaultValues) {
  const StudyConfig c = privprobe::default_study_config(false);
  EXPECT_EQ(c.study.style, "identicon");
  EXPECT_EQ(c.study.rates, (std::vector<double>{0.0, 0.5, 1.0}));
  EXPECT_GE(c.study.seeds.size(), 2u);
  EXPECT_EQ(c.model.config, "tiny");
  EXPECT_TRUE(c.synthetic());
  EXPECT_TRUE(c.pretrains());
  EXPECT_TRUE(c.arms.control);
  EXPECT_NO_THROW(privprobe::validate_study_config(c, "default"));

  const StudyConfig quick = privprobe::default_study_config(true);
  EXPECT_LT(quick.album.pretrain, c.album.pretrain);
  EXPECT_LT(quick.pretrain.steps, c.pretrain.steps);
  EXPECT_EQ(quick.study.seeds.size(), 1u);
  EXPECT_EQ(quick.study.rates, c.study.rates);  // quick keeps what it does not name
  EXPECT_NO_THROW(privprobe::validate_study_config(quick, "quick"));
}

TEST(StudyConfig, ResolvedTomlReadsBackToTheSameConfig) {
  const StudyConfig c = privprobe::default_study_config(false);
  const std::string text = privprobe::study_config_to_toml(c);
  StudyConfig back;
  privprobe::overlay_study_toml(back, text, "study.toml", {}, false);
  EXPECT_EQ(privprobe::study_config_to_json(back), privprobe::study_config_to_json(c));
  EXPECT_EQ(privprobe::study_config_to_toml(back), text);
}

TEST(StudyConfig, UserFileOverlaysOnlyWhatItNames) {
  TempDir dir("study-config");
  write_text(dir / "mine.toml", "[album]\npretrain = 500\n[study]\nrates = [0, 0.25, 1]\n");
  const StudyConfig c = privprobe::load_study_config(dir / "mine.toml", false);
  EXPECT_EQ(c.album.pretrain, 500);
  EXPECT_EQ(c.study.rates, (std::vector<double>{0.0, 0.25, 1.0}));  // integers accepted as numbers
  EXPECT_EQ(c.album.finetune, privprobe::default_study_config(false).album.finetune);
}

TEST(StudyConfig, QuickOverridesComeLastAndUserQuickWins) {
  TempDir dir("study-config");
  write_text(dir / "mine.toml", "[album]\npretrain = 5000\nfinetune = 700\n[quick.album]\nfinetune = 50\n");
  const StudyConfig full = privprobe::load_study_config(dir / "mine.toml", false);
  EXPECT_EQ(full.album.pretrain, 5000);
  EXPECT_EQ(full.album.finetune, 700);
  const StudyConfig quick = privprobe::load_study_config(dir / "mine.toml", true);
  EXPECT_EQ(quick.album.pretrain, privprobe::default_study_config(true).album.pretrain);
  EXPECT_EQ(quick.album.finetune, 50);
}

TEST(StudyConfig, RelativePathsAreTakenFromTheConfigFolder) {
  TempDir dir("study-config");
  write_text(dir / "sub" / "mine.toml", "[profiles]\nu1 = \"sets/u1.jsonl\"\n[model]\nconfig = \"tiny\"\n");
  const StudyConfig c = privprobe::load_study_config(dir / "sub" / "mine.toml", false);
  EXPECT_EQ(fs::path(c.profiles.u1), (fs::absolute(dir / "sub") / "sets" / "u1.jsonl").lexically_normal());
  EXPECT_EQ(c.model.config, "tiny");  // a built-in name is not a path
}

TEST(StudyConfig, UnknownKeyNamesFileAndKey) {
  TempDir dir("study-config");
  const std::string message = load_error(dir, "[album]\npictures = 3\n");
  EXPECT_NE(message.find("bad.toml"), std::string::npos) << message;
  EXPECT_NE(message.find("album.pictures"), std::string::npos) << message;
  EXPECT_NE(message.find("pretrain"), std::string::npos) << message;  // the hint lists the section's keys
}

TEST(StudyConfig, UnknownSectionAndTopLevelKey) {
  TempDir dir("study-config");
  EXPECT_NE(load_error(dir, "[albums]\npretrain = 3\n").find("[albums]"), std::string::npos);
  EXPECT_NE(load_error(dir, "seed = 3\n").find("seed"), std::string::npos);
  EXPECT_NE(load_error(dir, "[quick.album]\nfoo = 1\n").find("quick.album.foo"), std::string::npos);
  EXPECT_NE(load_error(dir, "[quick]\nseeds = [1]\n").find("quick.seeds"), std::string::npos);
}

TEST(StudyConfig, WrongTypeNamesKeyAndType) {
  TempDir dir("study-config");
  std::string message = load_error(dir, "[album]\npretrain = \"many\"\n");
  EXPECT_NE(message.find("album.pretrain"), std::string::npos) << message;
  EXPECT_NE(message.find("integer"), std::string::npos) << message;
  message = load_error(dir, "[album]\npretrain = 2.5\n");
  EXPECT_NE(message.find("album.pretrain"), std::string::npos) << message;
  message = load_error(dir, "[arms]\ncontrol = 1\n");
  EXPECT_NE(message.find("arms.control"), std::string::npos) << message;
  message = load_error(dir, "[study]\nseeds = [0, \"one\"]\n");
  EXPECT_NE(message.find("study.seeds"), std::string::npos) << message;
  message = load_error(dir, "[study]\nseed = -1\n");
  EXPECT_NE(message.find("study.seed"), std::string::npos) << message;
  message = load_error(dir, "[study]\nrates = 0.5\n");
  EXPECT_NE(message.find("list of numbers"), std::string::npos) << message;
}

TEST(StudyConfig, BadValuesNameTheKey) {
  TempDir dir("study-config");
  EXPECT_NE(load_error(dir, "[study]\nrates = [0.5, 1.5]\n").find("study.rates"), std::string::npos);
  EXPECT_NE(load_error(dir, "[study]\nrates = [0.5, 0.50]\n").find("twice"), std::string::npos);
  EXPECT_NE(load_error(dir, "[study]\nrates = []\n").find("study.rates"), std::string::npos);
  EXPECT_NE(load_error(dir, "[study]\nrates = [-0.1]\n").find("study.rates"), std::string::npos);
  EXPECT_NE(load_error(dir, "[study]\nseeds = [1, 1]\n").find("study.seeds"), std::string::npos);
  EXPECT_NE(load_error(dir, "[study]\nstyle = \"comic\"\n").find("study.style"), std::string::npos);
  EXPECT_NE(load_error(dir, "[album]\nformat = \"gif\"\n").find("album.format"), std::string::npos);
  EXPECT_NE(load_error(dir, "[finetune]\nsteps = 0\n").find("finetune.steps"), std::string::npos);
  EXPECT_NE(load_error(dir, "[finetune]\nfreeze = [\"eyes\"]\n").find("finetune.freeze"), std::string::npos);
  EXPECT_NE(load_error(dir, "[arms]\ncontrol_share = 0\n").find("arms.control_share"), std::string::npos);
  EXPECT_NE(load_error(dir, "[probe]\nposition = \"first\"\n").find("probe.position"), std::string::npos);
  EXPECT_NE(load_error(dir, "[probe]\nfolds = 1\n").find("probe.folds"), std::string::npos);
  EXPECT_NE(load_error(dir, "[watermark]\nopacity = 1.5\n").find("watermark.opacity"), std::string::npos);
  EXPECT_NE(load_error(dir, "[study]\ndevice = \"gpu\"\n").find("study.device"), std::string::npos);
  EXPECT_NE(load_error(dir, "[study]\ndevice = \"cuda:x\"\n").find("study.device"), std::string::npos);
  EXPECT_NE(load_error(dir, "[study]\ndtype = \"f16\"\n").find("study.dtype"), std::string::npos);
  EXPECT_NE(load_error(dir, "[finetune]\nlora_rank = -1\n").find("finetune.lora_rank"), std::string::npos);
  EXPECT_NE(load_error(dir, "[finetune]\nlora_dropout = 1.0\n").find("finetune.lora_dropout"), std::string::npos);
  EXPECT_NE(load_error(dir, "[finetune]\ngrad_accum = 0\n").find("finetune.grad_accum"), std::string::npos);
  EXPECT_NE(load_error(dir, "[finetune]\nwarmup_ratio = 2\n").find("finetune.warmup_ratio"), std::string::npos);
}

TEST(StudyConfig, CrossKeyChecks) {
  TempDir dir("study-config");
  EXPECT_NE(load_error(dir, "[data]\nllava_json = \"a.json\"\n").find("data.image_root"), std::string::npos);
  EXPECT_NE(load_error(dir, "[data]\nllava_json = \"a.json\"\nimage_root = \"img\"\n").find("data.heldout_json"),
            std::string::npos);
  EXPECT_NE(load_error(dir, "[data]\nllava_json = \"a.json\"\nimage_root = \"i\"\nheldout_json = \"h.json\"\n")
                .find("data.pretrain_json"),
            std::string::npos);
  EXPECT_NE(load_error(dir, "[data]\nimage_root = \"img\"\n").find("data.llava_json"), std::string::npos);
  EXPECT_NE(load_error(dir, "[profiles]\nu2 = \"u2.jsonl\"\n").find("profiles.u2"), std::string::npos);
  EXPECT_NE(load_error(dir, "[arms]\ncontrol_seeds = 3\n").find("arms.control_seeds"), std::string::npos);
  EXPECT_NE(load_error(dir, "[arms]\nwm_per_batch = 99\n").find("arms.wm_per_batch"), std::string::npos);
  EXPECT_NE(load_error(dir, "[probe]\nimages = 100000\n").find("probe.images"), std::string::npos);
  EXPECT_NE(load_error(dir, "[pretrain]\nidenticon_labels = true\n[study]\nstyle = \"text\"\n").find("pretrain.identicon_labels"),
            std::string::npos);
  EXPECT_NE(load_error(dir, "[pretrain]\nidenticon_labels = true\nperception_rate = 0.0\nperception_share = 0.0\n")
                .find("pretrain.identicon_labels"),
            std::string::npos);
  EXPECT_NE(load_error(dir, "[pretrain]\ncharacter_labels = true\n").find("pretrain.character_labels"),
            std::string::npos);  // the default draws identicons
  EXPECT_NE(load_error(dir, "[study]\nstyle = \"text\"\n[pretrain]\ncharacter_labels = true\nperception_rate = 0.0\n"
                            "perception_share = 0.0\n")
                .find("pretrain.character_labels"),
            std::string::npos);
  EXPECT_NE(load_error(dir, "[watermark]\nfield_names = \"no\"\n").find("watermark.field_names"), std::string::npos);
}

TEST(StudyConfig, NotTomlNamesTheLine) {
  TempDir dir("study-config");
  const std::string message = load_error(dir, "[study]\nseed = 1\n[album\n");
  EXPECT_NE(message.find("bad.toml"), std::string::npos) << message;
  EXPECT_NE(message.find("line 3"), std::string::npos) << message;
}

TEST(StudyConfig, MissingFileIsAnIoError) {
  TempDir dir("study-config");
  EXPECT_THROW(privprobe::load_study_config(dir / "absent.toml", false), privprobe::IoError);
}

TEST(StudyConfig, RateArmNames) {
  EXPECT_EQ(privprobe::rate_arm_name(0.0), "r0");
  EXPECT_EQ(privprobe::rate_arm_name(0.5), "r0.5");
  EXPECT_EQ(privprobe::rate_arm_name(1.0), "r1");
  EXPECT_EQ(privprobe::rate_arm_name(0.25), "r0.25");
}
