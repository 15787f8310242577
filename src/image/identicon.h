// A profile's picture: a symmetric block pattern with colours derived deterministically from a
// key (like a default avatar). Private content that a small vision tower can perceive even when
// it cannot read text.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "image/overlay.h"

namespace privprobe {

struct IdenticonStyle {
  int grid = 5;          // cells per side; the left half is mirrored onto the right
  int cell_px = 8;       // pixels per cell, at least 8
  double opacity = 0.5;  // alpha of every pixel
  bool background = true;  // fill off-cells with a light background colour (else transparent)
};

// The same key always gives the same picture; different keys almost always differ.
Overlay render_identicon(std::string_view key, const IdenticonStyle& style);

// The key's block pattern: grid x grid cells, row-major, 1 where render_identicon draws the
// foreground colour. The study labels these cells for the vision tower's per-patch loss.
std::vector<std::uint8_t> identicon_cells(std::string_view key, int grid = IdenticonStyle{}.grid);

}  // namespace privprobe
