#include "train/augment.h"

#include <cmath>
#include <string>

#include <opencv2/imgproc.hpp>

#include "util/error.h"
#include "util/rng.h"

namespace privprobe {
namespace {

// Rotation about the centre with the output canvas grown to the rotated bounding box.
cv::Mat rotate_expanded(const cv::Mat& image, double degrees, int interpolation) {
  if (degrees == 0.0) return image.clone();
  const cv::Point2f centre(static_cast<float>(image.cols) / 2.0f, static_cast<float>(image.rows) / 2.0f);
  cv::Mat m = cv::getRotationMatrix2D(centre, degrees, 1.0);  // 2x3 CV_64F
  const double radians = degrees * M_PI / 180.0;
  const double c = std::abs(std::cos(radians)), s = std::abs(std::sin(radians));
  const int width = static_cast<int>(std::ceil(image.cols * c + image.rows * s - 1e-9));
  const int height = static_cast<int>(std::ceil(image.cols * s + image.rows * c - 1e-9));
  m.at<double>(0, 2) += (width - image.cols) / 2.0;
  m.at<double>(1, 2) += (height - image.rows) / 2.0;
  cv::Mat out;
  cv::warpAffine(image, out, m, cv::Size(width, height), interpolation, cv::BORDER_CONSTANT, cv::Scalar::all(0));
  return out;
}

cv::Mat geometry(const cv::Mat& image, const AugmentParams& params, int interpolation) {
  cv::Mat out = rotate_expanded(image, params.angle_degrees, interpolation);
  if (params.flip) cv::flip(out, out, 1);
  return out;
}

}  // namespace

AugmentParams draw_augment(std::uint64_t seed, std::int64_t step, std::size_t row) {
  Rng rng(derive_seed(seed, "train/augment/" + std::to_string(step) + "/" + std::to_string(row)));
  AugmentParams p;
  p.angle_degrees = rng.uniform(-kAugmentMaxDegrees, kAugmentMaxDegrees);
  p.flip = rng.bernoulli(0.5);
  p.brightness = rng.uniform(kAugmentMinFactor, kAugmentMaxFactor);
  p.contrast = rng.uniform(kAugmentMinFactor, kAugmentMaxFactor);
  return p;
}

cv::Mat to_bgr8(const cv::Mat& image) {
  cv::Mat img = image;
  if (img.depth() == CV_16U) img.convertTo(img, CV_8U, 1.0 / 257.0);
  if (img.depth() != CV_8U) throw DataError("image has an unsupported pixel depth");
  cv::Mat bgr;
  switch (img.channels()) {
    case 1: cv::cvtColor(img, bgr, cv::COLOR_GRAY2BGR); break;
    case 3: bgr = img.clone(); break;
    case 4: cv::cvtColor(img, bgr, cv::COLOR_BGRA2BGR); break;
    default: throw DataError("image has an unsupported number of channels");
  }
  return bgr;
}

cv::Mat augment_image(const cv::Mat& image, const AugmentParams& params) {
  cv::Mat out = geometry(to_bgr8(image), params, cv::INTER_LINEAR);
  out.convertTo(out, CV_8U, params.brightness);  // saturating, as torchvision clamps to [0, 1]
  cv::Mat gray;
  cv::cvtColor(out, gray, cv::COLOR_BGR2GRAY);
  const double mean = cv::mean(gray)[0];
  out.convertTo(out, CV_8U, params.contrast, (1.0 - params.contrast) * mean);
  return out;
}

cv::Mat augment_labels(const cv::Mat& labels, const AugmentParams& params) {
  if (labels.type() != CV_8UC1) throw DataError("label map must be single-channel 8-bit");
  return geometry(labels, params, cv::INTER_NEAREST);
}

}  // namespace privprobe
