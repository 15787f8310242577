#include "image/identicon.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <string>

#include "util/error.h"
#include "util/rng.h"
#include "util/sha256.h"

namespace privprobe {
namespace {

constexpr int kMinCellPx = 8;
constexpr int kMaxCellPx = 256;
constexpr int kMaxGrid = 32;
constexpr std::array<std::uint8_t, 3> kBackground = {240, 240, 240};

void validate(const IdenticonStyle& style) {
  if (style.grid < 2 || style.grid > kMaxGrid) {
    throw ConfigError(error_message("identicon", "grid " + std::to_string(style.grid) + " is outside 2.." +
                                                     std::to_string(kMaxGrid)));
  }
  if (style.cell_px < kMinCellPx || style.cell_px > kMaxCellPx) {
    throw ConfigError(error_message("identicon", "cell size " + std::to_string(style.cell_px) + " px is outside " +
                                                     std::to_string(kMinCellPx) + ".." + std::to_string(kMaxCellPx),
                                    "cells smaller than 8 px are hard for a small vision tower to see"));
  }
  if (!(style.opacity >= 0.0 && style.opacity <= 1.0)) {
    throw ConfigError(error_message("identicon", "opacity must be within [0, 1]"));
  }
}

// HSL (h in degrees, s and l in [0, 1]) to 8-bit RGB.
std::array<std::uint8_t, 3> hsl_to_rgb(double h, double s, double l) {
  const double c = (1.0 - std::fabs(2.0 * l - 1.0)) * s;
  const double hp = h / 60.0;
  const double x = c * (1.0 - std::fabs(std::fmod(hp, 2.0) - 1.0));
  double r = 0, g = 0, b = 0;
  if (hp < 1) r = c, g = x;
  else if (hp < 2) r = x, g = c;
  else if (hp < 3) g = c, b = x;
  else if (hp < 4) g = x, b = c;
  else if (hp < 5) r = x, b = c;
  else r = c, b = x;
  const double m = l - c / 2.0;
  auto to8 = [m](double v) { return static_cast<std::uint8_t>(std::clamp(std::lround((v + m) * 255.0), 0L, 255L)); };
  return {to8(r), to8(g), to8(b)};
}

// The key's SHA-256 seeds the generator: any change to the key changes everything.
Rng key_generator(std::string_view key) {
  const std::string digest = sha256_hex(key);
  return Rng(std::stoull(digest.substr(0, 16), nullptr, 16));
}

// The block pattern, the generator's first draws (the colours come after it).
std::vector<std::uint8_t> draw_cells(Rng& rng, int grid) {
  const int half = (grid + 1) / 2;  // columns drawn at random; the rest mirror them
  std::vector<std::uint8_t> on(static_cast<std::size_t>(grid) * grid, 0);
  bool any = false;
  for (int row = 0; row < grid; ++row) {
    for (int col = 0; col < half; ++col) {
      const bool bit = rng.bernoulli(0.5);
      on[static_cast<std::size_t>(row) * grid + col] = bit;
      on[static_cast<std::size_t>(row) * grid + (grid - 1 - col)] = bit;
      any = any || bit;
    }
  }
  if (!any) {  // an empty picture would carry nothing: fill the middle column instead
    for (int row = 0; row < grid; ++row) on[static_cast<std::size_t>(row) * grid + grid / 2] = 1;
  }
  return on;
}

}  // namespace

std::vector<std::uint8_t> identicon_cells(std::string_view key, int grid) {
  IdenticonStyle style;
  style.grid = grid;
  validate(style);
  Rng rng = key_generator(key);
  return draw_cells(rng, grid);
}

Overlay render_identicon(std::string_view key, const IdenticonStyle& style) {
  validate(style);
  const int grid = style.grid;
  Rng rng = key_generator(key);
  const std::vector<std::uint8_t> on = draw_cells(rng, grid);
  // Hues from the teal-cyan band only: the album's shapes are red, orange, yellow, green, blue and
  // purple, and a profile picture in one of those colours would be confused with a shape.
  const double hue = rng.uniform(172.0, 192.0);
  const double saturation = rng.uniform(0.55, 0.8);
  const double lightness = rng.uniform(0.4, 0.55);
  const std::array<std::uint8_t, 3> foreground = hsl_to_rgb(hue, saturation, lightness);
  const auto alpha = static_cast<std::uint8_t>(std::lround(255.0 * style.opacity));

  Overlay out;
  out.width = out.height = grid * style.cell_px;
  out.rgba.assign(static_cast<std::size_t>(out.width) * out.height * 4, 0);
  for (int y = 0; y < out.height; ++y) {
    for (int x = 0; x < out.width; ++x) {
      const bool cell_on = on[static_cast<std::size_t>(y / style.cell_px) * grid + x / style.cell_px] != 0;
      if (!cell_on && !style.background) continue;
      const std::array<std::uint8_t, 3>& colour = cell_on ? foreground : kBackground;
      std::uint8_t* px = out.pixel(x, y);
      px[0] = colour[0];
      px[1] = colour[1];
      px[2] = colour[2];
      px[3] = alpha;
    }
  }
  return out;
}

}  // namespace privprobe
