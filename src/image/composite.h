// Alpha-compositing an overlay onto a decoded image in place, for every pixel layout OpenCV
// decodes: 8- or 16-bit, 1 (gray), 3 (BGR) or 4 (BGRA) channels. Pixels outside the overlay's
// footprint are never written. Gray images receive the overlay's luma.
#pragma once

#include <opencv2/core.hpp>

#include "image/overlay.h"

namespace privprobe {

// Composites `overlay` with its top-left at (x, y); parts outside the image are clipped.
// Returns the box actually touched (clipped to the image).
Box composite_overlay(cv::Mat& image, const Overlay& overlay, int x, int y);

}  // namespace privprobe
