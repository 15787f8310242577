// Labels that teach the base's vision tower to read profile pictures. The per-patch object loss
// of pretraining (train/aux_objects.h) names the object under each patch; the pictures U0 leaves
// on the pretraining images were background to it, so the tower learnt to look through them, and
// the study's perception check stayed near chance. Here every identicon cell becomes an object of
// its own, "identicon_ink" or "identicon_blank", so the loss asks the tower for the block pattern
// that tells one profile's picture from another's.
#pragma once

#include <cstddef>
#include <filesystem>

namespace privprobe {

struct IdenticonLabelCounts {
  std::size_t images = 0;  // images whose picture was labelled
  std::size_t cells = 0;   // cell objects added
};

// Writes `out`: the album's objects.json with the two colours added and, for each row of
// embed_folder/manifest.jsonl that drew an identicon (not clipped), one square per cell of the
// profile's pattern (looked up by id in `profiles`) at the picture's place, after the image's own
// objects so that they label the patches under the picture. Throws DataError / FormatError naming
// the file (a manifest row naming a profile the file lacks, a picture whose size is not whole cells).
IdenticonLabelCounts write_identicon_objects(const std::filesystem::path& objects,
                                             const std::filesystem::path& embed_folder,
                                             const std::filesystem::path& profiles, const std::filesystem::path& out);

}  // namespace privprobe
