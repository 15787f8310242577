#include "data/synth_scene.h"

#include <algorithm>
#include <cmath>

#include <opencv2/imgproc.hpp>

#include "util/error.h"

namespace privprobe {
namespace {

constexpr int kCircle = 0;
constexpr int kTriangle = 2;
constexpr double kTriangleAspect = 0.87;  // height / width, close to equilateral
constexpr double kPi = 3.14159265358979323846;

// Saturated and far apart in hue, so colour names are unambiguous; backgrounds stay desaturated.
constexpr std::array<std::array<std::uint8_t, 3>, 6> kPalette = {{
    {215, 40, 40},    // red
    {40, 165, 60},    // green
    {40, 80, 215},    // blue
    {235, 205, 35},   // yellow
    {140, 55, 175},   // purple
    {240, 130, 25},   // orange
}};

constexpr int kPlacementTries = 200;
constexpr int kSceneTries = 1000;

bool boxes_apart(const SceneObject& a, const SceneObject& b, int gap) {
  return a.x + a.w + gap <= b.x || b.x + b.w + gap <= a.x || a.y + a.h + gap <= b.y || b.y + b.h + gap <= a.y;
}

// Desaturated colour (RGB, 0-255 floats) for backgrounds.
cv::Vec3f muted_color(Rng& rng) {
  const double hue = rng.uniform(0.0, 6.0);
  const double saturation = rng.uniform(0.0, 0.2);
  const double value = rng.uniform(0.35, 0.8);
  const double c = value * saturation;
  const double x = c * (1.0 - std::fabs(std::fmod(hue, 2.0) - 1.0));
  double r = 0, g = 0, b = 0;
  switch (static_cast<int>(hue)) {
    case 0: r = c, g = x; break;
    case 1: r = x, g = c; break;
    case 2: g = c, b = x; break;
    case 3: g = x, b = c; break;
    case 4: r = x, b = c; break;
    default: r = c, b = x; break;
  }
  const double m = value - c;
  return cv::Vec3f(static_cast<float>((r + m) * 255), static_cast<float>((g + m) * 255),
                   static_cast<float>((b + m) * 255));
}

std::uint8_t clamp_byte(float v) { return static_cast<std::uint8_t>(std::clamp(std::lround(v), 0L, 255L)); }

// Gradient between two muted colours along a random direction, plus a luminance pattern.
void draw_background(Rng& rng, cv::Mat& image) {
  const int size = image.rows;
  const cv::Vec3f from = muted_color(rng);
  const cv::Vec3f to = muted_color(rng);
  const double angle = rng.uniform(0.0, 2.0 * kPi);
  const float dx = static_cast<float>(std::cos(angle) / size);
  const float dy = static_cast<float>(std::sin(angle) / size);

  enum { kPlain, kStripes, kChecker } pattern = static_cast<decltype(kPlain)>(rng.below(3));
  const float amplitude = static_cast<float>(rng.uniform(5.0, 12.0));
  const double period = rng.uniform(0.05, 0.18) * size;
  const double pattern_angle = rng.uniform(0.0, kPi);
  const float px = static_cast<float>(std::cos(pattern_angle) * 2.0 * kPi / period);
  const float py = static_cast<float>(std::sin(pattern_angle) * 2.0 * kPi / period);
  const int cell = std::max(2, static_cast<int>(period / 2));

  // sin(px x + py y) = sin(px x) cos(py y) + cos(px x) sin(py y): tables per column and row.
  std::vector<float> sin_x(static_cast<std::size_t>(size)), cos_x(sin_x.size()), sin_y(sin_x.size()), cos_y(sin_x.size());
  for (int i = 0; i < size; ++i) {
    const auto k = static_cast<std::size_t>(i);
    sin_x[k] = std::sin(px * static_cast<float>(i));
    cos_x[k] = std::cos(px * static_cast<float>(i));
    sin_y[k] = std::sin(py * static_cast<float>(i));
    cos_y[k] = std::cos(py * static_cast<float>(i));
  }
  const float half = 0.5f * static_cast<float>(size);
  for (int y = 0; y < size; ++y) {
    auto* row = image.ptr<cv::Vec3b>(y);
    const auto ky = static_cast<std::size_t>(y);
    for (int x = 0; x < size; ++x) {
      const auto kx = static_cast<std::size_t>(x);
      const float t = std::clamp(0.5f + (static_cast<float>(x) - half) * dx + (static_cast<float>(y) - half) * dy, 0.0f, 1.0f);
      float shade = 0.0f;
      if (pattern == kStripes) {
        shade = amplitude * (sin_x[kx] * cos_y[ky] + cos_x[kx] * sin_y[ky]);
      } else if (pattern == kChecker) {
        shade = ((x / cell + y / cell) % 2 == 0) ? amplitude : -amplitude;
      }
      const cv::Vec3f rgb = from * (1.0f - t) + to * t;
      row[x] = cv::Vec3b(clamp_byte(rgb[2] + shade), clamp_byte(rgb[1] + shade), clamp_byte(rgb[0] + shade));
    }
  }
}

void draw_object(Rng& rng, cv::Mat& image, const SceneObject& object) {
  const auto& rgb = kPalette[static_cast<std::size_t>(object.color)];
  auto jitter = [&](std::uint8_t v) { return std::clamp(static_cast<int>(v) + static_cast<int>(rng.range(-10, 10)), 0, 255); };
  const int r = jitter(rgb[0]), g = jitter(rgb[1]), b = jitter(rgb[2]);
  const cv::Scalar color(b, g, r);
  // Sub-pixel coordinates with 4 fractional bits; pixel centres sit at integers, so a box of w
  // pixels spans x .. x+w-1 between centres.
  constexpr int kShift = 4;
  constexpr double kScale = 1 << kShift;
  auto fixed = [&](double v) { return static_cast<int>(std::lround(v * kScale)); };
  const double left = object.x, top = object.y;
  const double right = object.x + object.w - 1, bottom = object.y + object.h - 1;
  if (object.shape == kCircle) {
    const cv::Point centre(fixed((left + right) / 2), fixed((top + bottom) / 2));
    cv::circle(image, centre, fixed((object.w - 1) / 2.0), color, cv::FILLED, cv::LINE_AA, kShift);
  } else if (object.shape == kTriangle) {
    const std::vector<cv::Point> corners = {cv::Point(fixed(left), fixed(bottom)), cv::Point(fixed(right), fixed(bottom)),
                                            cv::Point(fixed((left + right) / 2), fixed(top))};
    cv::fillPoly(image, std::vector<std::vector<cv::Point>>{corners}, color, cv::LINE_AA, kShift);
  } else {
    cv::rectangle(image, cv::Point(object.x, object.y), cv::Point(object.x + object.w - 1, object.y + object.h - 1), color,
                  cv::FILLED);
  }
}

// Uniform noise of +-amplitude per channel; eight bytes of randomness per generator call.
void add_noise(Rng& rng, cv::Mat& image) {
  const int amplitude = static_cast<int>(rng.range(3, 8));
  const int span = 2 * amplitude + 1;
  std::uint64_t bits = 0;
  int left_in_bits = 0;
  for (int y = 0; y < image.rows; ++y) {
    auto* p = image.ptr<std::uint8_t>(y);
    for (int i = 0; i < image.cols * 3; ++i) {
      if (left_in_bits == 0) {
        bits = rng.next_u64();
        left_in_bits = 8;
      }
      const int noise = static_cast<int>(((bits & 0xff) * static_cast<std::uint64_t>(span)) >> 8) - amplitude;
      bits >>= 8;
      --left_in_bits;
      p[i] = static_cast<std::uint8_t>(std::clamp(p[i] + noise, 0, 255));
    }
  }
}

}  // namespace

const std::vector<std::string>& synth_shape_names() {
  static const std::vector<std::string> names = {"circle", "square", "triangle"};
  return names;
}

const std::vector<std::string>& synth_color_names() {
  static const std::vector<std::string> names = {"red", "green", "blue", "yellow", "purple", "orange"};
  return names;
}

std::array<std::uint8_t, 3> synth_color_rgb(int color) { return kPalette.at(static_cast<std::size_t>(color)); }

double SceneObject::area() const {
  if (shape == kCircle) return kPi / 4.0 * w * h;
  if (shape == kTriangle) return 0.5 * w * h;
  return static_cast<double>(w) * h;
}

int SceneObject::side(int image_size) const {
  if (2 * (x + w) <= image_size) return -1;
  if (2 * x >= image_size) return 1;
  return 0;
}

int synth_min_side(int image_size) { return std::max(4, static_cast<int>(std::lround(image_size * 0.14))); }
int synth_max_side(int image_size) { return std::max(synth_min_side(image_size), static_cast<int>(std::lround(image_size * 0.31))); }

Scene sample_scene(Rng& rng, int size, int count) {
  const int colors = static_cast<int>(synth_color_names().size());
  if (count < 1 || count > colors) {
    throw DataError(error_message("synth", "cannot draw " + std::to_string(count) + " objects with distinct colours"));
  }
  const int margin = std::max(1, size / 64);  // keeps objects off the border and apart
  const int min_side = synth_min_side(size);
  const int max_side = synth_max_side(size);
  const int shapes = static_cast<int>(synth_shape_names().size());

  Scene scene;
  scene.size = size;
  for (int attempt = 0; attempt < kSceneTries; ++attempt) {
    std::vector<int> palette(static_cast<std::size_t>(colors));
    for (int c = 0; c < colors; ++c) palette[static_cast<std::size_t>(c)] = c;
    rng.shuffle(palette);
    scene.objects.clear();
    bool placed_all = true;
    for (int k = 0; k < count && placed_all; ++k) {
      SceneObject object;
      object.shape = static_cast<int>(rng.below(static_cast<std::uint64_t>(shapes)));
      object.color = palette[static_cast<std::size_t>(k)];
      object.w = static_cast<int>(rng.range(min_side, max_side));
      object.h = object.shape == kTriangle ? static_cast<int>(std::lround(object.w * kTriangleAspect)) : object.w;
      placed_all = false;
      for (int t = 0; t < kPlacementTries && !placed_all; ++t) {
        object.x = static_cast<int>(rng.range(margin, size - margin - object.w));
        object.y = static_cast<int>(rng.range(margin, size - margin - object.h));
        placed_all = std::all_of(scene.objects.begin(), scene.objects.end(),
                                 [&](const SceneObject& other) { return boxes_apart(object, other, margin); });
      }
      if (placed_all) scene.objects.push_back(object);
    }
    if (placed_all) return scene;
  }
  throw DataError(error_message("synth", "could not place " + std::to_string(count) + " objects in a " +
                                             std::to_string(size) + " px image",
                                "use fewer objects or larger images"));
}

cv::Mat render_scene(Rng& rng, const Scene& scene) {
  cv::Mat image(scene.size, scene.size, CV_8UC3);
  draw_background(rng, image);
  for (const SceneObject& object : scene.objects) draw_object(rng, image, object);
  add_noise(rng, image);
  return image;
}

}  // namespace privprobe
