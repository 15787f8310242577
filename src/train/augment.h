// On-the-fly image augmentation (`--augment`, the paper's augmentation experiment): rotation by a
// random angle in ±30° with the canvas expanded so no corner is cut off (the new area black, as
// torchvision's RandomRotation(expand=True, fill=0)), a horizontal flip with probability 0.5, then
// brightness and contrast each scaled by a factor in [0.8, 1.2] (brightness first; contrast
// blends with the mean grey level, as torchvision's ColorJitter). It is applied to the image as the
// model sees it — the watermarked one when the row is watermarked — before preprocessing, which
// resizes the expanded canvas to the model's input size.
//
// Every draw is a pure function of (seed, step, row), so a run and its resumed twin, or runs at
// different watermark rates, augment the same row at the same step the same way; the clean source
// of a watermarked row (for the dynamics) gets the identical transform.
#pragma once

#include <cstddef>
#include <cstdint>

#include <opencv2/core.hpp>

namespace privprobe {

inline constexpr double kAugmentMaxDegrees = 30.0;
inline constexpr double kAugmentMinFactor = 0.8;
inline constexpr double kAugmentMaxFactor = 1.2;

struct AugmentParams {
  double angle_degrees = 0;  // counter-clockwise
  bool flip = false;         // horizontal, after the rotation
  double brightness = 1;
  double contrast = 1;
};

AugmentParams draw_augment(std::uint64_t seed, std::int64_t step, std::size_t row);

// Any decoded image (gray, BGR or BGRA; 8- or 16-bit) as 8-bit BGR (alpha dropped, as PIL's
// convert("RGB") which preprocessing applies anyway).
cv::Mat to_bgr8(const cv::Mat& image);

// The augmented picture, 8-bit BGR, on the expanded canvas.
cv::Mat augment_image(const cv::Mat& image, const AugmentParams& params);

// The same geometry applied to a single-channel 8-bit label map (nearest neighbour; the new area
// is 0, background), so per-patch labels follow the picture.
cv::Mat augment_labels(const cv::Mat& labels, const AugmentParams& params);

}  // namespace privprobe
