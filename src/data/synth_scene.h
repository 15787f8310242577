// Scenes of the synthetic album: which shapes, colours, sizes and places (sampling), and the
// picture of a scene (rendering). Geometry, in pixel coordinates with the box covering
// [x, x+w) x [y, y+h):
//   circle    a disc filling its square box
//   square    the box itself
//   triangle  apex at the middle of the top edge, base along the bottom edge (h ~ 0.87 w)
// so the shape and the box determine each object's mask.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "util/rng.h"

namespace privprobe {

// Shape and colour vocabularies, in a fixed order (indices are stored in SceneObject).
const std::vector<std::string>& synth_shape_names();  // circle, square, triangle
const std::vector<std::string>& synth_color_names();  // red, green, blue, yellow, purple, orange
// The nominal RGB of each colour (objects are drawn within a small jitter of it).
std::array<std::uint8_t, 3> synth_color_rgb(int color);

struct SceneObject {
  int shape = 0;  // index into synth_shape_names()
  int color = 0;  // index into synth_color_names()
  int x = 0, y = 0, w = 0, h = 0;  // box in pixels

  // Area of the object's mask in square pixels (not of its box).
  double area() const;
  // Which half of the image the whole box lies in: -1 left, +1 right, 0 across the middle.
  int side(int image_size) const;
};

struct Scene {
  int size = 0;  // square image side
  std::vector<SceneObject> objects;
};

// Side lengths objects are drawn with at a given image size (about 18-40 px at 128).
int synth_min_side(int image_size);
int synth_max_side(int image_size);

// `count` objects with distinct colours, uniformly random shapes and sizes, placed inside the
// image by rejection sampling so that no two boxes overlap or touch. Throws DataError when the
// objects cannot be placed (only for configurations validate() refuses).
Scene sample_scene(Rng& rng, int size, int count);

// The picture (8-bit BGR): a muted smooth gradient with an optional low-contrast stripe or
// checker pattern, the objects drawn anti-aliased, and low-amplitude noise over everything.
cv::Mat render_scene(Rng& rng, const Scene& scene);

}  // namespace privprobe
