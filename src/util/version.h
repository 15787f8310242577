#pragma once

namespace privprobe {

const char* version();       // e.g. "0.1.0"
const char* git_revision();  // short hash at configure time, "-dirty" when the tree had changes

}  // namespace privprobe
