// A profile's picture: a symmetric block pattern with colours derived deterministically from a
// key (like a default avatar). Private content that a small vision tower can perceive even when
// it cannot read text.
#pragma once

#include <string_view>

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

}  // namespace privprobe
