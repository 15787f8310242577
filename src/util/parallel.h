// A minimal parallel loop over [0, n) on `jobs` threads. Work items are handed out in order, so
// the set of results does not depend on the thread count; callers make each item's output a pure
// function of its index. The first exception thrown by any item is rethrown after all threads stop.
#pragma once

#include <cstddef>
#include <functional>

namespace privprobe {

// jobs <= 0 means the number of hardware threads.
void parallel_for(std::size_t n, int jobs, const std::function<void(std::size_t)>& fn);

int resolve_jobs(int jobs);

}  // namespace privprobe
