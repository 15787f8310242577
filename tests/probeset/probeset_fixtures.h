// Fixtures for the probe-set and inference tests: noisy images, profile files, probe sets.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "probeset/probeset.h"
#include "profiles/profile.h"

namespace privprobe::test {

// Smooth gradients plus noise, BGR 8-bit, deterministic from seed.
cv::Mat noise_image(int width, int height, std::uint32_t seed);

// Writes `count` images named img_00.<ext>, ... ("png" or "jpg") under folder; returns the names.
std::vector<std::string> write_images(const std::filesystem::path& folder, int count, int width, int height,
                                      const std::string& ext = "png", std::uint32_t seed = 1);

// `count` profiles whose usernames are `prefix` + a letter + padding so that, for one `length`,
// every username has exactly that many characters (length-matched sets).
std::vector<Profile> make_profiles(int count, const std::string& prefix, int length, std::int64_t first_user_id);
void write_profile_file(const std::filesystem::path& path, const std::vector<Profile>& profiles);

// A folder with held-out images and U1/U2 files, ready for run_probeset.
struct ProbesetInputs {
  std::filesystem::path images;
  std::filesystem::path seen;
  std::filesystem::path unseen;
};
ProbesetInputs write_probeset_inputs(const std::filesystem::path& dir, int images, int width, int height,
                                     bool length_matched = true, const std::string& ext = "png");

// A config over those inputs (text style, 8 px font, one job).
ProbesetConfig probeset_config(const ProbesetInputs& inputs, const std::filesystem::path& out);

}  // namespace privprobe::test
