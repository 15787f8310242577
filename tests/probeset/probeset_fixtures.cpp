#include "probeset_fixtures.h"

#include <opencv2/imgproc.hpp>

#include "image/image_file.h"
#include "util/atomic_file.h"

namespace fs = std::filesystem;

namespace privprobe::test {

cv::Mat noise_image(int width, int height, std::uint32_t seed) {
  cv::Mat image(height, width, CV_8UC3);
  cv::RNG rng(seed);
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      const int noise = rng.uniform(0, 40);
      image.at<cv::Vec3b>(y, x) = cv::Vec3b(static_cast<std::uint8_t>((x * 200 / width + noise) % 256),
                                            static_cast<std::uint8_t>((y * 200 / height + noise) % 256),
                                            static_cast<std::uint8_t>((seed * 37 + noise) % 256));
    }
  }
  return image;
}

std::vector<std::string> write_images(const fs::path& folder, int count, int width, int height, const std::string& ext,
                                      std::uint32_t seed) {
  std::vector<std::string> names;
  fs::create_directories(folder);
  for (int i = 0; i < count; ++i) {
    char name[32];
    std::snprintf(name, sizeof name, "img_%02d.%s", i, ext.c_str());
    const fs::path path = folder / name;
    const ImageFormat format = ext == "jpg" ? ImageFormat::kJpeg : ImageFormat::kPng;
    write_file_atomic(path, encode_image(noise_image(width, height, seed + static_cast<std::uint32_t>(i)), format, path));
    names.push_back(name);
  }
  return names;
}

std::vector<Profile> make_profiles(int count, const std::string& prefix, int length, std::int64_t first_user_id) {
  std::vector<Profile> profiles;
  for (int i = 0; i < count; ++i) {
    Profile p;
    p.id = prefix + std::to_string(i);
    p.username = prefix + static_cast<char>('a' + i);
    while (static_cast<int>(p.username.size()) < length) p.username += 'x';
    p.user_id = first_user_id + i;
    p.gender = i % 2 ? "female" : "male";
    p.age = 20 + i;
    p.capture_time = "2023-05-0" + std::to_string(1 + i % 9) + " 12:30:00";
    p.capture_location = "Paris, France";
    profiles.push_back(p);
  }
  return profiles;
}

void write_profile_file(const fs::path& path, const std::vector<Profile>& profiles) { write_profiles(path, profiles); }

ProbesetInputs write_probeset_inputs(const fs::path& dir, int images, int width, int height, bool length_matched,
                                     const std::string& ext) {
  ProbesetInputs in{dir / "held_out", dir / "u1.jsonl", dir / "u2.jsonl"};
  write_images(in.images, images, width, height, ext);
  write_profile_file(in.seen, make_profiles(3, "Seen", 9, 1000000000));
  write_profile_file(in.unseen, make_profiles(3, "Hide", length_matched ? 9 : 12, 2000000000));
  return in;
}

ProbesetConfig probeset_config(const ProbesetInputs& inputs, const fs::path& out) {
  ProbesetConfig c;
  c.images = inputs.images;
  c.seen = inputs.seen;
  c.unseen = inputs.unseen;
  c.out = out;
  c.seed = 5;
  c.jobs = 1;
  c.watermark.font_size = 8;
  return c;
}

}  // namespace privprobe::test
